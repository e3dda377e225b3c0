"""The per-row categorisation of ea5e8ca, kept as the reference the per-distinct path is
compared with (tests/pipelines/test_categorise_distinct.py, bench/categorise_distinct.py):
the merchant normaliser through ``mapInArrow`` over every row, and the model through
``mapInPandas`` over every row. Not product code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.categories.categorise import (
    CATEGORY_COLUMNS,
    DEFAULT_THRESHOLD,
    decide,
    key_rule_matches,
    pattern_matches,
)
from pipelines.categories.merchants import normalise
from pipelines.silver.rows import shaped_rows

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa
    from pyspark.sql import DataFrame


def merchant_columns(df: DataFrame, description_col: str = "description",
                     merchant_col: str | None = "merchant") -> DataFrame:
    """ea5e8ca's ``merchant_columns``: :func:`normalise` once per row."""
    import pyarrow as pa
    from pyspark.sql.types import StringType, StructField, StructType

    fields = list(df.schema.fields)
    names = [f.name for f in fields]
    for n in ("merchant_key", "merchant_display"):
        if n not in names:
            names.append(n)
            fields.append(StructField(n, StringType(), True))
        fields[names.index(n)] = StructField(n, StringType(), True)
    name_col = merchant_col if merchant_col in df.columns else None

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            descs = batch.column(description_col).to_pylist()
            given = batch.column(name_col).to_pylist() if name_col else [None] * len(descs)
            out = [normalise(d, n) for d, n in zip(descs, given, strict=True)]
            cols = dict(zip(batch.schema.names, batch.columns, strict=True))
            cols["merchant_key"] = pa.array([m.key for m in out], pa.string())
            cols["merchant_display"] = pa.array([m.display_name for m in out], pa.string())
            yield pa.RecordBatch.from_arrays([cols[n] for n in names], names=names)

    return df.mapInArrow(apply, StructType(fields))


def transaction_rows(latest: DataFrame) -> DataFrame:
    """ea5e8ca's ``transaction_rows`` (the normaliser per row)."""
    return merchant_columns(shaped_rows(latest), "description", "merchant").drop(
        "merchant_display")


def _with_model(rows: DataFrame, model: dict[str, Any], threshold: float) -> DataFrame:
    schema = T.StructType([*rows.schema.fields,
                           T.StructField("_model_category", T.StringType()),
                           T.StructField("_model_confidence", T.DoubleType())])

    def predict(batches):
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


def categorise(rows: DataFrame, overrides: DataFrame, rules: DataFrame,
               model: dict[str, Any] | None = None,
               threshold: float = DEFAULT_THRESHOLD,
               patterns: DataFrame | None = None) -> DataFrame:
    """ea5e8ca's ``categorise``: every layer joined per row, the model per row."""
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
        ).withColumn("_r_category", F.coalesce("_r_category", "_p_category")).drop(
            "_p_category", "_p_stage")
    j = j.withColumn("_layer_category", F.coalesce("_o_category", "_r_category"))
    if model is not None:
        j = _with_model(j, model, threshold)
    else:
        j = j.withColumn("_model_category", F.lit(None).cast("string")) \
             .withColumn("_model_confidence", F.lit(None).cast("double"))
    # The layers' precedence is the product's (unchanged): only the way the layers are
    # computed, per row here, differs.
    return decide(j.drop("_layer_category")).drop("_o_user", "_o_key")
