"""Exact under concurrency, kills and replays (issue 19's findings, one test each).

A lake with two merged days and two new days to come; writers are real ``finlake``
processes started at the same moment, or killed mid-write (``FINLAKE_CRASH_AT`` ends the
process with ``os._exit``: no clean-up, as ``kill -9``). After each scenario the lake must
reconcile exactly with the sandbox bank's truth, keep no staged leftovers once idle, and no
run may stay "under way" in Dagster's storage or block the next writer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.sandbox_bank.bank import SandboxBank
from core.crashpoints import CRASH_EXIT_CODE
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import ALERTS, BUDGET_PROGRESS, CREDENTIALS, SYNC_JOBS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
D1, D2, D3, D4 = (YESTERDAY - timedelta(days=n) for n in (3, 2, 1, 0))


def finlake_env(home: Path, crash_at: str | None = None) -> dict[str, str]:
    env = {**os.environ, "FINLAKE_HOME": str(home), "FINLAKE_SYNC_PAGE_SIZE": "40"}
    env.pop("FINLAKE_CRASH_AT", None)
    env.pop("FINLAKE_PARTNER_HOST", None)
    if crash_at:
        env["FINLAKE_CRASH_AT"] = crash_at
    return env


def start(home: Path, *args: str, crash_at: str | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "finlake.cli", *args], cwd=ROOT,
                            env=finlake_env(home, crash_at), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def finlake(home: Path, *args: str, crash_at: str | None = None) -> tuple[int, str, str]:
    return finish(start(home, *args, crash_at=crash_at))


def nightly(home: Path, day: date, *extra: str) -> tuple[int, str, str]:
    """A nightly with nothing beside it, in this process."""
    rc, out = here(home, "nightly", "--date", day.isoformat(), *extra)
    return rc, out, ""


def here(home: Path, *args: str) -> tuple[int, str]:
    """``finlake ARGS`` in this process (a check, or a step nothing runs beside): no start-up."""
    from tests.support.scenarios import World

    return World(home, 0).cli(*args)


def reconciled(home: Path) -> dict:
    rc, out = here(home, "reconcile")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["truth_rows"] > 50, result
    assert (result["lost"], result["duplicated"], result["phantom"], result["mismatched"]) \
        == (0, 0, 0, 0), (result, out)
    assert rc == 0
    return result


def staged(home: Path) -> list[str]:
    return Lake(str(home / "lake")).store.list("_staging/")


def under_way(home: Path) -> list[str]:
    """Runs Dagster's storage still calls under way (none may be, once all is idle)."""
    rc, out = here(home, "runs")
    assert rc == 0, out
    return [line for line in out.splitlines()[1:] if "STARTED" in line or "STARTING" in line]


@pytest.fixture(scope="module")
def merged_two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three people's items linked and the days D1, D2 merged; D3 and D4 are new days."""
    home = tmp_path_factory.mktemp("concurrency") / "home"
    SandboxBank.open(home / "sandbox_bank", users=3, history_start=D1 - timedelta(40),
                     clock=D1 - timedelta(1))
    for args in (("link-sandbox",), ("nightly", "--date", D1.isoformat()),
                 ("nightly", "--date", D2.isoformat())):
        rc, out = here(home, *args)
        assert rc == 0, out
    return home


@pytest.fixture
def home(merged_two_days: Path, tmp_path: Path) -> Path:
    return shutil.copytree(merged_two_days, tmp_path / "home", symlinks=True)


def test_two_nightlies_of_new_days_at_once_take_turns_and_stay_exact(home: Path) -> None:
    """Finding 3: one failed with "Failed to commit transaction", left staging behind and
    reconcile at lost 42 / phantom 14; a cursor could go backwards."""
    first, second = start(home, "nightly", "--date", D3.isoformat()), start(
        home, "nightly", "--date", D4.isoformat())
    results = [finish(first), finish(second)]
    for rc, out, err in results:
        assert rc == 0, out + err
    assert any("waiting for a nightly run" in err for _, _, err in results), \
        "neither nightly waited for the other"
    reconciled(home)
    assert staged(home) == []
    assert under_way(home) == []


def test_a_forget_racing_a_nightly_does_not_bring_the_person_back(home: Path) -> None:
    """Finding 2: the nightly re-created the person's sync_jobs rows and the forget could not
    be re-run."""
    lake = Lake(str(home / "lake"))
    person = sorted({c["user_id"] for c in read_rows(lake, CREDENTIALS)})[0]
    forget = start(home, "forget-user", "--yes", person)
    run = start(home, "nightly", "--date", D3.isoformat())
    for rc, out, err in (finish(forget), finish(run)):
        assert rc == 0, out + err
    assert person not in {c["user_id"] for c in read_rows(lake, CREDENTIALS)}
    assert person not in {j["user_id"] for j in read_rows(lake, SYNC_JOBS)}
    rc, err = here(home, "forget-user", "--yes", person)
    assert rc == 2 and f"no user {person!r} in this lake" in err, err  # nothing left of them
    reconciled(home)  # the people who stay are exact
    assert staged(home) == [] and under_way(home) == []


def test_a_nightly_killed_mid_write_blocks_nothing_and_is_cleared(home: Path) -> None:
    """Finding 1: a killed run stayed STARTED for ever and maintain / forget-user refused
    ("a nightly run is writing the lake") with no way out; its staging was never cleaned."""
    rc, out, err = finlake(home, "nightly", "--date", D3.isoformat(),
                           crash_at="merge.after_merge")
    assert rc == CRASH_EXIT_CODE, out + err
    stuck = under_way(home)
    assert len(stuck) == 1 and "nightly" in stuck[0] and "STUCK" in stuck[0]
    assert staged(home), "the crash point is meant to leave staged files"

    rc, out = here(home, "maintain", "--table", "audit_log")
    assert rc == 0, out
    assert "cleared stuck nightly run" in out
    assert under_way(home) == [] and staged(home) == []
    rc, out, err = nightly(home, D3)
    assert rc == 0, out + err
    reconciled(home)


def test_a_replay_of_an_old_day_never_rolls_gold_back(home: Path) -> None:
    """Finding 4: replaying D after D+1 was merged replaced budget_progress as of D+1 with
    rows as of D, and deleted a row. Now nothing changes: a person's budget row the replay
    recomputes stays as of the later day it was computed for."""
    lake = Lake(str(home / "lake"))

    def budgets() -> dict[tuple, dict]:
        return {(r["user_id"], r["month"], r["category_primary"]): r
                for r in read_rows(lake, BUDGET_PROGRESS)}

    before, alerts = budgets(), len(read_rows(lake, ALERTS))
    assert D2 in {r["as_of"] for r in before.values()}
    rc, out, err = nightly(home, D1, "--replay")
    assert rc == 0, out + err
    assert budgets() == before
    assert len(read_rows(lake, ALERTS)) == alerts
    reconciled(home)


def test_rerunning_a_past_day_syncs_nothing_and_raises_no_false_alert(home: Path) -> None:
    """Finding 5: a re-run of a past day re-synced every item with 0 pages and raised false
    "institution silent" alerts."""
    lake = Lake(str(home / "lake"))
    jobs, alerts = len(read_rows(lake, SYNC_JOBS)), read_rows(lake, ALERTS)
    rc, out, err = nightly(home, D1)
    assert rc == 0, out + err
    assert len(read_rows(lake, SYNC_JOBS)) == jobs
    assert len(read_rows(lake, ALERTS)) == len(alerts)
    assert not [a for a in read_rows(lake, ALERTS) if "silent" in (a["detail"] or "")]
    reconciled(home)
