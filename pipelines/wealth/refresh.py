"""Wealth's lake-facing refresh: daily balances and net worth, and recurring payments."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lake import delta
from lake.lake import Lake
from lake.tables import BALANCE_OBSERVATIONS
from quality.validation import Audit, audit_before_publish

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def refresh_net_worth(spark: SparkSession, lake: Lake, day: date,
                      audits: list[Audit] | None = None) -> int:
    """``balances_daily`` and ``net_worth_daily`` for one day: each account's last good
    balance on or before it (carried forward), then assets - liabilities per user.

    When ``balances_daily`` has the day before, only the day's observations are read and
    the rest is carried from it; otherwise (first run, a gap) all observations up to the day.
    """
    from datetime import timedelta

    from lake.tables import BALANCES_DAILY, NET_WORTH_DAILY
    from pipelines.wealth.networth import (
        balance_snapshots,
        balances_daily,
        carry_forward,
        net_worth_daily,
    )

    observations = delta.read_table(spark, lake, BALANCE_OBSERVATIONS)
    before = day - timedelta(days=1)
    previous = delta.read_table(spark, lake, BALANCES_DAILY).filter(
        (F.col("month") == f"{before:%Y-%m}") & (F.col("date") == F.lit(before).cast("date")))
    month = f"{day:%Y-%m}"
    if previous.isEmpty():
        observed = observations.filter((F.col("month") <= month)
                                       & (F.col("date") <= F.lit(day).cast("date")))
        balances = balances_daily(balance_snapshots(observed), day, day)
    else:
        observed = observations.filter((F.col("month") == month)
                                       & (F.col("date") == F.lit(day).cast("date")))
        balances = carry_forward(previous, balance_snapshots(observed), day)
    balances = balances.withColumn("month", F.lit(month))
    balances = delta.pin(spark, balances)
    worth = net_worth_daily(balances).withColumn("month", F.lit(month))
    worth = delta.pin(spark, worth)
    audits = [] if audits is None else audits
    audit_before_publish(lake, "balances_daily", balances, day.isoformat(), day, audits)
    audit_before_publish(lake, "net_worth_daily", worth, day.isoformat(), day, audits)
    same = delta.differs(("balance", "observed", "type"))
    n = delta.merge(spark, lake, BALANCES_DAILY, balances, changed=same, partitions=[month])
    cols = ("assets", "liabilities", "net_worth", "accounts", "stale_accounts")
    n += delta.merge(spark, lake, NET_WORTH_DAILY, worth, partitions=[month],
                     changed=delta.differs(cols))
    return n


def refresh_recurring(spark: SparkSession, lake: Lake, as_of: date | None = None,
                      users: DataFrame | None = None, audits: list[Audit] | None = None
                      ) -> int:
    """Recurring payments as of ``as_of`` (default: the freshest sync in silver, so replays
    give the same), detected in the last ``LOOKBACK_MONTHS`` months of silver.

    With ``users`` (a frame with ``user_id``: whose transactions changed) only their series
    and those of users with a series turning missed by ``as_of`` are recomputed: their rows
    are updated, inserted or deleted; every other user's rows are left as they are.
    """
    from lake.tables import RECURRING_PAYMENTS, TRANSACTIONS
    from pipelines.wealth.recurring import KEYS, due_users, lookback_months, recurring_payments

    t = RECURRING_PAYMENTS
    silver = delta.read_table(spark, lake, TRANSACTIONS)
    if as_of is None:
        as_of = silver.agg(F.max("sync_date")).collect()[0][0]
        if as_of is None:
            return 0
    silver = silver.filter(F.col("posted_month").isin(*lookback_months(as_of)))
    stored = delta.read_table(spark, lake, t)
    if users is not None:
        in_scope = users.select(F.col("user_id").cast("string").alias("user_id")).unionByName(
            due_users(stored, as_of)).distinct().collect()
        if not in_scope:
            return 0
        scope = spark.createDataFrame(in_scope, schema="user_id string")  # pin
        silver = silver.join(scope, "user_id", "left_semi")
        stored = stored.join(scope, "user_id", "left_semi")
    found = delta.conform(recurring_payments(silver, as_of), t)
    found = delta.pin(spark, found)
    audit_before_publish(lake, "recurring_payments", found, as_of.isoformat(), as_of,
                         [] if audits is None else audits)
    gone = stored.join(found.select(*KEYS), list(KEYS), "left_anti")
    source = found.withColumn("_delete", F.lit(False)).unionByName(
        delta.conform(gone, t).withColumn("_delete", F.lit(True)))
    source = delta.pin(spark, source)
    cols = [c for c in t.column_names if c not in t.keys]
    changed = delta.differs(cols)
    return delta.run_merge(spark, lake, t, source, [
        "WHEN MATCHED AND s._delete THEN DELETE",
        f"WHEN MATCHED AND ({changed}) THEN UPDATE SET "
        + ", ".join(f"t.{c} = s.{c}" for c in cols),
        f"WHEN NOT MATCHED AND NOT s._delete THEN INSERT ({', '.join(t.column_names)}) "
        f"VALUES ({', '.join(f's.{c}' for c in t.column_names)})",
    ])
