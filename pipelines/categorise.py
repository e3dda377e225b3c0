"""Categorisation, map side: each transaction gets a category from the merchant rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def categorise(rows: DataFrame, rules: DataFrame) -> DataFrame:
    """Fill ``category``/``category_source``/``category_confidence`` from ``merchant_rules``.

    A map step: every row is decided on its own merchant key (rules are broadcast). The
    user's own ``user_category`` is never touched here.
    """
    r = rules.select(
        F.col("merchant_key").alias("_rule_key"),
        F.col("category").alias("_rule_category"),
        F.col("source").alias("_rule_source"),
    )
    joined = rows.join(F.broadcast(r), rows["merchant_key"] == r["_rule_key"], "left")
    matched = F.col("_rule_category").isNotNull()
    return (
        joined.withColumn("category", F.col("_rule_category"))
        .withColumn("category_source",
                    F.when(matched, F.coalesce("_rule_source", F.lit("rule"))).otherwise("none"))
        .withColumn("category_confidence", F.when(matched, F.lit(1.0)).cast("double"))
        .drop("_rule_key", "_rule_category", "_rule_source")
    )
