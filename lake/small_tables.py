"""Small operational tables written with delta-rs (no Spark needed): sync jobs, alerts..."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from lake.arrow import arrow_schema
from lake.delta import differs
from lake.lake import Lake
from lake.tables import Table


def _table(t: Table, rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{c: r.get(c) for c in t.column_names} for r in rows],
                                schema=arrow_schema(t))


def append_rows(lake: Lake, t: Table, rows: Sequence[dict[str, Any]]) -> None:
    from deltalake import write_deltalake

    if rows:
        write_deltalake(lake.uri(t), _table(t, rows), mode="append",
                        partition_by=list(t.partition_by) or None,
                        configuration=dict(t.properties) or None,
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
    add_missing_columns(dt, t)
    on = " AND ".join(f"t.{k} = s.{k}" for k in t.keys)
    changed = differs(c for c in t.column_names if c not in t.keys)
    merger = dt.merge(_table(t, rows), predicate=on, source_alias="s", target_alias="t")
    if update:
        merger = merger.when_matched_update_all(predicate=changed)
    merger.when_not_matched_insert_all().execute()


def update_columns(lake: Lake, t: Table, rows: Sequence[dict[str, Any]],
                   columns: Sequence[str], attempts: int = 5) -> int:
    """Set ``columns`` of the rows already in ``t`` (matched on its keys), leaving every other
    column as the table has it now: a row read earlier never writes back stale values. A
    commit that loses to a concurrent writer, or a snapshot whose files a concurrent vacuum
    removed, is tried again on a fresh snapshot (the update is the same whichever rows it
    meets). Returns how many rows were updated (rows no longer there are not re-created)."""
    from deltalake.exceptions import DeltaError

    if not rows:
        return 0
    source = pa.Table.from_pylist(
        [{c: r.get(c) for c in (*t.keys, *columns)} for r in rows],
        schema=pa.schema([arrow_schema(t).field(c) for c in (*t.keys, *columns)]))
    on = " AND ".join(f"t.{k} = s.{k}" for k in t.keys)
    for attempt in range(1, attempts + 1):
        dt = lake.delta(t)
        if dt is None:
            return 0
        try:
            metrics = (dt.merge(source, predicate=on, source_alias="s", target_alias="t")
                       .when_matched_update(updates={c: f"s.{c}" for c in columns})
                       .execute())
            return int(metrics.get("num_target_rows_updated", 0))
        except DeltaError:
            if attempt == attempts:
                raise
    return 0


def add_missing_columns(dt: Any, t: Table) -> None:
    """Columns the registry added since the table was created (delta-rs's MERGE would
    silently drop them otherwise); existing rows read them as null."""
    from deltalake.schema import Schema

    have = {f.name for f in dt.schema().fields}
    new = [f for f in Schema.from_arrow(arrow_schema(t)).fields if f.name not in have]
    if new:
        dt.alter.add_columns(new)


def read_rows(lake: Lake, t: Table, filter_expr: Any = None) -> list[dict[str, Any]]:
    dt = lake.delta(t)
    if dt is None:
        return []
    dataset = dt.to_pyarrow_dataset(schema=arrow_schema(t))
    try:
        return dataset.to_table(filter=filter_expr).to_pylist()
    except pa.ArrowNotImplementedError:
        # Files written by delta-rs's MERGE hold string_view columns, which pyarrow cannot
        # compare while scanning: read them as the registered types, then filter.
        return dataset.to_table().filter(filter_expr).to_pylist()
