"""Benchmark: the nightly gold refresh for one day of changes against 1 and 10 years of history.

    .venv/bin/python -m bench.gold_refresh [--users 300] [--years 1 10] [--per-day 2]

For each history length it writes a synthetic silver history (every user: ``--per-day``
card payments a day at recurring merchants, payroll twice a month, a checking and a credit
card account with a balance observed every day), builds gold for it with a full rebuild,
then applies two nights of changes to silver (new payments for every user, modifications,
a late-arriving charge six months back, a re-categorised row) and times the nightly gold
refresh of each night: spend/cash flow/trends/unusual/budgets by changed cell, recurring
payments for the users that changed, and net worth for the day. The first night warms up;
the second is reported. The claim under test: the refresh grows with the day's changes,
not with history (ratio 10y/1y close to 1).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

END = date(2026, 10, 29)  # last day of history; the two nights are the 30th and 31st


def synth_history(spark, lake, users: int, years: int, per_day: int) -> int:  # noqa: ANN001
    """Write silver transactions and balance history; returns transaction rows."""
    from pyspark.sql import functions as F

    from lake import delta
    from lake.tables import (
        BALANCE_OBSERVATIONS,
        BALANCES_DAILY,
        NET_WORTH_DAILY,
        TRANSACTIONS,
    )

    start = date(END.year - years, END.month, END.day) + timedelta(days=1)
    days = (END - start).days + 1
    merchants = [
        ("KROGER", "FOOD_AND_DRINK_GROCERIES", 60),
        ("STARBUCKS", "FOOD_AND_DRINK_COFFEE", 6),
        ("SHELL", "TRANSPORTATION_GAS", 45),
        ("AMAZON", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", 40),
        ("CHIPOTLE", "FOOD_AND_DRINK_FAST_FOOD", 14),
        ("UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", 18),
        ("CVS", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS", 25),
        ("TARGET", "GENERAL_MERCHANDISE_SUPERSTORES", 55),
        ("AMC", "ENTERTAINMENT_TV_AND_MOVIES", 30),
        ("HOME DEPOT", "HOME_IMPROVEMENT_HARDWARE", 80),
    ]
    names = F.array(*[F.lit(m[0]) for m in merchants])
    cats = F.array(*[F.lit(m[1]) for m in merchants])
    base = F.array(*[F.lit(m[2]) for m in merchants])
    k = F.abs(F.hash(F.col("id"), F.lit(7))) % len(merchants)
    spend = spark.range(users * days * per_day).select(
        (F.col("id") % users).alias("u"),
        (F.col("id") / users / per_day).cast("int").alias("d"),
        "id",
    )
    spend = spend.select(
        "u",
        "d",
        "id",
        F.element_at(names, (k + 1).cast("int")).alias("name"),
        F.element_at(cats, (k + 1).cast("int")).alias("category"),
        (
            F.element_at(base, (k + 1).cast("int"))
            * (0.5 + (F.abs(F.hash("id", F.lit(3))) % 100) / 100.0)
        ).alias("amt"),
    )
    pay = spark.range(users * days).select(
        (F.col("id") % users).alias("u"),
        (F.col("id") / users).cast("int").alias("d"),
        (F.col("id") + 10**12).alias("id"),
    )
    pay_date = F.date_add(F.lit(start), F.col("d"))
    pay = pay.filter(F.dayofmonth(pay_date).isin(1, 15)).select(
        "u",
        "d",
        "id",
        F.lit("ACME PAYROLL").alias("name"),
        F.lit("INCOME_SALARY").alias("category"),
        F.lit(-2100.0).alias("amt"),
    )
    rows = spend.unionByName(pay)
    day = F.date_add(F.lit(start), F.col("d"))
    user = F.format_string("u%05d", F.col("u"))
    silver = rows.select(
        F.concat(F.lit("t"), F.col("id").cast("string")).alias("txn_id"),
        user.alias("user_id"),
        F.concat(user, F.lit("-item")).alias("item_id"),
        F.concat(user, F.lit("-chk")).alias("account_id"),
        F.col("id").cast("string").alias("partner_txn_id"),
        F.lit(False).alias("pending"),
        F.round("amt", 2).cast("decimal(18,2)").alias("amount"),
        F.lit("USD").alias("currency"),
        day.alias("posted_date"),
        day.alias("authorized_date"),
        F.col("name").alias("description"),
        F.initcap("name").alias("merchant"),
        F.lower("name").alias("merchant_key"),
        F.lit("online").alias("payment_channel"),
        "category",
        F.lit("rule").alias("category_source"),
        F.lit(1.0).alias("category_confidence"),
        F.lit("live").alias("status"),
        F.lit(False).alias("partner_duplicate"),
        F.format_string("%020d", F.col("id")).alias("source_seq"),
        F.format_string("%020d", F.col("id")).alias("content_seq"),
        F.lit("bench").alias("raw_ref"),
        day.alias("sync_date"),
        F.current_timestamp().alias("updated_at"),
        F.date_format(day, "yyyy-MM").alias("posted_month"),
    )
    for c, _ in TRANSACTIONS.columns:
        if c not in silver.columns:
            silver = silver.withColumn(c, F.lit(None))
    (
        delta.conform(silver, TRANSACTIONS)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("posted_month")
        .save(lake.uri(TRANSACTIONS))
    )

    acct = spark.range(users * days * 2).select(
        (F.col("id") % users).alias("u"),
        ((F.col("id") / users) % 2).cast("int").alias("a"),
        (F.col("id") / users / 2).cast("int").alias("d"),
    )
    user = F.format_string("u%05d", F.col("u"))
    obs = acct.select(
        F.concat(user, F.when(F.col("a") == 0, F.lit("-chk")).otherwise(F.lit("-cc"))).alias(
            "account_id"
        ),
        user.alias("user_id"),
        F.when(F.col("a") == 0, F.lit("depository")).otherwise(F.lit("credit")).alias("type"),
        day.alias("date"),
        (F.lit(1500.0) + (F.abs(F.hash("u", "d", "a")) % 300000) / 100.0)
        .cast("decimal(18,2)")
        .alias("balance_current"),
        F.lit(False).alias("needs_review"),
        F.current_timestamp().alias("observed_at"),
        F.lit("bench").alias("source_seq"),
        F.date_format(day, "yyyy-MM").alias("month"),
    )
    obs.write.format("delta").mode("overwrite").partitionBy("month").save(
        lake.uri(BALANCE_OBSERVATIONS))
    daily = obs.select(
        "account_id",
        "user_id",
        "type",
        "date",
        F.col("balance_current").alias("balance"),
        F.lit(True).alias("observed"),
        F.date_format("date", "yyyy-MM").alias("month"),
    )
    (
        delta.conform(daily, BALANCES_DAILY)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("month")
        .save(lake.uri(BALANCES_DAILY))
    )
    from pipelines.wealth.networth import net_worth_daily

    worth = net_worth_daily(daily).withColumn("month", F.date_format("date", "yyyy-MM"))
    (
        delta.conform(worth, NET_WORTH_DAILY)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("month")
        .save(lake.uri(NET_WORTH_DAILY))
    )
    return delta.read_table(spark, lake, TRANSACTIONS).count()


def night_of_changes(spark, lake, users: int, day: date, per_day: int) -> int:  # noqa: ANN001
    """Apply one sync day to silver the way the silver merge would (cells logged first)."""
    from pyspark.sql import functions as F

    from core.months import shift_month as shift
    from lake import delta
    from lake.tables import BALANCE_OBSERVATIONS, TRANSACTIONS
    from pipelines.silver.changes import log_changes, log_series

    silver = delta.read_table(spark, lake, TRANSACTIONS)
    month, late_month = f"{day:%Y-%m}", shift(f"{day:%Y-%m}", -6)
    user = F.format_string("u%05d", F.col("u"))
    new = spark.range(users * per_day).select(
        (F.col("id") % users).alias("u"),
        (F.col("id") + 2 * 10**12 + day.toordinal() * 10**7).alias("id"),
    )
    picked = F.abs(F.hash("user_id", F.lit(day.toordinal()))) % 100 == 0  # 1% of users
    recent = (
        silver.filter((F.col("posted_month") == month) & picked)
        .groupBy("user_id")
        .agg(F.min("partner_txn_id").alias("partner_txn_id"))
    )
    modified = silver.join(recent, ["user_id", "partner_txn_id"]).withColumn(
        "amount", (F.col("amount") + 1).cast("decimal(18,2)")
    )
    late = (
        silver.filter((F.col("posted_month") == late_month) & picked)
        .groupBy("user_id")
        .agg(F.max("partner_txn_id").alias("partner_txn_id"))
    )
    late_rows = (
        silver.join(late, ["user_id", "partner_txn_id"])
        .withColumn("partner_txn_id", F.concat(F.col("partner_txn_id"), F.lit(f"-late{day:%d}")))
        .withColumn("txn_id", F.concat(F.col("txn_id"), F.lit(f"-late{day:%d}")))
    )
    recat = (
        silver.filter((F.col("posted_month") == shift(month, -1)) & picked)
        .groupBy("user_id")
        .agg(F.min("partner_txn_id").alias("partner_txn_id"))
    )
    recat_rows = silver.join(recat, ["user_id", "partner_txn_id"]).withColumn(
        "user_category", F.lit("FOOD_AND_DRINK_RESTAURANT")
    )
    template = silver.filter(F.col("posted_month") == month).limit(1)
    fresh = new.crossJoin(
        template.drop(
            "user_id",
            "txn_id",
            "partner_txn_id",
            "amount",
            "posted_date",
            "sync_date",
            "account_id",
            "item_id",
        )
    ).select(
        "*",
        user.alias("user_id"),
        F.concat(F.lit("t"), F.col("id").cast("string")).alias("txn_id"),
        F.col("id").cast("string").alias("partner_txn_id"),
        (F.lit(5.0) + F.abs(F.hash("id")) % 5000 / 100.0).cast("decimal(18,2)").alias("amount"),
        F.lit(day).alias("posted_date"),
        F.lit(day).alias("sync_date"),
        F.concat(user, F.lit("-chk")).alias("account_id"),
        F.concat(user, F.lit("-item")).alias("item_id"),
    )
    changes = (
        delta.conform(fresh, TRANSACTIONS)
        .unionByName(delta.conform(modified, TRANSACTIONS))
        .unionByName(delta.conform(late_rows, TRANSACTIONS))
        .unionByName(delta.conform(recat_rows, TRANSACTIONS))
    )
    changes = spark.createDataFrame(changes.collect(), schema=changes.schema)  # pin
    log_changes(spark, lake, day, changes.select("user_id", F.col("posted_month").alias("month")))
    log_series(spark, lake, day, changes)  # the bench's edits keep each row's merchant
    months = sorted({r[0] for r in changes.select("posted_month").distinct().collect()})
    delta.merge(spark, lake, TRANSACTIONS, changes, partitions=months)
    obs = (
        delta.read_table(spark, lake, BALANCE_OBSERVATIONS)
        .filter(F.col("date") == F.lit(day - timedelta(days=1)))
        .withColumn("date", F.lit(day))
        .withColumn("month", F.lit(f"{day:%Y-%m}"))
        .withColumn("balance_current", (F.col("balance_current") + 1).cast("decimal(18,2)"))
    )
    obs = spark.createDataFrame(obs.collect(), schema=obs.schema)
    delta.merge(spark, lake, BALANCE_OBSERVATIONS, obs, partitions=[f"{day:%Y-%m}"])
    return changes.count()


def nightly_gold(spark, lake, day: date) -> dict:  # noqa: ANN001
    from pipelines.gold.refresh import refresh_gold
    from pipelines.silver.changes import changed_cells
    from pipelines.wealth.refresh import recurring_night, refresh_net_worth

    out = {}
    t = time.perf_counter()
    cells = changed_cells(spark, lake, day)
    result = refresh_gold(spark, lake, cells, day)
    out["spend_budgets_unusual_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    recurring_night(spark, lake, day, [])
    out["recurring_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    refresh_net_worth(spark, lake, day)
    out["net_worth_s"] = round(time.perf_counter() - t, 2)
    out["total_s"] = round(sum(v for k, v in out.items() if k.endswith("_s")), 2)
    out["cells"] = result.cells
    out["steps"] = result.steps
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--years", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--per-day", type=int, default=2)
    args = ap.parse_args()

    from lake.lake import Lake
    from lake.spark import spark_session
    from pipelines.categories.refresh import seed_reference
    from pipelines.gold.refresh import rebuild_gold

    spark = spark_session()
    results = {}
    for years in args.years:
        root = Path(tempfile.mkdtemp(prefix=f"finlake-gold-{years}y-"))
        lake = Lake(str(root / "lake"))
        seed_reference(spark, lake)
        t = time.perf_counter()
        n = synth_history(spark, lake, args.users, years, args.per_day)
        gen = time.perf_counter() - t
        print(
            f"[{years}y] history: {n:,} silver rows, {args.users} users, written in {gen:.1f}s",
            flush=True,
        )
        t = time.perf_counter()
        rebuild_gold(spark, lake, END)
        rebuild = time.perf_counter() - t
        print(f"[{years}y] full gold rebuild: {rebuild:.1f}s", flush=True)
        nights = []
        for day in (END + timedelta(days=1), END + timedelta(days=2)):
            t = time.perf_counter()
            changed = night_of_changes(spark, lake, args.users, day, args.per_day)
            applied = time.perf_counter() - t
            timing = nightly_gold(spark, lake, day)
            timing["silver_changes_applied_s_untimed"] = round(applied, 1)
            nights.append(timing)
            print(f"[{years}y] night {day}: {changed:,} changed rows -> {timing}", flush=True)
        results[years] = {
            "silver_rows": n,
            "changed_rows": changed,
            "rebuild_s": round(rebuild, 1),
            "warmup": nights[0],
            "measured": nights[1],
        }
        shutil.rmtree(root, ignore_errors=True)
    print("\nsummary (second night of each):")
    print(
        f"{'history':>8} {'silver rows':>12} {'changed':>8} {'gold total s':>13} "
        f"{'spend+budgets s':>16} {'recurring s':>12} {'net worth s':>12} {'rebuild s':>10}"
    )
    for years, r in results.items():
        m = r["measured"]
        print(
            f"{years:>7}y {r['silver_rows']:>12,} {r['changed_rows']:>8,} {m['total_s']:>13} "
            f"{m['spend_budgets_unusual_s']:>16} {m['recurring_s']:>12} {m['net_worth_s']:>12} "
            f"{r['rebuild_s']:>10}"
        )
    if len(results) >= 2:
        lo, hi = min(results), max(results)
        ratio = results[hi]["measured"]["total_s"] / results[lo]["measured"]["total_s"]
        print(
            f"ratio nightly gold refresh {hi}y / {lo}y: {ratio:.2f} "
            f"(history ratio {results[hi]['silver_rows'] / results[lo]['silver_rows']:.1f}x)"
        )
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.system()}",
                "results": {str(k): v for k, v in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
