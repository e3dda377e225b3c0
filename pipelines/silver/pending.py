"""Pending -> posted matching (pure DataFrame transform).

A posted transaction supersedes its pending one. Partners usually link them through
``pending_transaction_id``; when the link is null we match by heuristic: same account, same
amount, a similar merchant key, and the posted date within ``window_days`` of the pending
date. Each pending row is superseded by at most one posted row and vice versa. The posted row
inherits the pending row's tags and note (:func:`carried_annotations`, pipelines/silver/carry.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

DEFAULT_WINDOW_DAYS = 5
OUT = ["account_id", "partner_txn_id", "superseded_by", "supersede_method",
       "pending_user_category", "posted_user_category"]


def similar_merchant(a: Column, b: Column) -> Column:
    """Merchant keys equal, one a prefix of the other, or a small edit distance apart."""
    longest = F.greatest(F.length(a), F.length(b))
    return (
        (a == b)
        | a.startswith(b) | b.startswith(a)
        | (F.levenshtein(a, b) <= F.greatest(F.lit(2), (longest * 0.3).cast("int")))
    )


def pending_matches(posted: DataFrame, pendings: DataFrame,
                    window_days: int = DEFAULT_WINDOW_DAYS) -> DataFrame:
    """Pairs (pending row, posted row that supersedes it) with the method used.

    ``posted``: live posted rows; ``pendings``: pending rows not yet superseded. Both carry
    silver columns.
    """
    p = posted.select(
        "account_id", F.col("partner_txn_id").alias("posted_id"),
        F.col("pending_partner_txn_id").alias("link"), F.col("amount").alias("p_amount"),
        F.col("merchant_key").alias("p_key"), F.col("posted_date").alias("p_date"),
        F.col("user_category").alias("posted_user_category"))
    q = pendings.select(
        "account_id", F.col("partner_txn_id").alias("pending_id"),
        # Prefer pending rows the partner already removed: a live one may be a twin purchase.
        (F.col("status") != "removed").cast("int").alias("q_live"),
        F.col("amount").alias("q_amount"), F.col("merchant_key").alias("q_key"),
        F.col("posted_date").alias("q_date"),
        F.col("user_category").alias("pending_user_category"))

    linked = p.join(q, (p["account_id"] == q["account_id"]) & (p["link"] == q["pending_id"])) \
        .select(p["account_id"], "pending_id", "posted_id", "pending_user_category",
                "posted_user_category", F.lit("link").alias("supersede_method"))

    free_q = q.join(linked.select("account_id", "pending_id"), ["account_id", "pending_id"],
                    "left_anti")
    free_p = p.filter(F.col("link").isNull())
    cond = (
        (free_p["account_id"] == free_q["account_id"])
        & (free_p["p_amount"] == free_q["q_amount"])
        & (free_p["p_date"] >= free_q["q_date"])
        & (F.datediff(free_p["p_date"], free_q["q_date"]) <= window_days)
        & similar_merchant(F.coalesce(free_p["p_key"], F.lit("")),
                           F.coalesce(free_q["q_key"], F.lit("")))
    )
    cand = free_p.join(free_q, cond).select(
        free_p["account_id"], "pending_id", "posted_id", "pending_user_category",
        "posted_user_category", "q_live", F.datediff("p_date", "q_date").alias("gap"))
    best_for_posted = Window.partitionBy("account_id", "posted_id").orderBy(
        "q_live", "gap", "pending_id")
    best_for_pending = Window.partitionBy("account_id", "pending_id").orderBy("gap", "posted_id")
    heuristic = (
        cand.withColumn("_a", F.row_number().over(best_for_posted)).filter("_a = 1")
        .withColumn("_b", F.row_number().over(best_for_pending)).filter("_b = 1")
        .select("account_id", "pending_id", "posted_id", "pending_user_category",
                "posted_user_category", F.lit("heuristic").alias("supersede_method"))
    )
    return linked.unionByName(heuristic).select(
        "account_id", F.col("pending_id").alias("partner_txn_id"),
        F.col("posted_id").alias("superseded_by"), "supersede_method",
        "pending_user_category", "posted_user_category")


def carried_annotations(links: DataFrame, own: DataFrame, keys: Sequence[str]) -> DataFrame:
    """What a posting inherits of an annotation table (tags, notes: ``user_id``, ``txn_id``
    and the rest), like the pending row's ``user_category``.

    ``links``: (``user_id``, ``pending_txn_id``, ``posted_txn_id``) of each pending row a
    posted row supersedes; ``own``: the annotation table, keyed by ``keys``. Returns the
    pending rows' annotations keyed to the posted transaction, without those whose key the
    posted transaction has already (the person's own on the posted row win)."""
    moved = own.join(links.withColumnRenamed("pending_txn_id", "txn_id"),
                     ["user_id", "txn_id"]).drop("txn_id").withColumnRenamed(
        "posted_txn_id", "txn_id").select(*own.columns)
    return moved.join(own.select(*keys), list(keys), "left_anti").dropDuplicates(list(keys))
