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

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from core.months import shift_month
from lake.delta import read_table, run_merge
from lake.lake import Lake
from lake.tables import TRANSACTIONS
from pipelines.silver.carry import carry_annotations
from pipelines.silver.pending import DEFAULT_WINDOW_DAYS, pending_matches

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

UNSEEN_MONTH = "unseen"  # tombstones of removals whose transaction was never seen
KEYS = list(TRANSACTIONS.keys)
# Columns a partner change may set; user_category and superseded_by belong to finlake.
PARTNER_COLUMNS = [c for c in TRANSACTIONS.column_names
                   if c not in ("txn_id", "user_category", "superseded_by", "supersede_method",
                                "partner_duplicate", "status", "removed_at")]
BOOKKEEPING = ["source_seq", "raw_ref", "sync_date", "updated_at"]
CONTENT = [c for c in PARTNER_COLUMNS if c not in BOOKKEEPING]


def place_in_months(spark: SparkSession, lake: Lake, rows: DataFrame,
                    stage: Callable[[DataFrame], DataFrame] | None = None
                    ) -> tuple[DataFrame, list[str], list[tuple[str, str]], DataFrame]:
    """Give each batch row the month it lives in; list every month the batch touches and
    every (user_id, month) cell, the month a row leaves included. ``stage`` writes the
    placed rows once (write-audit-publish) and returns them read back.

    The fourth value is every (user_id, merchant_key) series the batch changes, the merchant
    a modified or removed row leaves included: lazy, it reads silver, so it must be used
    before the MERGE (afterwards the merchant a row left is gone)."""
    current = read_table(spark, lake, TRANSACTIONS).select(
        *KEYS, F.col("posted_month").alias("_current_month"))
    placed = rows.join(current, KEYS, "left").withColumn(
        "posted_month",
        F.when(F.col("change") == "remove",
               F.coalesce("_current_month", F.lit(UNSEEN_MONTH)))
        .otherwise(F.col("posted_month")),
    )
    if stage is not None:
        placed = stage(placed)
    cells_df = placed.select("user_id", F.col("posted_month").alias("m")).union(
        placed.select("user_id", F.col("_current_month").alias("m"))).filter(
        "m IS NOT NULL").distinct()
    cells = sorted((r["user_id"], r["m"]) for r in cells_df.collect())
    months = sorted({m for _, m in cells})
    stored = placed.filter(F.col("_current_month").isNotNull()).select(*KEYS)
    left = read_table(spark, lake, TRANSACTIONS).filter(
        F.col("posted_month").isin(*months)).select(*KEYS, "user_id", "merchant_key").join(
        stored, KEYS, "left_semi")
    series = placed.select("user_id", "merchant_key").unionByName(
        left.select("user_id", "merchant_key"))
    return (placed.drop("_current_month"), months, [c for c in cells if c[1] != UNSEEN_MONTH],
            series)


def merge_transactions(spark: SparkSession, lake: Lake, rows: DataFrame, months: list[str]
                       ) -> int:
    """Apply the batch's newest change per key to silver; returns rows affected."""
    newer = "s.source_seq > t.source_seq OR t.source_seq IS NULL"
    removal = ", ".join([
        "t.status = CASE WHEN t.superseded_by IS NOT NULL THEN 'superseded' ELSE 'removed' END",
        "t.removed_at = s.removed_at",
        *[f"t.{c} = s.{c}" for c in BOOKKEEPING],
    ])
    # The partner re-sent an id it had delivered as new, with different details: apply the
    # newer details and flag the row (observational: set when seen in stream order).
    resent = ("s.change_kind = 'added' AND t.status IN ('live', 'duplicate') "
              "AND NOT (t.amount <=> s.amount "
              "AND t.posted_date <=> s.posted_date AND t.description <=> s.description)")
    upsert = ", ".join([
        *[f"t.{c} = s.{c}" for c in PARTNER_COLUMNS],
        f"t.partner_duplicate = coalesce(t.partner_duplicate, false) OR ({resent})",
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


def neighbour_months(months: list[str]) -> list[str]:
    """The months plus the one before and after each (a posting lands days after its pending)."""
    out = set()
    for m in months:
        if m == UNSEEN_MONTH:
            continue
        out.update(shift_month(m, delta) for delta in (-1, 0, 1))
    return sorted(out)


def apply_supersession(spark: SparkSession, lake: Lake, months: list[str],
                       window_days: int = DEFAULT_WINDOW_DAYS) -> int:
    """Mark pending rows replaced by a posted row; carry a user's category over to it.

    Runs over the batch's months and their neighbours, so a pending row and its posting
    are paired whichever arrived first. Superseded pending rows stay for audit (status
    ``superseded``, ``superseded_by``, ``supersede_method`` link|heuristic) and are excluded
    from every aggregate. The posted row inherits the pending row's ``user_category``, and
    its tags and note (pipelines/silver/carry.py).
    """
    scope = neighbour_months(months)
    if not scope:
        return 0
    silver = read_table(spark, lake, TRANSACTIONS).filter(F.col("posted_month").isin(scope))
    used = silver.filter(F.col("superseded_by").isNotNull()).select(
        "account_id", F.col("superseded_by").alias("partner_txn_id"))
    posted = silver.filter(~F.col("pending") & (F.col("status") == "live")).join(
        used, KEYS, "left_anti")
    pendings = silver.filter(F.col("pending") & F.col("superseded_by").isNull()
                             & F.col("status").isin("live", "removed"))
    found = pending_matches(posted, pendings, window_days).join(
        silver.select(*KEYS, "posted_month"), KEYS)
    # Pin the matches: the first MERGE changes the rows they were computed from.
    pairs = found.collect()
    if not pairs:
        return 0
    found = spark.createDataFrame(pairs, schema=found.schema)
    carry_annotations(spark, lake, found, silver)  # tags and notes: before the marking
    pending_months = sorted({r["posted_month"] for r in pairs})
    n = run_merge(
        spark, lake, TRANSACTIONS, found,
        ["WHEN MATCHED AND t.superseded_by IS NULL THEN UPDATE SET "
         "t.superseded_by = s.superseded_by, t.supersede_method = s.supersede_method, "
         "t.status = 'superseded'"],
        partitions=pending_months,
    )
    carry_annotations(spark, lake, found, silver)  # and after: any made while marking
    carry = found.filter(F.col("pending_user_category").isNotNull()
                         & F.col("posted_user_category").isNull()).select(
        "account_id", F.col("superseded_by").alias("partner_txn_id"),
        F.col("pending_user_category").alias("user_category"))
    if carry.limit(1).collect():
        n += run_merge(
            spark, lake, TRANSACTIONS, carry,
            ["WHEN MATCHED AND t.user_category IS NULL THEN UPDATE SET "
             "t.user_category = s.user_category"],
            partitions=scope,
        )
    return n
