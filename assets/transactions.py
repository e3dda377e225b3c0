"""Ingestion and silver assets (orchestration only; the work is in connectors/ and pipelines/)."""


from datetime import date

import dagster as dg

from finlake.partitions import daily_partitions
from finlake.resources import LakeResource, PartnerResource, SparkResource, VaultResource


def _partition_date(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@dg.asset(partitions_def=daily_partitions, group_name="ingest", pool="partner_sync",
          kinds={"python", "s3"})
def raw_transaction_pages(
    context: dg.AssetExecutionContext, lake: LakeResource, partner: PartnerResource,
    vault: VaultResource,
) -> dg.MaterializeResult:
    """Partner /transactions/sync pages of the day, landed write-once in raw storage."""
    from connectors.ingest import ingest_day

    the_lake = lake.lake()
    creds = vault.credentials(the_lake)
    if not creds.active():
        context.log.warning("no linked items: run `finlake demo` or `finlake link-sandbox` first")
    results = ingest_day(partner.client(), the_lake.store, creds, _partition_date(context),
                         progress=context.log.info)
    return dg.MaterializeResult(metadata={
        "items": len(results),
        "pages": sum(r.pages for r in results),
        "added": sum(r.added for r in results),
        "modified": sum(r.modified for r in results),
        "removed": sum(r.removed for r in results),
    })


@dg.asset(partitions_def=daily_partitions, group_name="silver", deps=[raw_transaction_pages],
          kinds={"spark", "delta"})
def silver_transactions(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource,
) -> dg.Output[list[str]]:
    """Transactions merged from the day's raw pages (idempotent MERGE on account + partner id)."""
    from pipelines.steps import merge_partition, seed_reference

    session, the_lake = spark.session(), lake.lake()
    seed_reference(session, the_lake)
    result = merge_partition(session, the_lake, _partition_date(context))
    context.log.info(f"silver: {result.changes} changes, {result.quarantined} quarantined, "
                     f"months {result.months}, {result.seconds:.1f}s")
    return dg.Output(result.months, metadata={
        "pages": result.pages, "changes": result.changes, "quarantined": result.quarantined,
        "rows_affected": result.rows_affected, "months": ", ".join(result.months) or "-",
    })
