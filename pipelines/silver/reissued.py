"""Transactions a partner re-issued under a new id: probable duplicates, counted once.

Some partners send a transaction they already delivered again under a NEW
``transaction_id`` and never remove the old one. Both ids are live partner records (silver
keeps both, and both reconcile with the partner), but they are one purchase: the copy must
not be counted twice. Pending→posted matching does not catch it (both rows are posted).

The rule (:func:`probable_duplicates`), deterministic from silver's rows:

- Rows are compared within a **content group**: same person, account, amount and posting
  date, and the same description once normalised (case, punctuation and spacing ignored).
  Only posted rows the partner still lists take part (live, or already flagged); removed,
  superseded and pending rows never do, and neither does a row the person kept (said "not a
  duplicate", ``duplicate_keeps``).
- A row's **arrival** is the partner update (``update_seq``, the first field of
  ``source_seq``) that delivered it. Rows delivered by the same update arrived at once.
- **Rows that arrive at once are different purchases.** If an update delivers N identical
  rows, they are N purchases: two $4.50 coffees on one day at one café, both present from
  the start (in one first full sync, or in one later update), are never merged.
- **A row arriving later, while an identical row already delivered is still listed, is a
  probable duplicate of it.** Within a group, rows are numbered in each update by stream
  position (1, 2, ...); a row numbered *k* in an update is a duplicate when an earlier update
  already delivered at least *k* identical rows (the largest number any earlier update
  delivered); it is then the duplicate of the row numbered *k* in the earliest update that
  delivered *k* (that row is never a duplicate itself). Rows beyond that number are new
  purchases: three coffees where two were known is one more coffee.
- If the partner removes the original, its copy has nothing earlier to duplicate and counts
  again; if it removes the copy, the copy is gone. Flags are recomputed from silver each time
  a month changes, so replays and any arrival order of partitions converge to the same flags.

Limits: an identical second purchase that reaches us in a *later* update than the first (a
second coffee bought after the day's first sync) looks exactly like a re-issue on the wire;
it is flagged as *probable* and listed for review, and ``finlake duplicate keep`` makes it
count again. A row's arrival is read from its newest change: when the partner modifies the
original after re-issuing it (content unchanged), the later-touched row of the pair is the
one flagged, and the pair still counts once.

A flagged row keeps every column and gets the status ``duplicate`` (beside ``live``,
``removed`` and ``superseded``): it counts in no aggregate (gold counts ``live`` rows,
pipelines/gold/spend.py ``countable``), it is listed in the dashboard's review queue as sent
twice (the same notion as ``partner_duplicate``, a partner re-sending what it had sent),
and the partner-truth reconciliation counts it as the partner's live record it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

from lake import delta
from lake.lake import Lake
from lake.tables import DUPLICATE_KEEPS, TRANSACTIONS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

LIVE, DUPLICATE = "live", "duplicate"
KEYS = list(TRANSACTIONS.keys)
GROUP = ["user_id", "account_id", "amount", "posted_date", "_desc"]
PAIR_COLUMNS = ["user_id", "txn_id", "account_id", "partner_txn_id", "posted_month",
                "posted_date", "amount", "description", "duplicate_of",
                "duplicate_of_txn_id"]


def normalised_description(col: Column) -> Column:
    """A description for comparison: lower case, every run of other than letters and digits
    one space, trimmed (never null: a missing description compares as empty)."""
    return F.trim(F.regexp_replace(F.lower(F.coalesce(col, F.lit(""))), "[^a-z0-9]+", " "))


def arrival(source_seq: Column) -> Column:
    """The partner update that delivered a row: ``source_seq``'s zero-padded update number."""
    return F.substring_index(source_seq, "-", 1)


def probable_duplicates(silver: DataFrame, kept: DataFrame | None = None) -> DataFrame:
    """Rows of ``silver`` that are probable duplicates (the module's rule), each with the
    row it duplicates: :data:`PAIR_COLUMNS` (``duplicate_of`` is the original's partner id,
    ``duplicate_of_txn_id`` its silver id). ``kept``: (user_id, txn_id) rows never flagged."""
    rows = silver.filter(~F.col("pending") & F.col("status").isin(LIVE, DUPLICATE)
                         & F.col("amount").isNotNull() & F.col("posted_date").isNotNull())
    if kept is not None:
        rows = rows.join(kept.select("user_id", "txn_id"), ["user_id", "txn_id"], "left_anti")
    rows = rows.select(*[c for c in PAIR_COLUMNS if not c.startswith("duplicate_of")],
                       "source_seq", normalised_description(F.col("description")).alias("_desc"),
                       arrival(F.col("source_seq")).alias("_update"))
    rank = Window.partitionBy(*GROUP, "_update").orderBy("source_seq", "partner_txn_id")
    rows = rows.withColumn("_k", F.row_number().over(rank))
    earlier = Window.partitionBy(*GROUP).orderBy("_update").rowsBetween(
        Window.unboundedPreceding, -1)
    sizes = rows.groupBy(*GROUP, "_update").agg(F.count(F.lit(1)).alias("_n")).withColumn(
        "_before", F.coalesce(F.max("_n").over(earlier), F.lit(0)))
    rows = rows.join(sizes, [*GROUP, "_update"])
    firsts = rows.filter(F.col("_k") > F.col("_before")).select(
        *GROUP, "_k", F.col("partner_txn_id").alias("duplicate_of"),
        F.col("txn_id").alias("duplicate_of_txn_id"))
    return rows.filter(F.col("_k") <= F.col("_before")).join(firsts, [*GROUP, "_k"]).select(
        *PAIR_COLUMNS)


def status_changes(silver: DataFrame, flagged: DataFrame) -> DataFrame:
    """(account_id, partner_txn_id, status) for every posted live or flagged row of
    ``silver`` whose status must change: ``duplicate`` when in ``flagged``, else ``live``."""
    rows = silver.filter(~F.col("pending") & F.col("status").isin(LIVE, DUPLICATE)).select(
        *KEYS, F.col("status").alias("_was"))
    marked = flagged.select(*KEYS, F.lit(True).alias("_flag"))
    return rows.join(marked, KEYS, "left").select(
        *KEYS, F.when(F.col("_flag"), F.lit(DUPLICATE)).otherwise(F.lit(LIVE)).alias("status"),
        "_was").filter(F.col("status") != F.col("_was")).drop("_was")


def flag_reissued(spark: SparkSession, lake: Lake, months: list[str],
                  users: list[str] | None = None) -> int:
    """Recompute the probable-duplicate flags of ``months`` (optionally of ``users`` only)
    and write the status changes; returns rows changed (0, and no commit, when none).
    A content group lives in one month (its rows share the posting date)."""
    months = [m for m in months if m and len(m) == 7]
    if not months:
        return 0
    silver = delta.read_table(spark, lake, TRANSACTIONS).filter(
        F.col("posted_month").isin(months))
    kept = delta.read_table(spark, lake, DUPLICATE_KEEPS).filter(
        F.col("posted_month").isin(months))
    if users is not None:
        silver = silver.filter(F.col("user_id").isin(users))
        kept = kept.filter(F.col("user_id").isin(users))
    changes = status_changes(silver, probable_duplicates(silver, kept)).join(
        silver.select(*KEYS, "posted_month"), KEYS)
    # Pinned: the MERGE changes the rows the flags were computed from.
    found = changes.collect()
    if not found:
        return 0
    source = spark.createDataFrame(found, schema=changes.schema)
    touched = sorted({r["posted_month"] for r in found})
    return delta.run_merge(
        spark, lake, TRANSACTIONS, source,
        [f"WHEN MATCHED AND NOT t.pending AND t.status IN ('{LIVE}', '{DUPLICATE}') "
         "AND t.status <> s.status THEN UPDATE SET t.status = s.status"],
        partitions=touched)


def duplicate_pairs(spark: SparkSession, lake: Lake, user_id: str,
                    months: list[str] | None = None) -> list[dict]:
    """A person's flagged rows with the row each duplicates (newest first), as silver holds
    them now: what ``finlake duplicate list`` shows."""
    silver = delta.read_table(spark, lake, TRANSACTIONS).filter(F.col("user_id") == user_id)
    if months:
        silver = silver.filter(F.col("posted_month").isin(months))
    kept = delta.read_table(spark, lake, DUPLICATE_KEEPS).filter(F.col("user_id") == user_id)
    pairs = probable_duplicates(silver, kept)
    return [r.asDict() for r in pairs.orderBy(F.col("posted_date").desc(), "account_id",
                                              "partner_txn_id").collect()]
