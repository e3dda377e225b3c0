"""A person's manual category for one transaction, and the gold cell it changes."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from lake import delta
from lake.lake import Lake
from pipelines.silver.refresh import latest_sync_day

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def set_user_category(spark: SparkSession, lake: Lake, user_id: str, txn_id: str,
                      category: str, as_of: date | None = None) -> list[str]:
    """A person's manual category for one transaction (never changed automatically);
    refreshes that user's gold cell for the month (budgets as of ``as_of``, default the
    newest sync day). Returns the months touched ([] if no row)."""
    from pyspark.sql import functions as F

    from lake.tables import TRANSACTIONS

    row = (delta.read_table(spark, lake, TRANSACTIONS)
           .filter((F.col("txn_id") == txn_id) & (F.col("user_id") == user_id))
           .select(*TRANSACTIONS.keys, "posted_month").collect())
    if not row:
        return []
    months = [row[0]["posted_month"]]
    as_of = as_of or latest_sync_day(spark, lake)
    source = spark.createDataFrame([(*[row[0][k] for k in TRANSACTIONS.keys], category)],
                                   schema="account_id string, partner_txn_id string, "
                                          "user_category string")
    delta.run_merge(spark, lake, TRANSACTIONS, source,
                    ["WHEN MATCHED THEN UPDATE SET t.user_category = s.user_category"],
                    partitions=months)
    from pipelines.gold.refresh import refresh_gold

    refresh_gold(spark, lake, spark.createDataFrame([(user_id, months[0])],
                                                    "user_id string, month string"), as_of)
    return months
