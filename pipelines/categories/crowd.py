"""Crowd rules and model training pairs: aggregates only, never one user's data.

Both are k-anonymous: a (merchant, category) pair counts only when at least ``k`` distinct
users stand behind it, so k-1 users can never create a rule or teach the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DEFAULT_K = 3
TRAINING_LABEL_SOURCES = ("override", "rule", "crowd")  # never the model's own guesses
PAIR_COLUMNS = ("merchant_key", "category", "users")


def crowd_rules(overrides: DataFrame, k: int = DEFAULT_K) -> DataFrame:
    """(merchant_key, category, votes): the most popular override per merchant, if >= k users."""
    votes = overrides.filter(F.col("merchant_key") != "").groupBy("merchant_key", "category") \
        .agg(F.countDistinct("user_id").alias("votes"))
    best = Window.partitionBy("merchant_key").orderBy(F.col("votes").desc(), "category")
    return (votes.withColumn("_rank", F.row_number().over(best))
            .filter((F.col("_rank") == 1) & (F.col("votes") >= k))
            .select("merchant_key", "category", F.col("votes").cast("int").alias("votes")))


def training_pairs(silver: DataFrame, k: int = DEFAULT_K) -> DataFrame:
    """De-identified training data: (merchant_key, category, users) with users >= k."""
    labelled = silver.filter(
        (F.col("status") == "live") & F.col("category_source").isin(*TRAINING_LABEL_SOURCES)
        & F.col("merchant_key").isNotNull() & (F.col("merchant_key") != ""))
    return (labelled.groupBy("merchant_key", "category")
            .agg(F.countDistinct("user_id").cast("int").alias("users"))
            .filter(F.col("users") >= k)
            .select(*PAIR_COLUMNS))
