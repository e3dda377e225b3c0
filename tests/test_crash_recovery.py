"""Crash tests: the nightly run is killed at every step boundary (``os._exit``, no cleanup);
the next run leaves 0 lost and 0 duplicated, checked by ``finlake reconcile``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.sandbox_bank.bank import SandboxBank
from finlake.crashpoints import CRASH_EXIT_CODE, POINTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def finlake(home: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FINLAKE_HOME": str(home), "FINLAKE_SYNC_PAGE_SIZE": "40"}
    env.pop("FINLAKE_CRASH_AT", None)
    if crash_at:
        env["FINLAKE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "finlake.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("point", POINTS)
def test_killed_run_recovers_exactly(tmp_path: Path, point: str) -> None:
    home = tmp_path / "home"
    SandboxBank.open(home / "sandbox_bank", users=3, history_start=YESTERDAY - timedelta(40),
                     clock=YESTERDAY - timedelta(2))
    assert finlake(home, "link-sandbox").returncode == 0
    first, second = YESTERDAY - timedelta(1), YESTERDAY

    crashed = finlake(home, "nightly", "--date", first.isoformat(), crash_at=point)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stdout + crashed.stderr
    for day in (first, second):
        run = finlake(home, "nightly", "--date", day.isoformat())
        assert run.returncode == 0, run.stdout + run.stderr
    rec = finlake(home, "reconcile")
    result = json.loads(rec.stdout)
    assert rec.returncode == 0 and result["truth_rows"] > 50, rec.stdout + rec.stderr
    assert (result["lost"], result["duplicated"], result["phantom"], result["mismatched"]) \
        == (0, 0, 0, 0)
