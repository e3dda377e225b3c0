"""A few generated scenarios with fixed seeds (tests/support/scenarios.py): every invariant holds
after every step. ``bench/soak.py`` runs a thousand and more."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scenario_runs import build_base, run_scenario
from tests.support.scenarios import draw

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SEEDS = (1, 2, 3)


def test_scenarios_are_reproducible_and_cover_every_kind_of_step() -> None:
    assert draw(7) == draw(7) and draw(7) != draw(8)
    kinds = {s.kind for seed in range(200) for s in draw(seed)}
    assert kinds == {"nightly", "replay", "kill", "pair", "sync", "forget", "maintain",
                     "rotate", "faults"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("scenarios") / "base")


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_scenario_holds_every_invariant(base: Path, tmp_path: Path, seed: int) -> None:
    outcome = run_scenario(base, tmp_path, seed, steps=4)
    assert outcome.problems == [], (outcome.steps, outcome.problems)
