"""Gold: daily balances and net worth; recurring payments."""

from datetime import date

import dagster as dg

from assets.checks import published, suite_checks
from assets.partitions import daily_partitions
from assets.resources import LakeResource, SparkResource
from assets.table_assets import column_schema, materialized, table_metadata, table_spec
from lake import step_marks
from lake.tables import (
    BALANCE_OBSERVATIONS,
    BALANCES_DAILY,
    NET_WORTH_DAILY,
    RECURRING_PAYMENTS,
)


def _suite(name: str, asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(f"{name}_suite", asset=asset, blocking=True,
                             description=f"GX suite on the staged {name} rows, before merging")


@dg.multi_asset(
    specs=[dg.AssetSpec("net_worth", group_name="gold", kinds={"spark", "delta"},
                        description="Balances per account and net worth per user for the day "
                                    "(last known balance carried).",
                        deps=["silver_transactions", "accounts", "balance_observations"],
                        partitions_def=daily_partitions),
           *(table_spec(t, group="gold", deps=["net_worth"], partitions_def=daily_partitions)
             for t in (BALANCES_DAILY, NET_WORTH_DAILY))],
    check_specs=[_suite("balances_daily", "net_worth"), _suite("net_worth_daily", "net_worth")],
    partitions_def=daily_partitions, can_subset=False,
)
def net_worth(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):
    """Balances per account and net worth per user for the day (last known balance carried)."""
    from pipelines.wealth.refresh import refresh_net_worth

    the_lake, day = lake.lake(), date.fromisoformat(context.partition_key)
    tables = (BALANCE_OBSERVATIONS, BALANCES_DAILY, NET_WORTH_DAILY)
    mark = step_marks.unchanged(the_lake, "net_worth", day,
                                step_marks.table_states(the_lake, tables))
    if mark is not None:
        yield from _skipped(context, mark, ["balances_daily", "net_worth_daily"], "net_worth")
        yield from materialized(the_lake, (BALANCES_DAILY, NET_WORTH_DAILY),
                                skipped=step_marks.skipped_note(mark))
        return
    audits: list = []
    n = yield from published(
        lambda: refresh_net_worth(spark.session(), the_lake, day, audits),
        lambda _: suite_checks(audits, "net_worth"))
    step_marks.record(the_lake, "net_worth", day, step_marks.table_states(the_lake, tables),
                      {"rows_written": n}, context.run_id)
    yield from suite_checks(audits, "net_worth")
    yield dg.MaterializeResult(asset_key="net_worth", metadata={"rows_written": n})
    yield from materialized(the_lake, (BALANCES_DAILY, NET_WORTH_DAILY))


def _skipped(context: dg.AssetExecutionContext, mark: dict, suites: list[str], asset: str,
             metadata: dict | None = None):
    """None of the tables the step reads or writes changed since it completed this day."""
    note = step_marks.skipped_note(mark)
    context.log.info(f"{asset}: {note}: nothing to refresh")
    for suite in suites:
        yield dg.AssetCheckResult(check_name=f"{suite}_suite", asset_key=asset, passed=True,
                                  description=f"skipped: {note}; nothing staged")
    yield dg.MaterializeResult(asset_key=asset, metadata={
        "skipped": note, "rows_written": 0, **(metadata or {})})


@dg.asset(partitions_def=daily_partitions, group_name="gold",
          deps=["silver_transactions", "gold_changes", "series_changes"],
          kinds={"spark", "delta"}, metadata={"dagster/column_schema": column_schema(
              RECURRING_PAYMENTS)},
          check_specs=[_suite("recurring_payments", "recurring_payments")])
def recurring_payments(context: dg.AssetExecutionContext, lake: LakeResource,
                       spark: SparkResource):
    """Subscriptions and bills: cadence, next expected date, price increases, misses."""
    from pipelines.wealth.refresh import RECURRING_INPUTS, recurring_night

    session, the_lake = spark.session(), lake.lake()
    day = date.fromisoformat(context.partition_key)
    mark = step_marks.unchanged(the_lake, "recurring_payments", day,
                                step_marks.table_states(the_lake, RECURRING_INPUTS))
    if mark is not None:
        yield from _skipped(context, mark, ["recurring_payments"], "recurring_payments",
                            table_metadata(the_lake, RECURRING_PAYMENTS))
        return
    audits: list = []
    detail = yield from published(
        lambda: recurring_night(session, the_lake, day, audits, context.run_id),
        lambda _: suite_checks(audits, "recurring_payments"))
    context.log.info(f"recurring_payments: {detail['scope']} as of {detail['as_of']}, "
                     f"{detail['rows_written']} rows written")
    n = detail["rows_written"]
    yield from suite_checks(audits, "recurring_payments")
    if not audits:  # no user in scope: nothing was staged
        yield dg.AssetCheckResult(check_name="recurring_payments_suite",
                                  asset_key="recurring_payments", passed=True,
                                  description="no rows staged: nothing to validate")
    yield dg.MaterializeResult(metadata={"rows_written": n,
                                         **table_metadata(the_lake, RECURRING_PAYMENTS)})
