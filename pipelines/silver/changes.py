"""The ledgers of what a day changes: silver's hand-over to gold.

Silver logs the (user_id, month) cells a sync day is about to change in ``gold_changes``
(before its MERGE, so a crash cannot lose one); gold reads the day's cells and recomputes
only them (:mod:`pipelines.gold.refresh`). Corrections log the cells they change the same way.
Beside it, ``series_changes`` holds the (user_id, merchant_key) series the day changes, for
recurring payments (:mod:`pipelines.wealth.refresh`); corrections change categories only,
which recurring payments do not read, so only the silver MERGE logs series.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lake import delta
from lake.lake import Lake
from lake.tables import GOLD_CHANGES, MONTHLY_CASHFLOW, SERIES_CHANGES, TRANSACTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CELL = ("user_id", "month")


def log_changes(spark: SparkSession, lake: Lake, sync_date: date, cells: DataFrame) -> int:
    """Record the (user_id, month) cells a sync day changes (insert-only, idempotent)."""
    rows = cells.select("user_id", "month").filter(
        F.col("user_id").isNotNull() & F.col("month").isNotNull()
        & (F.col("month") != "unseen")).distinct().withColumn(
        "sync_date", F.lit(sync_date).cast("date"))
    return delta.merge(spark, lake, GOLD_CHANGES, rows, partitions=[sync_date.isoformat()],
                       changed="FALSE")


def log_series(spark: SparkSession, lake: Lake, sync_date: date, series: DataFrame) -> int:
    """Record the (user_id, merchant_key) series a sync day changes (insert-only,
    idempotent). Rows without a merchant are in no series."""
    rows = series.select("user_id", "merchant_key").filter(
        F.col("user_id").isNotNull() & F.col("merchant_key").isNotNull()
        & (F.trim(F.col("merchant_key")) != "")).distinct().withColumn(
        "sync_date", F.lit(sync_date).cast("date"))
    return delta.merge(spark, lake, SERIES_CHANGES, rows, partitions=[sync_date.isoformat()],
                       changed="FALSE")


def changed_series(spark: SparkSession, lake: Lake, sync_date: date) -> DataFrame | None:
    """The day's logged series, or None when the lake has no series log yet (a lake from
    before it: the day's changes are not known by series)."""
    if not lake.exists(SERIES_CHANGES):
        return None
    return delta.read_table(spark, lake, SERIES_CHANGES).filter(
        F.col("sync_date") == F.lit(sync_date).cast("date")).select(
        "user_id", "merchant_key").distinct()


def changed_cells(spark: SparkSession, lake: Lake, sync_date: date,
                  user_id: str | None = None) -> DataFrame:
    cells = delta.read_table(spark, lake, GOLD_CHANGES).filter(
        F.col("sync_date") == F.lit(sync_date).cast("date"))
    if user_id:
        cells = cells.filter(F.col("user_id") == user_id)
    return cells.select(*CELL).distinct()


def all_cells(spark: SparkSession, lake: Lake) -> DataFrame:
    """Every cell silver or gold has: the input of a full rebuild."""
    silver = delta.read_table(spark, lake, TRANSACTIONS).select(
        "user_id", F.col("posted_month").alias("month"))
    gold = delta.read_table(spark, lake, MONTHLY_CASHFLOW).select(*CELL)
    return silver.unionByName(gold).filter(F.col("month") != "unseen").distinct()
