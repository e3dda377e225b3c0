"""Gold spend assets: one Spark pass over the day's changed cells refreshes them all."""

from collections.abc import Iterator
from datetime import date

import dagster as dg

from assets.checks import gold_check_specs, published, suite_checks
from assets.partitions import daily_partitions
from assets.resources import AlertSettings, LakeResource, SparkResource
from assets.table_assets import column_schema, materialized, table_metadata, table_spec
from lake import step_marks
from lake.tables import ALERTS, EXPENSE_DAYS, table

GOLD_SPEND = {
    "daily_spend": "Spend per user, day and category (refunds netted; transfers excluded).",
    "monthly_spend": "Spend per user, month and category (primary and detailed).",
    "monthly_cashflow": "Income vs expense per user and month; transfers shown apart.",
    "spend_trends": "Month-over-month change and 3/6/12-month averages per primary category.",
    "unusual_activity": "Spend far from the user's own baseline, with the reason.",
    "budget_progress": "Month-to-date spend against the effective budget.",
}


# What every gold spend table is computed from (budget_progress: people's budgets too).
GOLD_INPUTS = ["silver_transactions", "gold_changes", "categories", "custom_categories",
               "transaction_splits"]


@dg.multi_asset(
    specs=[*(dg.AssetSpec(name, description=text, group_name="gold", kinds={"spark", "delta"},
                          deps=GOLD_INPUTS + (["budgets"] if name == "budget_progress" else []),
                          metadata={"dagster/column_schema": column_schema(table(name))},
                          partitions_def=daily_partitions)
             for name, text in GOLD_SPEND.items()),
           # The per-day expense ledger the trends and unusual activity are computed from.
           table_spec(EXPENSE_DAYS, group="gold", deps=GOLD_INPUTS,
                      partitions_def=daily_partitions)],
    check_specs=gold_check_specs(GOLD_SPEND),
    partitions_def=daily_partitions,
    can_subset=False,
)
def gold_spend(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource,
               alerts: AlertSettings):
    """Recompute the user x month cells the day changed; budgets and alerts for its month.
    Each table's staged rows pass its suite before they replace the published cells."""
    from pipelines.gold.refresh import refresh_gold
    from pipelines.silver.changes import changed_cells

    session, the_lake = spark.session(), lake.lake()
    day = date.fromisoformat(context.partition_key)
    mark = step_marks.unchanged(the_lake, "gold_spend", day, _inputs(the_lake, alerts))
    if mark is not None:
        yield from _skipped(context, the_lake, mark)
        return
    result = yield from published(
        lambda: refresh_gold(session, the_lake, changed_cells(session, the_lake, day), day,
                             alerts.approaching),
        lambda failed: suite_checks(failed.audits))
    step_marks.record(the_lake, "gold_spend", day, _inputs(the_lake, alerts),
                      {"cells": result.cells, "rows_changed": result.rows_changed},
                      context.run_id)
    context.log.info(f"gold: {result.cells} cells, {result.rows_changed}, "
                     f"{len(result.alerts)} budget alerts, {result.seconds:.1f}s")
    for name in GOLD_SPEND:
        meta = {"cells": result.cells, "rows_changed": result.rows_changed.get(name, 0)}
        if name == "budget_progress":
            meta["budget_alerts"] = len(result.alerts)
        mine = [a for a in result.audits if a.suite == name]
        if mine and mine[-1].report_uri:
            meta["quality_report"] = dg.MetadataValue.url(mine[-1].report_uri)
        yield dg.MaterializeResult(asset_key=name,
                                   metadata={**meta, **table_metadata(the_lake, table(name))})
        if mine:
            yield from suite_checks(mine)
        else:  # no cell of this table changed: nothing was staged or published
            yield dg.AssetCheckResult(check_name=f"{name}_suite", asset_key=name, passed=True,
                                      description="no rows staged: nothing to validate")
    yield from materialized(the_lake, [EXPENSE_DAYS],
                            rows_changed=result.rows_changed.get(EXPENSE_DAYS.name, 0))


def _inputs(the_lake, alerts: AlertSettings) -> dict:
    from pipelines.gold.refresh import INPUTS

    return {"tables": step_marks.table_states(the_lake, INPUTS),
            "approaching": alerts.approaching}


def _skipped(context: dg.AssetExecutionContext, the_lake, mark: dict):
    """Nothing gold reads or writes changed since this day's gold completed: no refresh."""
    note = step_marks.skipped_note(mark)
    context.log.info(f"gold: {note}: nothing to refresh ({mark.get('cells', 0)} cells then)")
    for name in GOLD_SPEND:
        yield dg.MaterializeResult(asset_key=name, metadata={
            "skipped": note, "cells": 0, "rows_changed": 0,
            **table_metadata(the_lake, table(name))})
        yield dg.AssetCheckResult(check_name=f"{name}_suite", asset_key=name, passed=True,
                                  description=f"skipped: {note}; nothing staged")
    yield from materialized(the_lake, [EXPENSE_DAYS], skipped=note, rows_changed=0)


@dg.multi_asset(
    specs=[dg.AssetSpec("alert_outbox", group_name="gold", kinds={"python"},
                        description="Deliver unsent alerts (budget, balance review, "
                                    "institution health) to the sink.",
                        deps=["budget_progress", "institution_health", "silver_transactions"],
                        partitions_def=daily_partitions),
           # Every alert raised (by silver, gold and health) and when it was delivered.
           table_spec(ALERTS, group="gold", deps=["alert_outbox"],
                      partitions_def=daily_partitions)],
    partitions_def=daily_partitions, can_subset=False,
)
def alert_outbox(context: dg.AssetExecutionContext, lake: LakeResource,
                 alerts: AlertSettings) -> Iterator[dg.MaterializeResult]:
    """Deliver unsent alerts (budget, balance review, institution health) to the sink."""
    from pipelines.health.alerts import deliver

    the_lake = lake.lake()
    out = deliver(the_lake, alerts.sink)
    context.log.info(f"alerts: {len(out.sent)} delivered, {len(out.failed)} kept for later")
    yield dg.MaterializeResult(asset_key="alert_outbox", metadata={
        "delivered": len(out.sent), "not_delivered": len(out.failed)})
    yield from materialized(the_lake, [ALERTS])
