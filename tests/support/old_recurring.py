"""Recurring payments' refresh as it was before issue 21 (every series of each person whose
transactions changed, and of each person with a series turning missed, recomputed over 27
months), frozen here as the reference the per-series night in ``pipelines/wealth/refresh.py``
is measured against (``bench/gold_recurring.py``). Only for tests and benches. How a series
is detected (``pipelines/wealth/recurring.py`` ``recurring_payments``) did not change and is
shared; what is frozen is which series a night recomputes.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lake import delta
from lake.tables import RECURRING_PAYMENTS, TRANSACTIONS
from pipelines.wealth.recurring import CADENCES, KEYS, lookback_months, recurring_payments
from quality.validation import audit_before_publish

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from lake.lake import Lake


def due_users(stored: DataFrame, as_of: date) -> DataFrame:
    grace: Column = F.lit(None).cast("int")
    for c in CADENCES:
        grace = F.when(F.col("cadence") == c.name, F.lit(c.grace_days)).otherwise(grace)
    missed = F.lit(as_of) > F.date_add(F.col("next_expected_date"), grace)
    return (stored.filter(~F.coalesce(F.col("missed_payment"), F.lit(False)) & missed)
            .select("user_id").distinct())


def refresh_recurring(spark: SparkSession, lake: Lake, as_of: date, users: DataFrame) -> int:
    t = RECURRING_PAYMENTS
    silver = delta.read_table(spark, lake, TRANSACTIONS)
    silver = silver.filter(F.col("posted_month").isin(*lookback_months(as_of)))
    stored = delta.read_table(spark, lake, t)
    in_scope = users.select(F.col("user_id").cast("string").alias("user_id")).unionByName(
        due_users(stored, as_of)).distinct().collect()
    if not in_scope:
        return 0
    scope = spark.createDataFrame(in_scope, schema="user_id string")
    silver = silver.join(scope, "user_id", "left_semi")
    stored = stored.join(scope, "user_id", "left_semi")
    found = delta.pin(spark, delta.conform(recurring_payments(silver, as_of), t))
    audit_before_publish(lake, "recurring_payments", found, as_of.isoformat(), as_of, [])
    gone = stored.join(found.select(*KEYS), list(KEYS), "left_anti")
    source = delta.pin(spark, found.withColumn("_delete", F.lit(False)).unionByName(
        delta.conform(gone, t).withColumn("_delete", F.lit(True))))
    cols = [c for c in t.column_names if c not in t.keys]
    return delta.run_merge(spark, lake, t, source, [
        "WHEN MATCHED AND s._delete THEN DELETE",
        f"WHEN MATCHED AND ({delta.differs(cols)}) THEN UPDATE SET "
        + ", ".join(f"t.{c} = s.{c}" for c in cols),
        f"WHEN NOT MATCHED AND NOT s._delete THEN INSERT ({', '.join(t.column_names)}) "
        f"VALUES ({', '.join(f's.{c}' for c in t.column_names)})",
    ])
