"""Gold: daily balances and net worth; recurring payments."""

from datetime import date

import dagster as dg

from assets.transactions import silver_transactions
from finlake.partitions import daily_partitions
from finlake.resources import LakeResource, SparkResource


@dg.asset(partitions_def=daily_partitions, group_name="gold", deps=[silver_transactions],
          kinds={"spark", "delta"})
def net_worth(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
              ) -> dg.MaterializeResult:
    """Balances per account and net worth per user for the day (last known balance carried)."""
    from pipelines.steps import refresh_net_worth

    n = refresh_net_worth(spark.session(), lake.lake(), date.fromisoformat(context.partition_key))
    return dg.MaterializeResult(metadata={"rows_written": n})


@dg.asset(partitions_def=daily_partitions, group_name="gold", deps=[silver_transactions],
          kinds={"spark", "delta"})
def recurring_payments(context: dg.AssetExecutionContext, lake: LakeResource,
                       spark: SparkResource) -> dg.MaterializeResult:
    """Subscriptions and bills: cadence, next expected date, price increases, misses."""
    from pipelines.gold import changed_cells
    from pipelines.steps import refresh_recurring

    session, the_lake = spark.session(), lake.lake()
    day = date.fromisoformat(context.partition_key)
    users = changed_cells(session, the_lake, day).select("user_id").distinct()
    return dg.MaterializeResult(metadata={
        "rows_written": refresh_recurring(session, the_lake, as_of=day, users=users)})
