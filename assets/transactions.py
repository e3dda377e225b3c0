"""Ingestion and silver assets (orchestration only; the work is in connectors/ and pipelines/)."""


from collections.abc import Iterator
from datetime import date

import dagster as dg

from assets.checks import SILVER_CHECKS, blocked, check_result, silver_check_specs
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
    from connectors.ingest import ingest_day
    from lake.audit_log import AuditLog
    from lake.forget_objects import users_being_forgotten
    from lake.small_tables import append_rows
    from lake.tables import SYNC_JOBS

    the_lake = lake.lake()
    audit = AuditLog(the_lake)  # the run's decryptions, committed once when it ends
    creds = vault.credentials(the_lake, audit=audit, actor=f"pipeline:{context.job_name}")
    try:
        if not creds.all():
            context.log.warning(
                "no linked items: run `finlake demo` or `finlake link-sandbox` first")
        report = ingest_day(partner.runtime(), the_lake.store, creds,
                            partner.institutions(the_lake), _partition_date(context),
                            run_id=context.run_id, progress=context.log.info,
                            forgetting=users_being_forgotten(the_lake))
        append_rows(the_lake, SYNC_JOBS, report.jobs)
    finally:
        audit.flush()
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
    from pipelines.recategorise import refresh_categories
    from pipelines.steps import merge_partition, seed_reference
    from quality.validation import AuditFailed

    session, the_lake = spark.session(), lake.lake()
    seed_reference(session, the_lake)
    day = _partition_date(context)
    try:
        result = merge_partition(session, the_lake, day,
                                 quarantine_ceiling=quality.quarantine_ceiling,
                                 progress=context.log.info)
    except AuditFailed as failed:
        yield from _check_results(failed.audits, complete=False)
        raise blocked(failed) from None
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
