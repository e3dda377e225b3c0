"""Gold: daily balances and net worth; recurring payments."""

from datetime import date

import dagster as dg

from assets.checks import published, suite_checks
from assets.partitions import daily_partitions
from assets.resources import LakeResource, SparkResource
from assets.transactions import silver_transactions
from lake import step_marks


def _suite(name: str, asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(f"{name}_suite", asset=asset, blocking=True,
                             description=f"GX suite on the staged {name} rows, before merging")


@dg.asset(partitions_def=daily_partitions, group_name="gold", deps=[silver_transactions],
          kinds={"spark", "delta"},
          check_specs=[_suite("balances_daily", "net_worth"),
                       _suite("net_worth_daily", "net_worth")])
def net_worth(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):
    """Balances per account and net worth per user for the day (last known balance carried)."""
    from lake.tables import BALANCE_OBSERVATIONS, BALANCES_DAILY, NET_WORTH_DAILY
    from pipelines.wealth.refresh import refresh_net_worth

    the_lake, day = lake.lake(), date.fromisoformat(context.partition_key)
    tables = (BALANCE_OBSERVATIONS, BALANCES_DAILY, NET_WORTH_DAILY)
    mark = step_marks.unchanged(the_lake, "net_worth", day,
                                step_marks.table_states(the_lake, tables))
    if mark is not None:
        yield from _skipped(context, mark, ["balances_daily", "net_worth_daily"], "net_worth")
        return
    audits: list = []
    n = yield from published(
        lambda: refresh_net_worth(spark.session(), the_lake, day, audits),
        lambda _: suite_checks(audits, "net_worth"))
    step_marks.record(the_lake, "net_worth", day, step_marks.table_states(the_lake, tables),
                      {"rows_written": n}, context.run_id)
    yield from suite_checks(audits, "net_worth")
    yield dg.MaterializeResult(metadata={"rows_written": n})


def _skipped(context: dg.AssetExecutionContext, mark: dict, suites: list[str], asset: str):
    """None of the tables the step reads or writes changed since it completed this day."""
    note = step_marks.skipped_note(mark)
    context.log.info(f"{asset}: {note}: nothing to refresh")
    for suite in suites:
        yield dg.AssetCheckResult(check_name=f"{suite}_suite", asset_key=asset, passed=True,
                                  description=f"skipped: {note}; nothing staged")
    yield dg.MaterializeResult(metadata={"skipped": note, "rows_written": 0})


@dg.asset(partitions_def=daily_partitions, group_name="gold", deps=[silver_transactions],
          kinds={"spark", "delta"}, check_specs=[_suite("recurring_payments",
                                                        "recurring_payments")])
def recurring_payments(context: dg.AssetExecutionContext, lake: LakeResource,
                       spark: SparkResource):
    """Subscriptions and bills: cadence, next expected date, price increases, misses."""
    from pipelines.wealth.refresh import RECURRING_INPUTS, recurring_night

    session, the_lake = spark.session(), lake.lake()
    day = date.fromisoformat(context.partition_key)
    mark = step_marks.unchanged(the_lake, "recurring_payments", day,
                                step_marks.table_states(the_lake, RECURRING_INPUTS))
    if mark is not None:
        yield from _skipped(context, mark, ["recurring_payments"], "recurring_payments")
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
    yield dg.MaterializeResult(metadata={"rows_written": n})
