"""Benchmark: recurring payments for a night touching every person, the old refresh (every
series of each changed person, issue 21) against the per-series one, side by side.

    .venv/bin/python -m bench.gold_recurring [--users 2000] [--years 1 2] [--per-day 2] [--rounds 2]

The lake is ``bench/gold_refresh.py``'s synthetic silver history (every person: ``--per-day``
card payments a day at ten merchants, payroll twice a month) plus three subscriptions each
(a streaming service, a phone bill and a gym, monthly, the phone bill's price rising once),
with recurring payments computed as of the history's last day. The night is the day after:
every person pays once more at one of their card merchants (``bench/gold_unusual.py``'s
night), logged as a changed series as the silver merge logs it. Each round copies the lake
twice and runs the old code (``tests/support/old_recurring.py``, a frozen copy: every series
of the night's people) on one copy and the new (``pipelines/wealth/refresh.py``
``recurring_night``: the night's series, those whose missed flag flips and, in a new month,
those the window's move changes) on the other, alternating which goes first; it checks the
two copies hold the same rows and prints seconds per round and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import old_new
from bench.gold_refresh import END, synth_history
from bench.gold_unusual import DAY, add_night

SUBSCRIPTIONS = (("NETFLIX", "ENTERTAINMENT_TV_AND_MOVIES", 15.49, 0.0),
                 ("VERIZON WIRELESS", "RENT_AND_UTILITIES_TELEPHONE", 70.00, 5.0),
                 ("PLANET FITNESS", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", 24.99, 0.0))


def add_subscriptions(spark, lake, users: int, years: int) -> int:  # noqa: ANN001
    """Each person's three monthly subscriptions over the history; returns rows written."""
    import pyarrow as pa
    from deltalake import write_deltalake
    from pyspark.sql import functions as F

    from lake import delta
    from lake.arrow import arrow_schema
    from lake.tables import TRANSACTIONS

    months = 12 * years
    silver = delta.read_table(spark, lake, TRANSACTIONS)
    template = delta.pin(spark, silver.filter(F.col("amount") > 0).dropDuplicates(["user_id"]))
    n, parts = 0, []
    for i, (name, category, amount, rise) in enumerate(SUBSCRIPTIONS):
        back = spark.range(months).select(F.col("id").alias("m"))
        day = F.add_months(F.lit(END), -F.col("m") - 1)
        day = F.date_add(F.trunc(day, "month"), (F.abs(F.hash("user_id", F.lit(i))) % 28))
        price = F.lit(amount) + F.when(F.col("m") < 6, F.lit(rise)).otherwise(F.lit(0.0))
        rows = template.crossJoin(back).select(
            *[c for c in template.columns if c not in (
                "txn_id", "partner_txn_id", "posted_date", "authorized_date", "sync_date",
                "posted_month", "amount", "description", "merchant", "merchant_key",
                "category")],
            F.concat(F.col("txn_id"), F.lit(f"-s{i}-"), F.col("m")).alias("txn_id"),
            F.concat(F.col("partner_txn_id"), F.lit(f"-s{i}-"), F.col("m")).alias(
                "partner_txn_id"),
            day.alias("posted_date"), day.alias("authorized_date"), day.alias("sync_date"),
            F.date_format(day, "yyyy-MM").alias("posted_month"),
            price.cast("decimal(18,2)").alias("amount"), F.lit(name).alias("description"),
            F.initcap(F.lit(name)).alias("merchant"), F.lower(F.lit(name)).alias("merchant_key"),
            F.lit(category).alias("category"))
        parts.append(delta.conform(rows, TRANSACTIONS))
        n += users * months
    # New rows only: appended in one commit (a Sail MERGE of these 7k rows into 12 month
    # partitions took minutes here; the bench measures recurring payments, not this).
    table = pa.Table.from_pylist([r.asDict() for p in parts for r in p.collect()],
                                 schema=arrow_schema(TRANSACTIONS))
    write_deltalake(lake.uri(TRANSACTIONS), table, mode="append",
                    partition_by=list(TRANSACTIONS.partition_by))
    return n


def log_night(spark, lake) -> None:  # noqa: ANN001
    """The night's series, as the silver merge logs them (its rows are new: no merchant left)."""
    from pyspark.sql import functions as F

    from lake import delta
    from lake.tables import TRANSACTIONS
    from pipelines.silver.changes import log_series

    night = delta.read_table(spark, lake, TRANSACTIONS).filter(
        (F.col("posted_month") == f"{DAY:%Y-%m}") & (F.col("posted_date") == F.lit(DAY)))
    log_series(spark, lake, DAY, night)


def run_old(spark, lake) -> float:  # noqa: ANN001
    from pyspark.sql import functions as F

    from lake import delta
    from lake.tables import TRANSACTIONS
    from tests.support import old_recurring

    users = delta.read_table(spark, lake, TRANSACTIONS).filter(  # the night's changed people
        (F.col("posted_month") == f"{DAY:%Y-%m}") & (F.col("posted_date") == F.lit(DAY))
    ).select("user_id").distinct()
    t = time.perf_counter()
    old_recurring.refresh_recurring(spark, lake, DAY, users)
    return time.perf_counter() - t


def run_new(spark, lake) -> float:  # noqa: ANN001
    from pipelines.wealth.refresh import recurring_night

    t = time.perf_counter()
    detail = recurring_night(spark, lake, DAY, [])
    took = time.perf_counter() - t
    assert detail["scope"] == "changed series", detail
    return took


def rows(lake) -> list[tuple]:  # noqa: ANN001
    from lake.small_tables import read_rows
    from lake.tables import RECURRING_PAYMENTS

    return sorted((tuple(sorted(r.items())) for r in read_rows(lake, RECURRING_PAYMENTS)),
                  key=str)


def one_history(spark, users: int, years: int, per_day: int, rounds: int) -> dict[str, Any]:  # noqa: ANN001
    from lake.lake import Lake
    from pipelines.categories.refresh import seed_reference
    from pipelines.wealth.refresh import recurring_night

    root = Path(tempfile.mkdtemp(prefix=f"finlake-recurring-{years}y-"))
    try:
        base = Lake(str(root / "base"))
        seed_reference(spark, base)
        n = synth_history(spark, base, users, years, per_day)
        n += add_subscriptions(spark, base, users, years)
        t = time.perf_counter()
        first = recurring_night(spark, base, END, [])
        print(f"[{years}y] {n:,} silver rows, {users:,} people; {first['rows_written']:,} "
              f"series found in {time.perf_counter() - t:.1f}s", flush=True)
        add_night(spark, base, users)
        log_night(spark, base)
        out = old_new.rounds(spark, root, f"{years}y", rounds, {"old": run_old, "new": run_new},
                             rows, "recurring payments")
        return {"silver_rows": n, "users": users, "series": out.pop("count"), **out}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--years", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--per-day", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from lake.spark import spark_session

    spark = spark_session()
    results = {y: one_history(spark, args.users, y, args.per_day, args.rounds)
               for y in args.years}
    print("\nhistory  silver rows  series  old s (median)  new s (median)  old/new")
    for y, r in results.items():
        print(f"{y:>6}y {r['silver_rows']:>12,} {r['series']:>7,} "
              f"{statistics.median(r['old_s']):>15.2f} {statistics.median(r['new_s']):>15.2f} "
              f"{r['ratio_old_over_new']:>8}")
    print(json.dumps({"machine": f"{platform.machine()} {platform.system()}",
                      "results": {str(k): v for k, v in results.items()}}))


if __name__ == "__main__":
    main()
