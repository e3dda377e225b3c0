"""Asset checks: the silver suite blocks gold from publishing when it fails."""


from datetime import UTC, datetime

import dagster as dg

from assets.transactions import silver_transactions
from finlake.resources import LakeResource, SparkResource


@dg.asset_check(asset=silver_transactions, blocking=True,
                description="Great Expectations suite on the silver rows the partition touched")
def silver_transactions_suite(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, spark: SparkResource,
) -> dg.AssetCheckResult:
    from pyspark.sql import functions as F

    from lake.delta import read_table
    from lake.tables import TRANSACTIONS
    from quality.silver_suite import SUITE_NAME, validate_live_transactions

    partition = context.run.tags.get("dagster/partition")
    silver = read_table(spark.session(), lake.lake(), TRANSACTIONS)
    touched = silver.filter(F.col("sync_date") == F.lit(partition).cast("date")) if partition \
        else silver
    months = [r[0] for r in touched.select("posted_month").distinct().collect()]
    scope = silver.filter(F.col("posted_month").isin(months))
    live = scope.filter(F.col("status") == "live")
    result = validate_live_transactions(live, datetime.now(UTC).date())
    return dg.AssetCheckResult(
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(result.failures) or "all expectations met",
        metadata={"suite": SUITE_NAME, "months": ", ".join(sorted(months)) or "-",
                  "results": dg.MetadataValue.json(result.results)},
    )


@dg.asset_check(asset="monthly_spend", blocking=True,
                description="Gold reconciles with silver: expense totals and counts per "
                            "user-month agree across silver, daily and monthly spend and "
                            "cash flow, for every cell the partition changed")
def gold_reconciles_with_silver(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, spark: SparkResource,
) -> dg.AssetCheckResult:
    from datetime import date

    from pipelines.gold import changed_cells, reconcile_cells

    session, the_lake = spark.session(), lake.lake()
    partition = context.run.tags.get("dagster/partition")
    if partition:
        cells = changed_cells(session, the_lake, date.fromisoformat(partition))
    else:
        from pipelines.gold import all_cells

        cells = all_cells(session, the_lake)
    n = cells.count()
    bad = reconcile_cells(session, the_lake, cells)
    return dg.AssetCheckResult(
        passed=not bad, severity=dg.AssetCheckSeverity.ERROR,
        description=(f"{len(bad)} of {n} user-months differ, e.g. {bad[0]}" if bad
                     else f"{n} user-months reconcile"),
        metadata={"cells_checked": n, "cells_differing": len(bad),
                  "examples": dg.MetadataValue.json([{k: str(v) for k, v in r.items()}
                                                     for r in bad[:5]])})
