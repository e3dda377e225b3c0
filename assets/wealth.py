"""Gold: daily balances and net worth; recurring payments."""

from datetime import date

import dagster as dg

from assets.checks import published, suite_checks
from assets.partitions import daily_partitions
from assets.resources import LakeResource, SparkResource
from assets.transactions import silver_transactions


def _suite(name: str, asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(f"{name}_suite", asset=asset, blocking=True,
                             description=f"GX suite on the staged {name} rows, before merging")


@dg.asset(partitions_def=daily_partitions, group_name="gold", deps=[silver_transactions],
          kinds={"spark", "delta"},
          check_specs=[_suite("balances_daily", "net_worth"),
                       _suite("net_worth_daily", "net_worth")])
def net_worth(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):
    """Balances per account and net worth per user for the day (last known balance carried)."""
    from pipelines.wealth.refresh import refresh_net_worth

    audits: list = []
    n = yield from published(
        lambda: refresh_net_worth(spark.session(), lake.lake(),
                                  date.fromisoformat(context.partition_key), audits),
        lambda _: suite_checks(audits, "net_worth"))
    yield from suite_checks(audits, "net_worth")
    yield dg.MaterializeResult(metadata={"rows_written": n})


@dg.asset(partitions_def=daily_partitions, group_name="gold", deps=[silver_transactions],
          kinds={"spark", "delta"}, check_specs=[_suite("recurring_payments",
                                                        "recurring_payments")])
def recurring_payments(context: dg.AssetExecutionContext, lake: LakeResource,
                       spark: SparkResource):
    """Subscriptions and bills: cadence, next expected date, price increases, misses."""
    from pipelines.silver.changes import changed_cells
    from pipelines.wealth.refresh import refresh_recurring

    session, the_lake = spark.session(), lake.lake()
    day = date.fromisoformat(context.partition_key)
    users = changed_cells(session, the_lake, day).select("user_id").distinct()
    audits: list = []
    n = yield from published(
        lambda: refresh_recurring(session, the_lake, as_of=day, users=users, audits=audits),
        lambda _: suite_checks(audits, "recurring_payments"))
    yield from suite_checks(audits, "recurring_payments")
    if not audits:  # no user in scope: nothing was staged
        yield dg.AssetCheckResult(check_name="recurring_payments_suite",
                                  asset_key="recurring_payments", passed=True,
                                  description="no rows staged: nothing to validate")
    yield dg.MaterializeResult(metadata={"rows_written": n})
