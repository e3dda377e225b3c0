"""Change records -> silver transaction rows (pure DataFrame transforms).

The raw contract (``pipelines/raw/contract.py``) has already turned the partner pages into typed
change records and quarantined what failed. Every change carries ``source_seq``: its position
in the partner's change stream (update, attempt, page, index within the page), zero-padded so
that string order is stream order. Merges apply a change only when it is newer than what
silver holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def _date(name: str) -> Column:
    """Partner date text (checked by the raw contract) as a date."""
    return F.col(name).try_cast("date")


def latest_changes(changes: DataFrame) -> DataFrame:
    """The newest change per (account_id, transaction_id) within a batch."""
    w = Window.partitionBy("account_id", "transaction_id").orderBy(F.col("source_seq").desc())
    return changes.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn")


def transaction_rows(latest: DataFrame) -> DataFrame:
    """Silver-shaped rows for the newest change of each key (categories still empty)."""
    from pipelines.categories.merchants import merchant_columns

    return merchant_columns(_transaction_rows(latest), "description", "merchant").drop(
        "merchant_display")


def _transaction_rows(latest: DataFrame) -> DataFrame:
    removed = F.col("change") == "remove"
    posted_date = _date("date")
    return latest.select(
        F.sha2(F.concat_ws("|", "account_id", "transaction_id"), 256).substr(1, 32)
        .alias("txn_id"),
        "user_id", "item_id", "account_id",
        F.col("transaction_id").alias("partner_txn_id"),
        "pending",
        F.col("pending_transaction_id").alias("pending_partner_txn_id"),
        F.col("amount").cast("decimal(18,2)").alias("amount"),
        F.col("iso_currency_code").alias("currency"),
        posted_date.alias("posted_date"),
        _date("authorized_date").alias("authorized_date"),
        F.col("name").alias("description"),
        F.col("merchant_name").alias("merchant"),
        F.lit(None).cast("string").alias("merchant_key"),  # set by merchant_columns below
        "payment_channel",
        F.lit(None).cast("string").alias("category"),
        F.lit("none").alias("category_source"),
        F.lit(None).cast("double").alias("category_confidence"),
        F.lit(None).cast("string").alias("user_category"),
        F.when(removed, "removed").otherwise("live").alias("status"),
        F.when(removed, F.col("observed_at")).alias("removed_at"),
        F.lit(None).cast("string").alias("superseded_by"),
        F.lit(None).cast("string").alias("supersede_method"),
        F.lit(False).alias("partner_duplicate"),
        "source_seq",
        F.when(~removed, F.col("source_seq")).alias("content_seq"),
        "raw_ref", "sync_date",
        F.col("observed_at").alias("updated_at"),
        F.date_format(posted_date, "yyyy-MM").alias("posted_month"),
        "change", "change_kind",
    )


def account_rows(accounts: DataFrame) -> DataFrame:
    """Latest balance snapshot per account from the day's staged account records."""
    rows = accounts.select(
        "account_id", "user_id", "item_id", "institution_id", "name", "mask", "type",
        "subtype",
        F.col("balance_current").cast("decimal(18,2)").alias("balance_current"),
        F.col("balance_available").cast("decimal(18,2)").alias("balance_available"),
        "currency", "source_seq", "last_synced_at",
    )
    w = Window.partitionBy("account_id").orderBy(F.col("source_seq").desc())
    return rows.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn")


def review_balances(incoming: DataFrame, current: DataFrame) -> DataFrame:
    """Hold back implausible balance jumps: keep the last accepted balance, flag for review.

    A jump is a move of more than max($10,000, 3x the previous balance) between two
    syncs. The held-back figure is kept in ``reported_balance``; a later plausible balance
    clears the flag. (Sign flips alone are normal: an overdrawn checking account.)
    """
    prev = current.select(
        "account_id", F.col("balance_current").alias("_prev"),
        F.col("balance_available").alias("_prev_available"))
    j = incoming.join(prev, "account_id", "left")
    new, old = F.col("balance_current"), F.col("_prev")
    jump = old.isNotNull() & new.isNotNull() & (
        F.abs(new - old) > F.greatest(F.lit(10000), F.abs(old) * 3))
    return j.select(
        *[c for c in incoming.columns
          if c not in ("balance_current", "balance_available", "needs_review",
                       "review_reason", "reported_balance")],
        F.when(jump, old).otherwise(new).alias("balance_current"),
        F.when(jump, F.col("_prev_available")).otherwise(F.col("balance_available"))
        .alias("balance_available"),
        jump.alias("needs_review"),
        F.when(jump, F.concat(F.lit("balance jumped from "), old.cast("string"),
                              F.lit(" to "), new.cast("string"))).alias("review_reason"),
        F.when(jump, new).alias("reported_balance"),
    )
