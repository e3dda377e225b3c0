"""Gold spend assets."""


import dagster as dg

from assets.transactions import silver_transactions
from finlake.partitions import daily_partitions
from finlake.resources import LakeResource, SparkResource


@dg.asset(partitions_def=daily_partitions, group_name="gold", kinds={"spark", "delta"},
          ins={"months": dg.AssetIn(key=silver_transactions.key)})
def monthly_spend(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource, months: list[str],
) -> dg.MaterializeResult:
    """Spend per user, month and category for the months the day's changes touched."""
    from pipelines.steps import refresh_monthly_spend

    changed = refresh_monthly_spend(spark.session(), lake.lake(), months)
    return dg.MaterializeResult(metadata={"months": ", ".join(months) or "-",
                                          "cells_changed": changed})
