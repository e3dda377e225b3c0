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
from assets.table_assets import column_schema, materialized, table_metadata, table_spec
from lake import step_marks
from lake.tables import (
    ACCOUNTS,
    BALANCE_OBSERVATIONS,
    CATEGORIES,
    CREDENTIALS,
    GOLD_CHANGES,
    QUARANTINE,
    SERIES_CHANGES,
    SYNC_JOBS,
    TRANSACTIONS,
)


def _partition_date(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


RAW_TABLES = (SYNC_JOBS, CREDENTIALS)  # every sync attempt; each item's sync status


@dg.multi_asset(
    specs=[dg.AssetSpec("raw_transaction_pages", group_name="ingest", kinds={"python", "s3"},
                        description="Partner /transactions/sync pages of the day, landed "
                                    "write-once in raw storage.",
                        deps=["institutions"], partitions_def=daily_partitions),
           *(table_spec(t, group="ingest", deps=["raw_transaction_pages"],
                        partitions_def=daily_partitions) for t in RAW_TABLES)],
    partitions_def=daily_partitions, pool="partner_sync", can_subset=False,
)
def raw_transaction_pages(
    context: dg.AssetExecutionContext, lake: LakeResource, partner: PartnerResource,
    vault: VaultResource,
) -> Iterator[dg.MaterializeResult]:
    """Partner /transactions/sync pages of the day, landed write-once in raw storage."""
    report = ingest(lake, partner, vault, _partition_date(context), run_id=context.run_id,
                    actor=f"pipeline:{context.job_name}", warn=context.log.warning,
                    progress=context.log.info)
    yield dg.MaterializeResult(asset_key="raw_transaction_pages", metadata={
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
    yield from materialized(lake.lake(), RAW_TABLES)


# Written by the silver step besides transactions: the accounts and balances in the pages,
# records held back, the ledgers of what gold and the time series must redo, the taxonomy.
SILVER_TABLES = {ACCOUNTS: ["raw_transaction_pages"],
                 BALANCE_OBSERVATIONS: ["raw_transaction_pages"],
                 QUARANTINE: ["raw_transaction_pages"],
                 GOLD_CHANGES: ["silver_transactions"],
                 SERIES_CHANGES: ["silver_transactions"],
                 CATEGORIES: []}


@dg.multi_asset(
    specs=[dg.AssetSpec("silver_transactions", group_name="silver", kinds={"spark", "delta"},
                        description="Transactions merged from the day's raw pages (idempotent "
                                    "MERGE on account + partner id).",
                        # Categorised with the rules and model the categories group publishes,
                        # and with people's own overrides and categories.
                        deps=["raw_transaction_pages", "merchant_rules", "category_model",
                              "category_overrides", "transaction_overrides",
                              "custom_categories",
                              "user_rules", "duplicate_keeps"],
                        metadata={"dagster/column_schema": column_schema(TRANSACTIONS)},
                        partitions_def=daily_partitions),
           *(table_spec(t, group="silver", deps=deps, partitions_def=daily_partitions)
             for t, deps in SILVER_TABLES.items())],
    check_specs=silver_check_specs("silver_transactions"),
    partitions_def=daily_partitions, can_subset=False,
)
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
    inputs = silver_inputs(the_lake, day, quality.quarantine_ceiling)
    mark = step_marks.unchanged(the_lake, "silver", day, inputs)
    if mark is not None:
        yield from _skipped(context, session, the_lake, day, mark)
        return
    result = yield from published(
        lambda: merge_partition(session, the_lake, day,
                                quarantine_ceiling=quality.quarantine_ceiling,
                                progress=context.log.info),
        lambda failed: _check_results(failed.audits, complete=False))
    recat_months, recategorised = refresh_categories(session, the_lake, day)
    step_marks.record(the_lake, "silver", day, silver_inputs(
        the_lake, day, quality.quarantine_ceiling, raw=inputs["raw"]), {
        "pages": result.pages, "changes": result.changes, "quarantined": result.quarantined,
        "months": result.months, "reconciliation": result.reconciliation},
        context.run_id)
    result.months = sorted(set(result.months) | set(recat_months))
    context.log.info(f"silver: {result.changes} changes, {result.quarantined} quarantined, "
                     f"months {result.months}, {result.seconds:.1f}s")
    yield from _check_results(result.audits)
    yield from _tables(the_lake, {
        "pages": result.pages, "changes": result.changes, "quarantined": result.quarantined,
        "rows_affected": result.rows_affected, "recategorised": recategorised,
        "months": ", ".join(result.months) or "-",
        "contract": dg.MetadataValue.json(result.contract.as_dict()),
        "reconciliation": dg.MetadataValue.json(result.reconciliation),
        "quality_reports": dg.MetadataValue.json(
            {a.suite: a.report_uri for a in result.audits}),
    })


def _tables(the_lake, metadata: dict) -> Iterator[dg.MaterializeResult]:
    """The silver step's assets: transactions (with the step's metadata) and the others."""
    yield dg.MaterializeResult(asset_key="silver_transactions", metadata={
        **metadata, **table_metadata(the_lake, TRANSACTIONS)})
    yield from materialized(the_lake, SILVER_TABLES)


def silver_inputs(the_lake, day: date, ceiling: float, raw: str | None = None) -> dict:
    """What a day's silver merge and its checks are a function of: the day's raw objects
    (write-once), the quarantine ceiling, and silver as the merge left it. Once these merged
    completely, merging again changes nothing and its checks find what they found then; any
    later commit to silver (another day, a correction, an edit outside finlake) means the
    raw-silver reconciliation must run again, so the day is merged and checked again."""
    from lake.tables import TRANSACTIONS

    return {"raw": raw or step_marks.raw_fingerprint(the_lake, day),
            "quarantine_ceiling": ceiling,
            "transactions": step_marks.table_states(the_lake, [TRANSACTIONS])[TRANSACTIONS.name]}


def _skipped(context: dg.AssetExecutionContext, session, the_lake, day: date, mark: dict):
    """A replay of raw already merged into silver as it still is: no intake, no MERGE, and
    the checks say what the merge that did the work found. Categories still refresh (a new
    override is not in raw; if it changes silver, the next replay merges and checks again)."""
    from pipelines.corrections.recategorise import refresh_categories

    note = step_marks.skipped_note(mark)
    context.log.info(f"silver: raw of {day} {note}: nothing to merge, checks only "
                     f"(then: {mark.get('changes', 0)} changes, "
                     f"{mark.get('quarantined', 0)} quarantined)")
    recat_months, recategorised = refresh_categories(session, the_lake, day)
    for name, _ in SILVER_CHECKS.values():
        yield dg.AssetCheckResult(
            check_name=name, asset_key="silver_transactions", passed=True,
            description=f"skipped: {note}; nothing staged or merged",
            metadata={"reconciliation_then": dg.MetadataValue.json(
                mark.get("reconciliation") or {})})
    yield from _tables(the_lake, {
        "skipped": note, "pages": 0, "changes": 0, "recategorised": recategorised,
        "months": ", ".join(sorted(recat_months)) or "-"})


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
