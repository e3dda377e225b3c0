"""Staging area for write-audit-publish: a run's output is written here, audited, then
published (MERGE) from these exact files; a blocked run's files stay for inspection.

``_staging/<name>/sync_date=D/run=R/`` in the lake's object store (local or S3). A run that
was blocked by its audit marks its files ``_HELD.json``; files without the mark that are
still there when a writer takes the lake's writer lease (lake/lease.py) were left by a run
that was killed or failed half-way, and :func:`sweep` removes them.
"""

from __future__ import annotations

import io
from datetime import date
from typing import TYPE_CHECKING

from core.ids import new_id
from lake.lake import Lake

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

STAGING_PREFIX = "_staging"
HELD_MARK = "_HELD.json"


def new_run(name: str, sync_date: date | None) -> str:
    scope = sync_date.isoformat() if sync_date else "all"
    return f"{STAGING_PREFIX}/{name}/sync_date={scope}/run={new_id(12)}"


def put_arrow(lake: Lake, key: str, table: pa.Table) -> str:
    """Write an Arrow table as one Parquet object; returns its URI for Spark."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    lake.store.put(key, buf.getvalue())
    return lake.store.uri(key)


def stage_frame(spark: SparkSession, lake: Lake, df: DataFrame, prefix: str) -> DataFrame:
    """Write ``df`` to the staging prefix and return the staged rows (read back, so the audit
    and the publish see the same data, computed once)."""
    uri = lake.store.uri(prefix)
    df.write.mode("overwrite").parquet(uri)
    if not any(k.endswith(".parquet") for k in lake.store.list(prefix + "/")):
        return spark.createDataFrame([], df.schema)  # no rows: the engine wrote no file
    return spark.read.parquet(uri)


def discard(lake: Lake, prefix: str) -> None:
    for key in lake.store.list(prefix + "/"):
        lake.store.delete(key)


def run_prefix(key: str) -> str | None:
    """The ``.../run=R`` prefix a staged key belongs to (None: not a run's file)."""
    parts = key.split("/")
    for i, part in enumerate(parts):
        if part.startswith("run="):
            return "/".join(parts[:i + 1])
    return None


def hold(lake: Lake, location: str, reason: str) -> None:
    """Mark a run's staged files (prefix or URI) as kept for inspection."""
    root = lake.store.root_uri.rstrip("/") + "/"
    prefix = run_prefix(location.removeprefix(root))
    if prefix and prefix.startswith(STAGING_PREFIX + "/"):
        import json

        lake.store.put(f"{prefix}/{HELD_MARK}", json.dumps({"reason": reason}).encode())


def sweep(lake: Lake) -> int:
    """Remove every staged run's files that are not held; returns the runs removed. Only
    the holder of the writer lease may call this (no other run can be staging)."""
    runs: dict[str, bool] = {}
    for key in lake.store.list(STAGING_PREFIX + "/"):
        prefix = run_prefix(key) or key
        runs[prefix] = runs.get(prefix, False) or key.endswith("/" + HELD_MARK)
    removed = 0
    for prefix, held in runs.items():
        if held:
            continue
        if run_prefix(prefix):
            discard(lake, prefix)
        else:  # a stray object outside any run
            lake.store.delete(prefix)
        removed += 1
    return removed
