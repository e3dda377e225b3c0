"""The silver transactions MERGE: order-independent, idempotent, partition-pruned.

A change is applied only if its ``source_seq`` is newer than the row's, so any replay of
any partition, in any order, converges to the same table, and a replay with nothing new
writes nothing. Removals keep the row as a tombstone (status ``removed``), so an older
``added`` replayed later cannot bring it back; it can only fill in the tombstone's content
when it is the newest content seen (``content_seq``), exactly as an in-order run leaves it.
Partner removals carry no date, so the months a batch touches are found by looking its keys
up in silver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lake.catalog import Lake
from lake.delta import read_table, run_merge
from lake.tables import TRANSACTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

UNSEEN_MONTH = "unseen"  # tombstones of removals whose transaction was never seen
KEYS = list(TRANSACTIONS.keys)
# Columns a partner change may set; user_category and superseded_by belong to finlake.
PARTNER_COLUMNS = [c for c in TRANSACTIONS.column_names
                   if c not in ("txn_id", "user_category", "superseded_by", "status",
                                "removed_at")]
BOOKKEEPING = ["source_seq", "raw_ref", "sync_date", "updated_at"]
CONTENT = [c for c in PARTNER_COLUMNS if c not in BOOKKEEPING]


def place_rows(spark: SparkSession, lake: Lake, rows: DataFrame) -> tuple[DataFrame, list[str]]:
    """Give each batch row the month it lives in and list every month the batch touches."""
    current = read_table(spark, lake, TRANSACTIONS).select(
        *KEYS, F.col("posted_month").alias("_current_month"))
    placed = rows.join(current, KEYS, "left").withColumn(
        "posted_month",
        F.when(F.col("change") == "remove",
               F.coalesce("_current_month", F.lit(UNSEEN_MONTH)))
        .otherwise(F.col("posted_month")),
    )
    months_df = placed.select(F.col("posted_month").alias("m")).union(
        placed.select(F.col("_current_month").alias("m"))).filter("m IS NOT NULL").distinct()
    months = sorted(r["m"] for r in months_df.collect())
    return placed.drop("_current_month"), months


def merge_transactions(spark: SparkSession, lake: Lake, rows: DataFrame, months: list[str]
                       ) -> int:
    """Apply the batch's newest change per key to silver; returns rows affected."""
    newer = "s.source_seq > t.source_seq OR t.source_seq IS NULL"
    removal = ", ".join([
        "t.status = CASE WHEN t.superseded_by IS NOT NULL THEN 'superseded' ELSE 'removed' END",
        "t.removed_at = s.removed_at",
        *[f"t.{c} = s.{c}" for c in BOOKKEEPING],
    ])
    upsert = ", ".join([
        *[f"t.{c} = s.{c}" for c in PARTNER_COLUMNS],
        "t.status = CASE WHEN t.superseded_by IS NOT NULL AND s.pending THEN 'superseded' "
        "ELSE 'live' END",
        "t.removed_at = NULL",
    ])
    cols = TRANSACTIONS.column_names
    insert = f"INSERT ({', '.join(cols)}) VALUES ({', '.join('s.' + c for c in cols)})"
    older_content = ("s.source_seq < t.source_seq AND "
                     "(t.content_seq IS NULL OR s.source_seq > t.content_seq)")
    fill = ", ".join(f"t.{c} = s.{c}" for c in CONTENT)
    whens = [
        f"WHEN MATCHED AND s.change = 'remove' AND ({newer}) THEN UPDATE SET {removal}",
        f"WHEN MATCHED AND s.change = 'upsert' AND ({newer}) THEN UPDATE SET {upsert}",
        f"WHEN MATCHED AND s.change = 'upsert' AND {older_content} THEN UPDATE SET {fill}",
        f"WHEN NOT MATCHED THEN {insert}",
    ]
    return run_merge(spark, lake, TRANSACTIONS, rows, whens, partitions=months)


def apply_supersession(spark: SparkSession, lake: Lake, months: list[str]) -> int:
    """Mark pending rows replaced by a posted row; carry a user's category over to it.

    Pending rows linked by ``pending_transaction_id`` get ``superseded_by`` (and status
    ``superseded`` once the partner removed them); they stay for audit and are excluded
    from every aggregate. The posted row inherits the pending row's ``user_category``.
    """
    silver = read_table(spark, lake, TRANSACTIONS)
    posted = silver.filter(F.col("posted_month").isin(months) & ~F.col("pending")
                           & F.col("pending_partner_txn_id").isNotNull()
                           & (F.col("status") == "live"))
    links = posted.select(
        "account_id", F.col("pending_partner_txn_id").alias("partner_txn_id"),
        F.col("partner_txn_id").alias("superseded_by"),
        F.col("user_category").alias("_posted_category"))
    pendings = silver.filter(F.col("pending")).select(
        *KEYS, "posted_month", "superseded_by", "user_category").alias("p")
    found = links.join(pendings.drop("superseded_by"), KEYS, "inner")
    if not found.limit(1).collect():
        return 0
    pending_months = sorted(r[0] for r in found.select("posted_month").distinct().collect())
    n = run_merge(
        spark, lake, TRANSACTIONS, found.select(*KEYS, "superseded_by"),
        ["WHEN MATCHED AND t.superseded_by IS NULL THEN UPDATE SET "
         "t.superseded_by = s.superseded_by, "
         "t.status = CASE WHEN t.status = 'removed' THEN 'superseded' ELSE t.status END"],
        partitions=pending_months,
    )
    carry = found.filter(F.col("user_category").isNotNull() & F.col("_posted_category").isNull())
    carry = carry.select("account_id", F.col("superseded_by").alias("partner_txn_id"),
                         "user_category")
    if carry.limit(1).collect():
        n += run_merge(
            spark, lake, TRANSACTIONS, carry,
            ["WHEN MATCHED AND t.user_category IS NULL THEN UPDATE SET "
             "t.user_category = s.user_category"],
            partitions=months,
        )
    return n
