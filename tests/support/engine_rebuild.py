"""Rebuild a demo lake's derived tables from its raw pages on one engine, and read tables
back for comparison.

Usage: python -m tests.support.engine_rebuild (sail|spark-delta) FINLAKE_HOME [--continue] DAY ...
Deletes every table the replay job derives from raw (silver, gold, the change ledger,
quality results; not with ``--continue``), then replays each day in order in one process
(one engine start), as ``finlake nightly --date DAY --replay`` would. What people entered
(overrides, budgets, custom categories), reference data, credentials, sync history and raw
pages are kept.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from lake import tables as t

DERIVED = (t.TRANSACTIONS, t.ACCOUNTS, t.QUARANTINE, t.BALANCE_OBSERVATIONS, t.MONTHLY_SPEND,
           t.ALERTS, t.BALANCES_DAILY, t.NET_WORTH_DAILY, t.RECURRING_PAYMENTS, t.DAILY_SPEND,
           t.MONTHLY_CASHFLOW, t.SPEND_TRENDS, t.BUDGET_PROGRESS, t.EXPENSE_DAYS,
           t.UNUSUAL_ACTIVITY,
           t.GOLD_CHANGES, t.SERIES_CHANGES, t.QUALITY_RESULTS, t.STEP_MARKS)
# Columns that say when or in which run a row was written, not what it holds.
RUN_COLUMNS = {"updated_at", "created_at", "computed_at", "validated_at", "run_id",
               "report_uri", "sent_at", "ingested_at", "merged_at", "staged_at",
               "refreshed_at", "detected_at", "recorded_at", "quarantined_at",
               "validation_id", "report_ref"}


def wipe_derived(home: Path) -> None:
    lake = home / "lake"
    for table in DERIVED:
        shutil.rmtree(lake / table.key, ignore_errors=True)
    shutil.rmtree(lake / "_staging", ignore_errors=True)
    shutil.rmtree(lake / "quality", ignore_errors=True)


def table_rows(root: str, table: t.Table) -> list[tuple[Any, ...]] | None:
    """Every row of ``table`` (current version) without run-time columns, sorted (None when
    the table was never created); floats rounded so that engines' summation order cannot
    differ by 1 ulp."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(f"{root}/{table.key}"):
        return None
    data = DeltaTable(f"{root}/{table.key}").to_pyarrow_table()
    cols = [c for c in data.column_names if c not in RUN_COLUMNS]
    rows = []
    for rec in data.select(cols).to_pylist():
        rows.append(tuple((k, round(v, 6) if isinstance(v, float) else v)
                          for k, v in sorted(rec.items())))
    return sorted(rows, key=repr)


def main(engine: str, home: str, days: list[str]) -> int:
    """Replay ``days``; the last line printed is JSON: engine start-up and, per day, the
    run's seconds and per-step seconds."""
    os.environ.update(FINLAKE_HOME=home, FINLAKE_ENGINE=engine)
    from assets.resources import spark_resource
    from core.settings import load_settings
    from finlake.definitions import defs
    from finlake.runner import prepare_instance, run_partition

    if days[0] == "--continue":
        days = days[1:]
    else:
        wipe_derived(Path(home))
    settings = load_settings()
    instance = prepare_instance(settings)
    t0 = time.perf_counter()
    spark_resource(settings).session().sql("SELECT 1").collect()
    report: dict[str, Any] = {"engine": settings.describe(),
                              "startup_s": round(time.perf_counter() - t0, 2), "days": []}
    definitions = defs()
    for day in days:
        run = run_partition(definitions, instance, "replay", day)
        report["days"].append({"day": day, "seconds": round(run.seconds, 2),
                               "steps": {k.split(".")[-1]: round(v, 2)
                                         for k, v in run.steps.items()}})
        if not run.success:
            print(f"{day}: {run.error}", file=sys.stderr)
            return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
