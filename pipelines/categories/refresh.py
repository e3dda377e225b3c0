"""Categories' lake-facing refresh: the reference tables the categorisation engine reads.

:func:`seed_reference` writes the PFC taxonomy and the seeded merchant rules (a no-op when
they are current); :func:`engine_inputs` reads what the layers of
:func:`pipelines.categories.categorise.categorise` need: a person's overrides, key rules,
pattern rules and the published model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lake import delta, models
from lake.lake import Lake
from lake.tables import CATEGORIES, CATEGORY_OVERRIDES, MERCHANT_RULES
from pipelines.categories.reference import categories, merchant_rules

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def seed_reference(spark: SparkSession, lake: Lake) -> None:
    """Write the taxonomy and seeded merchant rules (a no-op when already current), and
    publish the reference category model when the lake has no model yet."""
    from pipelines.categories.categorise import DEFAULT_THRESHOLD
    from pipelines.categories.training import ensure_model

    for t, rows in ((CATEGORIES, categories()), (MERCHANT_RULES, merchant_rules())):
        df = spark.createDataFrame(rows, schema=t.ddl)
        delta.merge(spark, lake, t, df,
                    changed=delta.differs(t.column_names))
    ensure_model(lake.store, DEFAULT_THRESHOLD)


def engine_inputs(spark: SparkSession, lake: Lake) -> dict:
    """What the categorisation layers read: overrides, key rules, pattern rules, model."""
    from pipelines.categories.reference import PATTERN_SCHEMA, pattern_rules

    return {
        "overrides": delta.read_table(spark, lake, CATEGORY_OVERRIDES),
        "rules": delta.read_table(spark, lake, MERCHANT_RULES),
        "patterns": spark.createDataFrame(pattern_rules(), schema=PATTERN_SCHEMA),
        "model": models.current_model(lake.store),
    }
