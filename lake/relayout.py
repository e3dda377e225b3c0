"""Bring a table an older finlake wrote to the registry's partitioning, in place.

The registry (lake/tables_*.py) is the one truth about a table's layout; :func:`ensure_table`
(lake/delta.py) creates a missing table with it. A table that already exists keeps the
layout it was created with, so when the registry partitions a table that earlier versions
wrote unpartitioned (``balance_observations`` gained ``month``, of ``date``), an existing
lake's table is rewritten here the first time a writer or reader opens it through
:func:`lake.delta.ensure_table`:

- **in place, one commit**: delta-rs streams the current version's rows, adds the derived
  month column (``Table.months_of``), and overwrites the table with the new schema and
  partitioning in a single commit (``schema_mode="overwrite"``). Readers see the old layout
  or the new one, never a mix; time travel to the versions before still reads the old.
- **crash-safe**: a process killed before the commit leaves only data files no commit
  references (the table is unchanged; ``finlake maintain --vacuum-full`` removes them), and
  the next open rewrites again.
- **idempotent**: a table already partitioned as registered is left alone (one look at its
  metadata), so the check costs one log read per open.

Memory is bounded by the stream's batches, not by the table. Writers hold the lake's writer
lease, so nothing commits to the table during the rewrite.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lake.arrow import arrow_schema
from lake.lake import Lake
from lake.tables import Table

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
MARK = "rewritten to the registry's partitioning (lake/relayout.py)"
BATCH_ROWS = 256 * 1024


class LayoutError(ValueError):
    """An existing table whose layout finlake cannot bring to the registry's."""


def _with_months(batch: pa.RecordBatch, t: Table) -> pa.RecordBatch:
    """``batch`` in the registry's columns and types, derived months filled in."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = arrow_schema(t)
    derived = dict(t.months_of)
    columns = []
    for field in schema:
        if field.name in batch.schema.names:
            columns.append(batch.column(field.name).cast(field.type))
        elif field.name in derived:
            columns.append(pc.strftime(batch.column(derived[field.name]), "%Y-%m"))
        else:
            columns.append(pa.nulls(batch.num_rows, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def relayout(lake: Lake, t: Table) -> bool:
    """Rewrite ``t`` to the registry's partitioning if an older layout wrote it; returns
    whether it did (see the module docstring)."""
    import pyarrow as pa
    from deltalake import CommitProperties, write_deltalake

    dt = lake.delta(t)
    if dt is None or tuple(dt.metadata().partition_columns) == t.partition_by:
        return False
    have = {f.name for f in dt.schema().fields}
    derivable = {c for c, _ in t.months_of}
    unknown = [c for c in t.partition_by if c not in have and c not in derivable]
    if unknown or set(dt.metadata().partition_columns) - set(t.partition_by):
        raise LayoutError(
            f"{t.name}: partitioned by {list(dt.metadata().partition_columns)} in the lake and "
            f"{list(t.partition_by)} in the registry; finlake cannot derive {unknown}")
    version = dt.version()
    batches = (_with_months(b, t) for b in dt.to_pyarrow_dataset().to_batches(
        batch_size=BATCH_ROWS))
    write_deltalake(
        lake.uri(t), pa.RecordBatchReader.from_batches(arrow_schema(t), batches),
        mode="overwrite", schema_mode="overwrite", partition_by=list(t.partition_by),
        configuration=dict(t.properties) or None,
        storage_options=lake.storage_options() or None,
        commit_properties=CommitProperties(custom_metadata={"finlake": MARK}))
    log.info("%s: rewritten from version %d to the partitioning %s", t.name, version,
             list(t.partition_by))
    return True
