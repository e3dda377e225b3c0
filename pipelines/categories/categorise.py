"""Categorisation, map side: three layers in order, each recorded in ``category_source``.

1. the user's own override for the merchant (``category_overrides``: user x merchant key);
2. global rules (``merchant_rules``: curated seed rules and k-anonymous crowd rules);
3. the model (trained on aggregated, de-identified pairs) for the rest; below the
   confidence threshold the row stays uncategorised (source ``none``) for review.

A manual category on one transaction (``user_category``) is a separate column this never
writes: what people see is ``coalesce(user_category, category)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RULE_CONFIDENCE = {"seed": 0.95, "crowd": 0.9, "pattern": 0.85}
DEFAULT_THRESHOLD = 0.6
CATEGORY_COLUMNS = ("category", "category_source", "category_confidence")


def _with_model(rows: DataFrame, model: dict[str, Any], threshold: float) -> DataFrame:
    """mapInPandas: predict a category for rows no override or rule decided."""
    schema = T.StructType([*rows.schema.fields,
                           T.StructField("_model_category", T.StringType()),
                           T.StructField("_model_confidence", T.DoubleType())])

    def predict(batches):  # runs on the executors, batch by batch
        from pipelines.categories.model import predict_frame

        for pdf in batches:
            pdf["_model_category"] = None
            pdf["_model_confidence"] = float("nan")
            todo = pdf["_layer_category"].isna() & pdf["merchant_key"].notna()
            if todo.any():
                pred = predict_frame(pdf.loc[todo, ["merchant_key"]], model, threshold)
                pdf.loc[todo, "_model_category"] = pred["model_category"].to_numpy()
                pdf.loc[todo, "_model_confidence"] = pred["model_confidence"].to_numpy()
            yield pdf

    return rows.mapInPandas(predict, schema)


def key_rule_matches(keys: DataFrame, rules: DataFrame) -> DataFrame:
    """Per distinct merchant key, the rule whose key equals it or is its longest word-prefix
    ("shell" matches "shell oil"): (merchant_key, _r_category, _r_source)."""
    r = rules.select(F.col("merchant_key").alias("_r_key"),
                     F.col("category").alias("_r_category"),
                     F.col("source").alias("_r_source"))
    k = keys.select("merchant_key").distinct().filter(F.col("merchant_key") != "")
    hit = (k["merchant_key"] == r["_r_key"]) | k["merchant_key"].startswith(
        F.concat(r["_r_key"], F.lit(" ")))
    best = Window.partitionBy("merchant_key").orderBy(F.length("_r_key").desc(), "_r_key")
    return (k.join(F.broadcast(r), hit).withColumn("_n", F.row_number().over(best))
            .filter("_n = 1").select("merchant_key", "_r_category", "_r_source"))


def pattern_matches(rows: DataFrame, patterns: DataFrame) -> DataFrame:
    """Per distinct description, the first pattern rule (by priority) it matches."""
    d = rows.select("description").distinct().filter(F.col("description").isNotNull())
    p = patterns.select(F.col("priority").alias("_p_priority"),
                        F.col("pattern").alias("_p_pattern"),
                        F.col("category").alias("_p_category"))
    first = Window.partitionBy("description").orderBy("_p_priority")
    return (d.join(F.broadcast(p), F.expr("description RLIKE _p_pattern"))
            .withColumn("_n", F.row_number().over(first)).filter("_n = 1")
            .select("description", "_p_category"))


def categorise(rows: DataFrame, overrides: DataFrame, rules: DataFrame,
               model: dict[str, Any] | None = None,
               threshold: float = DEFAULT_THRESHOLD,
               patterns: DataFrame | None = None) -> DataFrame:
    """Set ``category``/``category_source``/``category_confidence`` on every row.

    ``rows`` needs ``user_id`` and ``merchant_key`` (and ``description`` for pattern
    rules); the three columns are replaced. Rules: merchant-key rules first (exact or
    word-prefix), then description patterns.
    """
    base = rows.drop(*[c for c in CATEGORY_COLUMNS if c in rows.columns])
    o = overrides.select(F.col("user_id").alias("_o_user"),
                         F.col("merchant_key").alias("_o_key"),
                         F.col("category").alias("_o_category"))
    j = (base.join(o, (base["user_id"] == o["_o_user"])
                   & (base["merchant_key"] == o["_o_key"]), "left")
         .join(key_rule_matches(base, rules), "merchant_key", "left"))
    if patterns is not None and "description" in base.columns:
        j = j.join(pattern_matches(base, patterns), "description", "left").withColumn(
            "_r_source", F.when(F.col("_r_category").isNull() & F.col("_p_category").isNotNull(),
                                F.lit("pattern")).otherwise(F.col("_r_source"))
        ).withColumn("_r_category", F.coalesce("_r_category", "_p_category")).drop("_p_category")
    j = j.withColumn("_layer_category", F.coalesce("_o_category", "_r_category"))
    if model is not None:
        j = _with_model(j, model, threshold)
    else:
        j = j.withColumn("_model_category", F.lit(None).cast("string")) \
             .withColumn("_model_confidence", F.lit(None).cast("double"))
    override, rule = F.col("_o_category").isNotNull(), F.col("_r_category").isNotNull()
    modelled = F.col("_model_category").isNotNull()
    rule_source = F.when(F.col("_r_source") == "crowd", "crowd").otherwise("rule")
    rule_conf = F.when(F.col("_r_source") == "crowd", RULE_CONFIDENCE["crowd"]) \
        .when(F.col("_r_source") == "pattern", RULE_CONFIDENCE["pattern"]) \
        .otherwise(RULE_CONFIDENCE["seed"])
    return (
        j.withColumn("category", F.coalesce("_layer_category", "_model_category"))
        .withColumn("category_source",
                    F.when(override, "override").when(rule, rule_source)
                    .when(modelled, "model").otherwise("none"))
        .withColumn("category_confidence",
                    F.when(override, F.lit(1.0)).when(rule, rule_conf)
                    .otherwise(F.col("_model_confidence")).cast("double"))
        .drop("_o_user", "_o_key", "_o_category", "_r_category", "_r_source",
              "_layer_category", "_model_category", "_model_confidence")
    )
