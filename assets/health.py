"""Institution health (gold) from the day's sync attempts."""

from datetime import UTC, date, datetime

import dagster as dg

from assets.transactions import raw_transaction_pages
from finlake.partitions import daily_partitions
from finlake.resources import LakeResource


@dg.asset(partitions_def=daily_partitions, group_name="gold", deps=[raw_transaction_pages],
          kinds={"python", "delta"})
def institution_health(context: dg.AssetExecutionContext, lake: LakeResource
                       ) -> dg.MaterializeResult:
    """Per institution and day: success rate and silent-empty detection; alerts below 95%."""
    import pyarrow.dataset as ds

    from lake.small_tables import read_rows, upsert_rows
    from lake.tables import ALERTS, INSTITUTION_HEALTH, SYNC_JOBS
    from pipelines.health import health_alerts
    from pipelines.health import institution_health as compute

    the_lake = lake.lake()
    day = date.fromisoformat(context.partition_key)
    jobs = read_rows(the_lake, SYNC_JOBS, ds.field("sync_date") == day)
    health = compute(jobs, day)
    alerts = health_alerts(health, datetime.now(UTC))
    upsert_rows(the_lake, INSTITUTION_HEALTH, health)
    upsert_rows(the_lake, ALERTS, alerts, update=False)
    unhealthy = {h["institution_id"]: h["status"] for h in health if h["status"] != "healthy"}
    for inst, status in unhealthy.items():
        context.log.warning(f"institution {inst} is {status}")
    return dg.MaterializeResult(metadata={
        "institutions": len(health), "unhealthy": ", ".join(
            f"{k} ({v})" for k, v in sorted(unhealthy.items())) or "-",
        "alerts": len(alerts)})
