"""Ingestion and silver assets (orchestration only; the work is in connectors/ and pipelines/)."""


from collections.abc import Iterator
from datetime import date

import dagster as dg

from assets.checks import SILVER_CHECKS, check_result, published, silver_check_specs
from assets.ingest import ingest
from assets.partitions import daily_partitions
from assets.resources import (
    LakeResource,
    PartnerResource,
    QualitySettings,
    SparkResource,
    VaultResource,
)


def _partition_date(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@dg.asset(partitions_def=daily_partitions, group_name="ingest", pool="partner_sync",
          kinds={"python", "s3"})
def raw_transaction_pages(
    context: dg.AssetExecutionContext, lake: LakeResource, partner: PartnerResource,
    vault: VaultResource,
) -> dg.MaterializeResult:
    """Partner /transactions/sync pages of the day, landed write-once in raw storage."""
    report = ingest(lake, partner, vault, _partition_date(context), run_id=context.run_id,
                    actor=f"pipeline:{context.job_name}", warn=context.log.warning,
                    progress=context.log.info)
    return dg.MaterializeResult(metadata={
        "items_synced": report.count("success"),
        "items_deferred": report.count("deferred"),
        "items_failed": report.count("failed"),
        "items_skipped": len(report.skipped),
        "attempts": len(report.jobs),
        "pages": report.total("pages"),
        "added": report.total("txns_added"),
        "modified": report.total("txns_modified"),
        "removed": report.total("txns_removed"),
    })


@dg.asset(partitions_def=daily_partitions, group_name="silver", deps=[raw_transaction_pages],
          kinds={"spark", "delta"}, check_specs=silver_check_specs("silver_transactions"))
def silver_transactions(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource,
    quality: QualitySettings,
):
    """Transactions merged from the day's raw pages (idempotent MERGE on account + partner id)."""
    from pipelines.categories.refresh import seed_reference
    from pipelines.corrections.recategorise import refresh_categories
    from pipelines.silver.refresh import merge_partition

    session, the_lake = spark.session(), lake.lake()
    seed_reference(session, the_lake)
    day = _partition_date(context)
    result = yield from published(
        lambda: merge_partition(session, the_lake, day,
                                quarantine_ceiling=quality.quarantine_ceiling,
                                progress=context.log.info),
        lambda failed: _check_results(failed.audits, complete=False))
    recat_months, recategorised = refresh_categories(session, the_lake, day)
    result.months = sorted(set(result.months) | set(recat_months))
    context.log.info(f"silver: {result.changes} changes, {result.quarantined} quarantined, "
                     f"months {result.months}, {result.seconds:.1f}s")
    yield from _check_results(result.audits)
    yield dg.Output(result.months, metadata={
        "pages": result.pages, "changes": result.changes, "quarantined": result.quarantined,
        "rows_affected": result.rows_affected, "recategorised": recategorised,
        "months": ", ".join(result.months) or "-",
        "contract": dg.MetadataValue.json(result.contract.as_dict()),
        "reconciliation": dg.MetadataValue.json(result.reconciliation),
        "quality_reports": dg.MetadataValue.json(
            {a.suite: a.report_uri for a in result.audits}),
    })


def _check_results(audits, complete: bool = True) -> Iterator[dg.AssetCheckResult]:
    """The suites that ran; when the partition went through (``complete``), the others
    pass with nothing to validate (no page landed that day)."""
    for suite, (name, _) in SILVER_CHECKS.items():
        mine = [a for a in audits if a.suite == suite]
        if mine:
            yield check_result(mine, name, "silver_transactions")
        elif complete:
            yield dg.AssetCheckResult(check_name=name, asset_key="silver_transactions",
                                      passed=True, description="nothing landed to validate")
