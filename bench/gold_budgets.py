"""Benchmark: the gold budget refresh of a day touching seven months, the pass per month and
day it replaced (issue 21) against the one pass, side by side in one process.

    .venv/bin/python -m bench.gold_budgets [--users 500] [--years 1] [--per-day 2]
        [--late 0.1] [--rounds 2]

The lake is ``bench/gold_refresh.py``'s synthetic silver history (every user: ``--per-day``
card payments a day, payroll twice a month), with ``budget_progress`` built for every cell
first. The day after the history's last day touches every user's current month and, for a
``--late`` share of users each, each of the six months before it (late-arriving rows), so the
old code runs once per touched month and the new code once. Each round copies the lake twice
and runs the old code (``tests/support/old_budgets.py``, a frozen copy) on one copy and the new
(``pipelines/gold/refresh.py`` ``_refresh_budget_cells``) on the other, alternating which goes
first (each cell gets a new charge in silver first, so every touched month changes); it
prints seconds, Delta commits (new table versions of ``budget_progress`` and
``alerts``) and audits of each, checks the two copies hold the same budget rows and alerts, and
prints the ratio of the median times.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.gold_refresh import END, synth_history

DAY = END + timedelta(days=1)


def day_cells(spark: Any, users: int, late: float) -> Any:
    """Every user's current month, and a ``late`` share of users in each of the six months
    before it."""
    from core.months import month_range, shift_month

    month = f"{DAY:%Y-%m}"
    rng = random.Random(21)
    ids = [f"u{u:05d}" for u in range(users)]
    pairs = {(u, month) for u in ids}
    for m in month_range(shift_month(month, -6), shift_month(month, -1)):
        pairs |= {(u, m) for u in rng.sample(ids, max(1, int(users * late)))}
    return spark.createDataFrame(sorted(pairs), "user_id string, month string")


def land_late_rows(spark: Any, lake: Any, cells: Any) -> int:
    """A new charge in each cell (a copy of one of its card payments, $25 more), appended to silver,
    so every touched month's budgets change."""
    from pyspark.sql import functions as F

    from lake import delta
    from lake.tables import TRANSACTIONS

    silver = delta.read_table(spark, lake, TRANSACTIONS)
    keys = ["user_id", "posted_month"]
    spend = silver.filter(F.col("category") != "INCOME_SALARY")
    one = spend.join(cells.withColumnRenamed("month", "posted_month"), keys, "left_semi") \
        .groupBy(*keys).agg(F.min("partner_txn_id").alias("partner_txn_id"))
    late = silver.join(one, [*keys, "partner_txn_id"]).select(
        *[c for c in silver.columns if c not in ("txn_id", "partner_txn_id", "amount",
                                                  "sync_date")],
        F.concat("txn_id", F.lit("-late")).alias("txn_id"),
        F.concat("partner_txn_id", F.lit("-late")).alias("partner_txn_id"),
        (F.col("amount") + 25).alias("amount"), F.lit(DAY).alias("sync_date"))
    late = delta.pin(spark, delta.conform(late, TRANSACTIONS))
    late.write.format("delta").mode("append").partitionBy("posted_month").save(
        lake.uri(TRANSACTIONS))
    return late.count()


def versions(lake: Any) -> int:
    from lake.tables import ALERTS, BUDGET_PROGRESS

    return sum(lake.delta(t).version() for t in (BUDGET_PROGRESS, ALERTS) if lake.exists(t))


def run_old(spark: Any, lake: Any, cells: Any) -> dict:
    from tests.support import old_budgets

    audits: list = []
    v, t = versions(lake), time.perf_counter()
    changed, alerts = old_budgets.refresh_budget_cells(spark, lake, cells, DAY, audits=audits)
    return {"s": round(time.perf_counter() - t, 2), "commits": versions(lake) - v,
            "audits": len(audits), "rows_changed": changed, "alerts": len(alerts)}


def run_new(spark: Any, lake: Any, cells: Any) -> dict:
    from pipelines.gold.refresh import GoldResult, _refresh_budget_cells

    result = GoldResult()
    v, t = versions(lake), time.perf_counter()
    months = sorted(r[0] for r in cells.select("month").distinct().collect())
    _refresh_budget_cells(spark, lake, cells, months, DAY, 0.8, result)
    return {"s": round(time.perf_counter() - t, 2), "commits": versions(lake) - v,
            "audits": len(result.audits), "rows_changed": result.rows_changed["budget_progress"],
            "alerts": len(result.alerts)}


def same_state(a: Any, b: Any) -> bool:
    from lake.small_tables import read_rows
    from lake.tables import ALERTS, BUDGET_PROGRESS

    def rows(lake: Any, t: Any, drop: str = "") -> list:
        return sorted(str(sorted((k, v) for k, v in r.items() if k != drop))
                      for r in read_rows(lake, t))

    return (rows(a, BUDGET_PROGRESS) == rows(b, BUDGET_PROGRESS)
            and rows(a, ALERTS, "created_at") == rows(b, ALERTS, "created_at"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--years", type=int, default=1)
    ap.add_argument("--per-day", type=int, default=2)
    ap.add_argument("--late", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    from lake.lake import Lake
    from lake.spark import spark_session
    from pipelines.categories.refresh import seed_reference
    from pipelines.gold.refresh import GoldResult, _refresh_budget_cells
    from pipelines.silver.changes import all_cells

    spark = spark_session()
    root = Path(tempfile.mkdtemp(prefix="finlake-gold-budgets-"))
    try:
        base = Lake(str(root / "base" / "lake"))
        seed_reference(spark, base)
        n = synth_history(spark, base, args.users, args.years, args.per_day)
        everything = all_cells(spark, base)
        months = sorted(r[0] for r in everything.select("month").distinct().collect())
        t = time.perf_counter()
        _refresh_budget_cells(spark, base, everything, months, END, 0.8, GoldResult())
        print(f"history: {n:,} silver rows, {args.users} users, {len(months)} months; "
              f"budget_progress built in {time.perf_counter() - t:.1f}s", flush=True)
        cells = day_cells(spark, args.users, args.late)
        touched = sorted(r[0] for r in cells.select("month").distinct().collect())
        late = land_late_rows(spark, base, cells)
        print(f"day {DAY}: {late:,} new rows, {cells.count():,} cells in {len(touched)} months "
              f"({touched[0]} .. {touched[-1]})", flush=True)
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for i in range(args.rounds):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            lakes = {}
            for name in order:
                shutil.copytree(base.root, root / f"{name}{i}" / "lake")
                lakes[name] = Lake(str(root / f"{name}{i}" / "lake"))
                fn = run_old if name == "old" else run_new
                runs[name].append(fn(spark, lakes[name], cells))
                print(f"round {i + 1} {name}: {runs[name][-1]}", flush=True)
            print(f"round {i + 1}: same budget rows and alerts: "
                  f"{same_state(lakes['old'], lakes['new'])}", flush=True)
        old = statistics.median(r["s"] for r in runs["old"])
        new = statistics.median(r["s"] for r in runs["new"])
        print(f"\nmedian old {old:.1f}s ({runs['old'][0]['commits']} commits, "
              f"{runs['old'][0]['audits']} audits) vs new {new:.1f}s "
              f"({runs['new'][0]['commits']} commits, {runs['new'][0]['audits']} audits): "
              f"new/old {new / old:.2f}, {old / new:.1f}x faster")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
