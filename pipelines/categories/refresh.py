"""Categories' lake-facing refresh: the reference tables the categorisation engine reads.

:func:`seed_reference` writes the PFC taxonomy and the seeded merchant rules (a no-op when
they are current); :func:`engine_inputs` reads what the layers of
:func:`pipelines.categories.categorise.categorise` need: a person's overrides, key rules,
pattern rules and the published model.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING

from lake import delta, models
from lake.lake import Lake
from lake.objectstore import ObjectNotFound
from lake.tables import CATEGORIES, CATEGORY_OVERRIDES, MERCHANT_RULES, TRANSACTIONS
from pipelines.categories.reference import categories, merchant_rules

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def seed_reference(spark: SparkSession, lake: Lake) -> None:
    """Write the taxonomy and seeded merchant rules (a no-op when already current), and
    publish the reference category model when the lake has no model yet."""
    from pipelines.categories.categorise import DEFAULT_THRESHOLD
    from pipelines.categories.training import ensure_model

    digest = _seed_digest()
    if not _seeds_current(lake, digest):
        for t, rows in ((CATEGORIES, categories()), (MERCHANT_RULES, merchant_rules())):
            df = spark.createDataFrame(rows, schema=t.ddl)
            delta.merge(spark, lake, t, df,
                        changed=delta.differs(t.column_names))
        lake.store.put(SEEDED_KEY, json.dumps(
            {"digest": digest, "versions": _versions(lake)}).encode())
    ensure_model(lake.store, DEFAULT_THRESHOLD)
    start_refresh_state(lake)


# What the re-categorisation (pipelines/corrections/recategorise.py) applied last: the
# override watermark, the rules table's version and the model's version.
REFRESH_STATE_KEY = "state/categorisation.json"
EPOCH = "1970-01-01T00:00:00+00:00"


def start_refresh_state(lake: Lake) -> bool:
    """On a lake without silver transactions yet, record today's rules and model as applied:
    every row a MERGE will write is categorised with them (or later ones), so the first
    refresh has nothing to redo. Without this, the first night categorised each row twice:
    once in its MERGE and again because every seeded rule looked new. A lake whose silver
    exists without the state (written before it was kept) is left alone and re-categorised
    once. True when the state was written."""
    try:
        lake.store.get(REFRESH_STATE_KEY)
        return False
    except ObjectNotFound:
        pass
    if lake.delta(TRANSACTIONS) is not None:
        return False
    rules = lake.delta(MERCHANT_RULES)
    state = {"overrides_at": EPOCH,  # a person's overrides made before any data still apply
             "rules_version": rules.version() if rules is not None else None,
             "model_version": models.current_version(lake.store)}
    lake.store.put(REFRESH_STATE_KEY, json.dumps(state).encode())
    return True


# What the last seeding wrote: the digest of the seeded rows and the tables' versions after it.
SEEDED_KEY = "state/reference_seeded.json"


@cache
def _seed_digest() -> str:
    import hashlib

    h = hashlib.sha256()
    for t, rows in ((CATEGORIES, categories()), (MERCHANT_RULES, merchant_rules())):
        h.update(t.name.encode())
        h.update(json.dumps(rows, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _versions(lake: Lake) -> dict[str, int | None]:
    out = {}
    for t in (CATEGORIES, MERCHANT_RULES):
        dt = lake.delta(t)
        out[t.name] = dt.version() if dt is not None else None
    return out


def _seeds_current(lake: Lake, digest: str) -> bool:
    """Whether the last seeding wrote these rows and nothing has committed to either table
    since (then merging them again would change nothing: skipped, which on Apache Spark
    saves a 26k-row MERGE of ~20 s a night)."""
    try:
        state = json.loads(lake.store.get(SEEDED_KEY))
    except (ObjectNotFound, ValueError):
        return False
    return state.get("digest") == digest and state.get("versions") == _versions(lake)


def engine_inputs(spark: SparkSession, lake: Lake) -> dict:
    """What the categorisation layers read: overrides, key rules, pattern rules, model."""
    from pipelines.categories.reference import PATTERN_SCHEMA, pattern_rules

    return {
        "overrides": delta.read_table(spark, lake, CATEGORY_OVERRIDES),
        "rules": delta.read_table(spark, lake, MERCHANT_RULES),
        "patterns": spark.createDataFrame(pattern_rules(), schema=PATTERN_SCHEMA),
        "model": models.current_model(lake.store),
    }
