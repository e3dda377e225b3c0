"""Every lake table the pipeline writes or reads, as a Dagster asset (lake/tables.py is the
registry of the tables themselves).

A table the nightly writes is materialised by the step that writes it: the step's own asset
when the step *is* the table (``silver_transactions`` is ``transactions``, see
:data:`STEP_TABLES`), else an extra asset of that step named after the table. Each
materialisation reports the table's column schema and row count. Tables people write (budgets,
overrides, linked institutions) are inputs: external assets the steps depend on. The few
tables that are no pipeline data at all are in :data:`NOT_ASSETS`, each with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg

from lake.table import Table
from lake.tables import (
    BUDGET_PROGRESS,
    BUDGETS,
    CATEGORY_OVERRIDES,
    CUSTOM_CATEGORIES,
    DAILY_SPEND,
    DUPLICATE_KEEPS,
    INSTITUTION_HEALTH,
    INSTITUTIONS,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    RECURRING_PAYMENTS,
    SPEND_TRENDS,
    TRANSACTION_NOTES,
    TRANSACTION_OVERRIDES,
    TRANSACTION_SPLITS,
    TRANSACTION_TAGS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
    USER_RULES,
)

if TYPE_CHECKING:
    from lake.lake import Lake

# Steps whose own asset is a table: asset key -> the table.
STEP_TABLES: dict[str, Table] = {
    "silver_transactions": TRANSACTIONS,
    "institution_health": INSTITUTION_HEALTH,
    "recurring_payments": RECURRING_PAYMENTS,
    **{t.name: t for t in (DAILY_SPEND, MONTHLY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS,
                           UNUSUAL_ACTIVITY, BUDGET_PROGRESS)},
}

# Written by people (dashboard, CLI, linking) and read by the pipeline.
INPUT_TABLES = (INSTITUTIONS, CATEGORY_OVERRIDES, TRANSACTION_OVERRIDES, CUSTOM_CATEGORIES,
                BUDGETS,
                # a person's own categorisation rules (the categorisation layers read them)
                USER_RULES,
                # people's tags and notes (the silver step carries them to a posting)
                TRANSACTION_TAGS, TRANSACTION_NOTES,
                # a person's "not a duplicate" (the silver step's re-issue flags read it)
                DUPLICATE_KEEPS,
                # people's split transactions (gold counts the parts)
                TRANSACTION_SPLITS)
INPUT_GROUP = "inputs"

# Registered tables that are no asset, and why.
NOT_ASSETS = {
    "audit_log": "the append-only record of who did what, written by every writer (CLI, "
                 "dashboard, pipeline): an audit trail, not data the pipeline derives",
    "audit_subjects": "the audit log's pseudonym index, written with each audit log entry",
    "logins": "dashboard sign-ins, written by `finlake login` and the dashboard only",
    "alert_dismissals": "written by the dashboard when a person dismisses an alert; no step "
                        "reads or writes it",
    "step_marks": "every step's own bookkeeping (what it last completed, so a replay can "
                  "skip); it is about the steps, not the data",
    "quality_results": "every audit before publishing appends its result here; the results "
                       "are shown as the asset checks of the table each one validated",
}


def column_schema(t: Table) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in t.columns])


def table_spec(t: Table, *, group: str, deps: Iterable[str] = (),
               partitions_def: dg.PartitionsDefinition | None = None) -> dg.AssetSpec:
    """The asset of a table a step writes (its schema shown before the first run too)."""
    return dg.AssetSpec(
        t.name, description=t.description or f"The {t.name} table.", group_name=group,
        deps=list(deps), partitions_def=partitions_def, kinds={"delta"},
        metadata={"dagster/column_schema": column_schema(t), "layer": t.layer})


def input_specs() -> list[dg.AssetSpec]:
    """The tables people write, as external assets (no step materialises them)."""
    return [dg.AssetSpec(t.name, description=t.description or f"The {t.name} table.",
                         group_name=INPUT_GROUP, kinds={"delta"},
                         metadata={"dagster/column_schema": column_schema(t), "layer": t.layer})
            for t in INPUT_TABLES]


def row_count(lake: Lake, t: Table) -> int:
    """Rows in the table, from the Delta log's per-file counts (every file read when a
    file has none); 0 when the table does not exist yet."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = lake.delta(t)
    if table is None:
        return 0
    actions = pa.table(table.get_add_actions(flatten=True))
    counts = actions.column("num_records") if "num_records" in actions.column_names else None
    deletion_vectors = [c for c in actions.column_names if c.startswith("deletionVector")]
    if counts is None or counts.null_count or any(
            actions.column(c).null_count < actions.num_rows for c in deletion_vectors):
        return table.to_pyarrow_dataset().count_rows()
    return int(pc.sum(counts).as_py() or 0)


def table_metadata(lake: Lake, t: Table) -> dict[str, Any]:
    """What every materialisation of a table reports: its column schema and row count."""
    return {"dagster/column_schema": column_schema(t), "dagster/row_count": row_count(lake, t)}


def materialized(lake: Lake, tables: Iterable[Table], **metadata: Any
                 ) -> Iterator[dg.MaterializeResult]:
    """A materialisation of each table's asset, with its schema and row count."""
    for t in tables:
        yield dg.MaterializeResult(asset_key=t.name,
                                   metadata={**metadata, **table_metadata(lake, t)})
