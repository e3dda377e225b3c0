"""Staging area for write-audit-publish: a run's output is written here, audited, then
published (MERGE) from these exact files; a blocked run's files stay for inspection.

``_staging/<name>/sync_date=D/run=R/`` in the lake's object store (local or S3).
"""

from __future__ import annotations

import io
import uuid
from datetime import date
from typing import TYPE_CHECKING

from lake.catalog import Lake

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

STAGING_PREFIX = "_staging"


def new_run(name: str, sync_date: date | None) -> str:
    scope = sync_date.isoformat() if sync_date else "all"
    return f"{STAGING_PREFIX}/{name}/sync_date={scope}/run={uuid.uuid4().hex[:12]}"


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
