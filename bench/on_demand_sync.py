"""Benchmark: on-demand sync of one account, end to end (partner -> raw -> silver -> gold).

    .venv/bin/python -m bench.on_demand_sync [--users 20] [--accounts 8]

Builds a fresh lake under a temporary FINLAKE_HOME (sandbox bank, one nightly partition),
moves the bank one day on, then syncs accounts one by one through the ``on_demand_sync``
Dagster job, in-process (warm: the service case) and once through the CLI (cold: a new
process). The system design's SLO is 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--accounts", type=int, default=8)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="finlake-bench-"))
    os.environ["FINLAKE_HOME"] = str(home)

    from assets.resources import resources_for
    from connectors.linking import sandbox_call
    from connectors.sandbox_bank.bank import SandboxBank
    from core.settings import load_settings
    from finlake.commands import pipeline, sandbox
    from finlake.definitions import defs
    from finlake.runner import QUIET, prepare_instance
    from lake.lake import Lake
    from lake.small_tables import read_rows
    from lake.tables import ACCOUNTS

    settings = load_settings()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    SandboxBank.open(settings.sandbox_dir, users=args.users,
                     history_start=yesterday - timedelta(days=90),
                     clock=yesterday - timedelta(days=2))
    t = time.perf_counter()
    sandbox.link(settings)
    assert pipeline._run_days(settings, [yesterday - timedelta(days=1)], "nightly")
    print(f"setup: {args.users} users, one nightly partition in {time.perf_counter() - t:.1f}s")
    url = resources_for(settings)["partner"].url()
    sandbox_call(url, "/sandbox/clock/advance", {"day": yesterday.isoformat()})

    accounts = [a["account_id"] for a in read_rows(Lake(settings.lake_root), ACCOUNTS)]
    job, instance = defs().resolve_job_def("on_demand_sync"), prepare_instance(settings)
    warm = []
    for account in accounts[: args.accounts]:
        t = time.perf_counter()
        result = job.execute_in_process(
            run_config={**QUIET, "ops": {"sync_account": {"config": {"account_id": account}}}},
            instance=instance)
        warm.append(time.perf_counter() - t)
        s = result.output_for_node("sync_account")
        print(f"  {account[:12]}…  +{s['added']} ~{s['modified']} -{s['removed']}  "
              f"sync {s['sync_seconds']:.2f}s  total {warm[-1]:.2f}s")
    t = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "finlake.cli", "sync", "--account",
                          accounts[args.accounts]], cwd=ROOT, capture_output=True, text=True)
    cold = time.perf_counter() - t
    assert cli.returncode == 0, cli.stderr
    report = {"users": args.users, "accounts_synced": len(warm),
              "warm_p50_s": round(statistics.median(warm), 2),
              "warm_max_s": round(max(warm), 2), "cold_cli_s": round(cold, 2),
              "slo_s": 30, "slo_ratio_worst": round(max(max(warm), cold) / 30, 3)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
