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

from pipelines.categories.categorise import CATEGORY_COLUMNS, apply_layers
from pipelines.categories.distinct import attach
from pipelines.categories.merchants import merchant_columns

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
    return merchant_columns(shaped_rows(latest), "description", "merchant").drop(
        "merchant_display")


def categorised_rows(latest: DataFrame, layers: DataFrame, overrides: DataFrame,
                     user_rules: DataFrame | None = None) -> DataFrame:
    """Silver rows for the newest change of each key, merchant key and category set.

    ``layers`` holds, once per distinct (``description``, ``merchant``) pair of the day, its
    ``merchant_key`` and what rules and the model say
    (:func:`pipelines.categories.categorise.pair_layers`); it is looked up null-safe, and only
    a person's override (and, for people who have them, their rules) is joined per row."""
    rows = shaped_rows(latest).drop(*CATEGORY_COLUMNS)
    return apply_layers(attach(rows, layers, ["description", "merchant"]), overrides,
                        user_rules)


def description_pairs(changes: DataFrame) -> DataFrame:
    """The distinct (``description``, ``merchant``) pairs of a batch of changes: every
    change's, so they cover the newest change of each key."""
    return changes.select(F.col("name").alias("description"),
                          F.col("merchant_name").alias("merchant")).distinct()


def shaped_rows(latest: DataFrame) -> DataFrame:
    """Silver-shaped rows for the newest change of each key, ``merchant_key`` still empty."""
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
        F.lit(None).cast("string").alias("merchant_key"),  # set per distinct pair
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
