"""Benchmark: unusual activity for a night touching every user's month, the old windows over
14 months of classified silver (issue 21) against the running statistics, side by side.

    .venv/bin/python -m bench.gold_unusual [--users 2000] [--years 1 3] [--per-day 2] [--rounds 2]

The lake is ``bench/gold_refresh.py``'s synthetic silver history (every user: ``--per-day``
card payments a day at ten merchants, payroll twice a month), with gold built by a full
rebuild. The night is the day after the history's last day: every user gets a new charge in
the current month, so every user's current month is a changed cell (the shape of a 1M-row
night). Each round copies the lake twice and runs the old code
(``tests/support/old_unusual.py``, a frozen copy, then the same publish) on one copy and
the new (``pipelines/gold/refresh.py`` ``_refresh_unusual``: the cells' ``expense_days``,
then the flags from the statistics) on the other, alternating which goes first; it checks
the two copies hold the same flags and prints seconds per round and the ratio of the
medians, per history length.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import old_new
from bench.gold_refresh import END, synth_history

DAY = END + timedelta(days=1)


def add_night(spark, lake, users: int) -> None:  # noqa: ANN001
    """Every user pays once more on DAY at one of their merchants (the cells are logged)."""
    from pyspark.sql import functions as F

    from lake import delta
    from lake.tables import TRANSACTIONS

    silver = delta.read_table(spark, lake, TRANSACTIONS)
    template = silver.filter(F.col("posted_month") == f"{END:%Y-%m}").filter(
        F.col("amount") > 0).dropDuplicates(["user_id"])
    fresh = template.select(
        *[c for c in template.columns if c not in ("txn_id", "partner_txn_id", "posted_date",
                                                   "sync_date", "posted_month", "amount")],
        F.concat(F.col("txn_id"), F.lit("-n")).alias("txn_id"),
        F.concat(F.col("partner_txn_id"), F.lit("-n")).alias("partner_txn_id"),
        F.lit(DAY).alias("posted_date"), F.lit(DAY).alias("sync_date"),
        F.lit(f"{DAY:%Y-%m}").alias("posted_month"),
        (F.col("amount") * 3).cast("decimal(18,2)").alias("amount"))
    fresh = delta.pin(spark, delta.conform(fresh, TRANSACTIONS))
    delta.merge(spark, lake, TRANSACTIONS, fresh, partitions=[f"{DAY:%Y-%m}"])
    assert fresh.count() == users


def cells_of(spark, lake):  # noqa: ANN001, ANN201
    from pyspark.sql import functions as F

    from lake import delta
    from lake.tables import TRANSACTIONS

    return delta.pin(spark, delta.read_table(spark, lake, TRANSACTIONS).filter(
        F.col("posted_month") == f"{DAY:%Y-%m}").select(
        "user_id", F.col("posted_month").alias("month")).distinct())


def run_old(spark, lake) -> float:  # noqa: ANN001
    from lake.tables import UNUSUAL_ACTIVITY
    from pipelines.gold.refresh import publish
    from tests.support import old_unusual

    cells = cells_of(spark, lake)
    t = time.perf_counter()
    publish(spark, lake, UNUSUAL_ACTIVITY, old_unusual.flags(spark, lake, cells), cells,
            [f"{DAY:%Y-%m}"], DAY, [])
    return time.perf_counter() - t


def run_new(spark, lake) -> float:  # noqa: ANN001
    from pipelines.gold.refresh import GoldResult, _refresh_unusual

    cells = cells_of(spark, lake)
    t = time.perf_counter()
    _refresh_unusual(spark, lake, cells, [f"{DAY:%Y-%m}"], cells.select("user_id").distinct(),
                     DAY, GoldResult())
    return time.perf_counter() - t


def flags(lake) -> list[tuple]:  # noqa: ANN001
    from lake.small_tables import read_rows
    from lake.tables import UNUSUAL_ACTIVITY

    return sorted((tuple(sorted(r.items())) for r in read_rows(lake, UNUSUAL_ACTIVITY)),
                  key=str)


def one_history(spark, users: int, years: int, per_day: int, rounds: int) -> dict[str, Any]:  # noqa: ANN001
    from lake.lake import Lake
    from pipelines.categories.refresh import seed_reference
    from pipelines.gold.refresh import rebuild_gold

    root = Path(tempfile.mkdtemp(prefix=f"finlake-unusual-{years}y-"))
    try:
        base = Lake(str(root / "base"))
        seed_reference(spark, base)
        n = synth_history(spark, base, users, years, per_day)
        t = time.perf_counter()
        rebuild_gold(spark, base, END)
        print(f"[{years}y] {n:,} silver rows, {users:,} users; gold rebuilt in "
              f"{time.perf_counter() - t:.1f}s", flush=True)
        add_night(spark, base, users)
        out = old_new.rounds(spark, root, f"{years}y", rounds, {"old": run_old, "new": run_new},
                             flags, "flags")
        return {"silver_rows": n, "users": users, "flags": out.pop("count"), **out}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--years", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--per-day", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from lake.spark import spark_session

    spark = spark_session()
    results = {y: one_history(spark, args.users, y, args.per_day, args.rounds)
               for y in args.years}
    print("\nhistory  silver rows  old s (median)  new s (median)  old/new")
    for y, r in results.items():
        print(f"{y:>6}y {r['silver_rows']:>12,} {statistics.median(r['old_s']):>15} "
              f"{statistics.median(r['new_s']):>15} {r['ratio_old_over_new']:>8}")
    print(json.dumps({"machine": f"{platform.machine()} {platform.system()}",
                      "results": {str(k): v for k, v in results.items()}}))


if __name__ == "__main__":
    main()
