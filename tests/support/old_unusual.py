"""Unusual activity as it was before issue 21 (every judged cell's payments with windows over
14 months of classified silver), frozen here as the reference the running-statistics path in
``pipelines/gold/unusual.py`` and ``refresh.py`` must equal. Only for tests and benches.
The rules applied to the baselines (``unusual.judge``) did not change and are shared; what is
frozen is how the baselines were computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from core.months import with_months_before
from lake import delta
from lake.tables import MONTHLY_SPEND
from pipelines.gold import spend
from pipelines.gold.refresh import _classified, _names
from pipelines.gold.spend import MONEY
from pipelines.gold.unusual import (
    BASELINE_MONTHS,
    LOOKBACK_DAYS,
    LOOKBACK_MONTHS,
    SEASONED_DAYS,
    category_spikes,
    judge,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lake.lake import Lake

def transaction_flags(expenses: DataFrame, cells: DataFrame) -> DataFrame:
    """Flags for the payments in ``cells`` (user_id, month); ``expenses`` are the users'
    classified expense rows from ``LOOKBACK_MONTHS`` before the earliest cell on."""
    day = F.datediff(F.col("posted_date"), F.lit("1970-01-01").cast("date"))
    # Averages of exact decimals: a double's sum depends on the order rows arrive in, and a
    # baseline of 62.195 then rounded to 62.19 in one run and 62.20 in a rebuild.
    paid = F.when(F.col("amount") > 0, F.col("amount").cast(MONEY))
    e = expenses.withColumn("_d", day).withColumn("_paid", paid)
    at_merchant = (Window.partitionBy("user_id", "merchant_key").orderBy("_d")
                   .rangeBetween(-LOOKBACK_DAYS, -1))
    by_user = Window.partitionBy("user_id").orderBy("_d")
    e = (e.withColumn("_prior_n", F.count("_paid").over(at_merchant))
         .withColumn("_prior_avg", F.avg("_paid").over(at_merchant))
         .withColumn("_user_avg", F.avg("_paid").over(by_user.rangeBetween(-LOOKBACK_DAYS, -1)))
         .withColumn("_seasoned", F.count(F.lit(1)).over(
             by_user.rangeBetween(-LOOKBACK_DAYS, -SEASONED_DAYS)) > 0))
    judged = e.join(cells, (e["user_id"] == cells["_cu"]) & (e["posted_month"] == cells["_cm"]),
                    "left_semi").filter(F.col("merchant_key").isNotNull() & (F.col("amount") > 0))
    return judge(judged)


def flags(spark: SparkSession, lake: Lake, cells: DataFrame) -> DataFrame:
    """The old ``_refresh_unusual``'s rows for ``cells`` (user_id, month), not published."""
    months = sorted(r["month"] for r in cells.select("month").distinct().collect())
    users = cells.select("user_id").distinct()
    history = with_months_before(months, LOOKBACK_MONTHS)
    lookback = _classified(spark, lake, history, users)
    expenses = lookback.filter(F.col("flow") == spend.EXPENSE)
    judged = cells.select(F.col("user_id").alias("_cu"), F.col("month").alias("_cm"))
    out = transaction_flags(expenses, judged)
    base_months = with_months_before(months, BASELINE_MONTHS)
    primary_recent = spend.by_primary(delta.read_table(spark, lake, MONTHLY_SPEND).filter(
        F.col("month").isin(base_months)).join(users, "user_id", "left_semi"))
    active = lookback.filter(F.col("posted_month").isin(base_months)).select(
        "user_id", F.col("posted_month").alias("month")).distinct()
    return out.unionByName(category_spikes(primary_recent, active, judged, _names(spark)))
