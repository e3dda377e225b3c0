"""Small operational tables written with delta-rs (no Spark needed): sync jobs, alerts..."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from lake.arrow import arrow_schema
from lake.catalog import Lake
from lake.tables import Table


def _table(t: Table, rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{c: r.get(c) for c in t.column_names} for r in rows],
                                schema=arrow_schema(t))


def append_rows(lake: Lake, t: Table, rows: Sequence[dict[str, Any]]) -> None:
    from deltalake import write_deltalake

    if rows:
        write_deltalake(lake.uri(t), _table(t, rows), mode="append",
                        partition_by=list(t.partition_by) or None,
                        storage_options=lake.storage_options() or None)


def upsert_rows(lake: Lake, t: Table, rows: Sequence[dict[str, Any]], *,
                update: bool = True) -> None:
    """Insert rows by key; existing keys are updated (or left alone with ``update=False``)."""
    if not rows:
        return
    dt = lake.delta(t)
    if dt is None:
        append_rows(lake, t, rows)
        return
    on = " AND ".join(f"t.{k} = s.{k}" for k in t.keys)
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in t.column_names if c not in t.keys)
    merger = dt.merge(_table(t, rows), predicate=on, source_alias="s", target_alias="t")
    if update:
        merger = merger.when_matched_update_all(predicate=changed)
    merger.when_not_matched_insert_all().execute()


def read_rows(lake: Lake, t: Table, filter_expr: Any = None) -> list[dict[str, Any]]:
    dt = lake.delta(t)
    if dt is None:
        return []
    return dt.to_pyarrow_dataset().to_table(filter=filter_expr).to_pylist()
