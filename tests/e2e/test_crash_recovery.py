"""Crash tests: the nightly run is killed at every step boundary (``os._exit``, no cleanup);
the next run leaves 0 lost and 0 duplicated, checked by ``finlake reconcile``.

The run that crashes is a ``finlake nightly`` process of its own (it must die). What comes
after it, the next nightly runs and ``finlake reconcile``, is the same CLI called in this
process: it finds only what the dead process left on disk, and it skips a Python, Dagster and
Sail start-up (~5 s each) per command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.sandbox_bank.bank import SandboxBank
from core.crashpoints import CRASH_EXIT_CODE, POINTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def finlake(home: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FINLAKE_HOME": str(home), "FINLAKE_SYNC_PAGE_SIZE": "40"}
    env.pop("FINLAKE_CRASH_AT", None)
    if crash_at:
        env["FINLAKE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "finlake.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def linked_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox bank with its items linked (``finlake link-sandbox``), nothing synced yet:
    each crash test starts from its own copy."""
    home = tmp_path_factory.mktemp("crash") / "home"
    SandboxBank.open(home / "sandbox_bank", users=3, history_start=YESTERDAY - timedelta(40),
                     clock=YESTERDAY - timedelta(2))
    linked = finlake(home, "link-sandbox")
    assert linked.returncode == 0, linked.stdout + linked.stderr
    return home


@pytest.mark.parametrize("point", POINTS)
def test_killed_run_recovers_exactly(linked_home: Path, tmp_path: Path, point: str,
                                     monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    home = shutil.copytree(linked_home, tmp_path / "home", symlinks=True)
    first, second = YESTERDAY - timedelta(1), YESTERDAY

    crashed = finlake(home, "nightly", "--date", first.isoformat(), crash_at=point)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stdout + crashed.stderr
    from finlake import cli

    monkeypatch.setenv("FINLAKE_HOME", str(home))  # the same environment as finlake() gives
    monkeypatch.setenv("FINLAKE_SYNC_PAGE_SIZE", "40")
    monkeypatch.delenv("FINLAKE_CRASH_AT", raising=False)
    for day in (first, second):
        assert cli.main(["nightly", "--date", day.isoformat()]) == 0, capsys.readouterr()
    capsys.readouterr()
    rc = cli.main(["reconcile"])
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert rc == 0 and result["truth_rows"] > 50, out
    assert (result["lost"], result["duplicated"], result["phantom"], result["mismatched"]) \
        == (0, 0, 0, 0)
