"""Re-categorise only what a change affects: new overrides, changed rules, a new model.

A small state object remembers what was applied last (override watermark, rules table
version, model version). Each run finds the silver rows the changes since then can affect,
runs the categorisation layers on just those rows, and MERGEs back only rows whose category
actually changed. History is read (filtered), never rewritten wholesale.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from lake import delta, models
from lake.catalog import Lake
from lake.objectstore import ObjectNotFound
from lake.tables import CATEGORY_OVERRIDES, MERCHANT_RULES, TRANSACTIONS
from pipelines.categorise import CATEGORY_COLUMNS, categorise

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STATE_KEY = "state/categorisation.json"
EPOCH = "1970-01-01T00:00:00+00:00"


def _load_state(lake: Lake) -> dict[str, Any]:
    try:
        return json.loads(lake.store.get(STATE_KEY))
    except ObjectNotFound:
        return {}


def _rules_at(lake: Lake, version: int | None) -> dict[str, tuple[str, str]]:
    from deltalake import DeltaTable

    if version is None or version < 0:
        return {}
    dt = DeltaTable(lake.uri(MERCHANT_RULES), version=version,
                    storage_options=lake.storage_options() or None)
    return {r["merchant_key"]: (r["category"], r["source"])
            for r in dt.to_pyarrow_table().to_pylist()}


def refresh_categories(spark: SparkSession, lake: Lake, sync_date: date | None = None
                       ) -> tuple[list[str], int]:
    """Apply overrides/rules/model changes since the last refresh; (months touched, rows).
    With ``sync_date`` the changed (user, month) cells are logged for that day's gold."""
    state = _load_state(lake)
    overrides = delta.read_table(spark, lake, CATEGORY_OVERRIDES)
    rules_version = lake.delta(MERCHANT_RULES).version()  # type: ignore[union-attr]
    model_version = models.current_version(lake.store)
    silver = delta.read_table(spark, lake, TRANSACTIONS)

    parts: list[DataFrame] = []
    since = state.get("overrides_at", EPOCH)
    new_overrides = overrides.filter(F.col("created_at") > F.lit(since).cast("timestamp"))
    newest = new_overrides.agg(F.max("created_at")).collect()[0][0]
    if newest is not None:
        keys = new_overrides.select("user_id", "merchant_key")
        parts.append(silver.join(keys, ["user_id", "merchant_key"], "left_semi"))
    if state.get("rules_version") != rules_version:
        before = _rules_at(lake, state.get("rules_version"))
        now = _rules_at(lake, rules_version)
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            parts.append(silver.filter(F.col("merchant_key").isin(changed)))
    if state.get("model_version") != model_version:
        parts.append(silver.filter(F.col("category_source").isin("model", "none")))

    months: list[str] = []
    written = 0
    if parts:
        affected = parts[0]
        for p in parts[1:]:
            affected = affected.unionByName(p)
        affected = affected.dropDuplicates(list(TRANSACTIONS.keys))
        old = affected.select(*TRANSACTIONS.keys, "posted_month",
                              *[F.col(c).alias(f"_old_{c}") for c in CATEGORY_COLUMNS])
        from pipelines.steps import engine_inputs

        new = categorise(affected.select(*TRANSACTIONS.keys, "user_id", "merchant_key",
                                         "description"), **engine_inputs(spark, lake))
        diff = new.join(old, list(TRANSACTIONS.keys)).filter(" OR ".join(
            f"NOT ({c} <=> _old_{c})" for c in CATEGORY_COLUMNS))
        cols = [*TRANSACTIONS.keys, "user_id", "posted_month", *CATEGORY_COLUMNS]
        rows = diff.select(*cols).collect()
        if rows:
            pinned = spark.createDataFrame(rows, schema=diff.select(*cols).schema)
            months = sorted({r["posted_month"] for r in rows})
            if sync_date is not None:
                from pipelines.gold import log_changes

                log_changes(spark, lake, sync_date, pinned.select(
                    "user_id", F.col("posted_month").alias("month")))
            sets = ", ".join(f"t.{c} = s.{c}" for c in CATEGORY_COLUMNS)
            delta.run_merge(spark, lake, TRANSACTIONS, pinned,
                            [f"WHEN MATCHED THEN UPDATE SET {sets}"], partitions=months)
            written = len(rows)
    new_state = {"overrides_at": str(newest) if newest is not None else since,
                 "rules_version": rules_version, "model_version": model_version,
                 "refreshed_at": datetime.now().astimezone().isoformat()}
    if newest is not None:
        new_state["overrides_at"] = newest.isoformat()
    lake.store.put(STATE_KEY, json.dumps(new_state).encode())
    return [m for m in months if m != "unseen"], written
