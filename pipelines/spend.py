"""Spend aggregation, reduce side: transaction -> (user, month, category) -> sums."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

UNCATEGORISED = "UNCATEGORIZED"
# Money moving between a user's own accounts is not spend.
NOT_SPEND_PRIMARY = ("TRANSFER_IN", "TRANSFER_OUT")
NOT_SPEND_DETAILED = ("LOAN_PAYMENTS_CREDIT_CARD_PAYMENT",)


def effective_category(df: DataFrame) -> DataFrame:
    """The category people see: their own choice first, then the automatic one."""
    return df.withColumn(
        "effective_category", F.coalesce("user_category", "category", F.lit(UNCATEGORISED))
    )


def countable(silver: DataFrame) -> DataFrame:
    """Rows that count in aggregates: live, posted (pending and superseded rows excluded)."""
    return silver.filter((F.col("status") == "live") & ~F.col("pending"))


def monthly_spend(silver: DataFrame, categories: DataFrame, months: Sequence[str]) -> DataFrame:
    """``monthly_spend`` cells for the given months (positive = money out, refunds netted)."""
    cats = categories.select(
        F.col("category").alias("_cat"), F.col("category_primary").alias("_primary")
    )
    rows = effective_category(countable(silver).filter(F.col("posted_month").isin(list(months))))
    rows = rows.join(F.broadcast(cats), rows["effective_category"] == cats["_cat"], "left")
    primary = F.coalesce("_primary", F.lit(UNCATEGORISED))
    rows = rows.filter(
        ~primary.isin(*NOT_SPEND_PRIMARY) & ~F.col("effective_category").isin(*NOT_SPEND_DETAILED)
    )
    return rows.groupBy(
        "user_id",
        F.col("posted_month").alias("month"),
        primary.alias("category_primary"),
        F.col("effective_category").alias("category"),
    ).agg(
        F.sum("amount").cast("decimal(18,2)").alias("amount"),
        F.count(F.lit(1)).alias("txn_count"),
    )
