"""Asset checks: audits before publishing (write-audit-publish) and gold-silver reconciliation.

The silver and gold assets validate their staged output themselves and report each suite as
a check result; an error-severity failure stops the asset before it publishes (the run
fails with the reason) and, as the checks are blocking, nothing downstream runs.
"""

from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

import dagster as dg

from assets.resources import LakeResource, SparkResource

if TYPE_CHECKING:
    from quality.validation import Audit, AuditFailed

T = TypeVar("T")

# suite -> (check name, what it checks)
SILVER_CHECKS = {
    "raw_changes": ("raw_changes_suite",
                    "Raw contract + GX suite on the partition's change records, before merging"),
    "silver_transactions": ("silver_transactions_suite",
                            "GX suite on the staged silver rows, before the MERGE"),
    "raw_silver_reconciliation": ("raw_silver_reconciliation",
                                  "Every raw record is in silver, superseded or quarantined"),
}


def silver_check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=asset, blocking=True, description=text)
            for name, text in SILVER_CHECKS.values()]


def gold_check_specs(tables: Iterable[str]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(f"{t}_suite", asset=t, blocking=True,
                              description=f"GX suite on the staged {t} rows, before publishing")
            for t in tables]


def check_result(audits: list["Audit"], name: str, asset: str) -> dg.AssetCheckResult:
    """One check result for one or more runs of a suite (budgets run once per month)."""
    errors = [e for a in audits for e in a.errors]
    warnings = [w for a in audits for w in a.warnings]
    failed = [a for a in audits if a.errors or a.warnings]
    reports = [a.report_uri for a in audits if a.report_uri]
    meta: dict = {
        "suite": f"{audits[0].suite} v{audits[0].version}",
        "rows_validated": sum(a.rows for a in audits),
        "errors": len(errors), "warnings": len(warnings),
        "seconds": round(sum(a.seconds for a in audits), 2),
        "expectations": dg.MetadataValue.json([r for a in audits for r in a.results][:60]),
    }
    if reports:
        meta["report"] = dg.MetadataValue.url(reports[-1] if not failed
                                              else (failed[0].report_uri or reports[-1]))
    return dg.AssetCheckResult(
        check_name=name, asset_key=asset, passed=not errors and not warnings,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=" | ".join(a.summary() for a in (failed or audits[-1:])),
        metadata=meta)


def suite_checks(audits: list["Audit"], asset: str | None = None
                 ) -> Iterator[dg.AssetCheckResult]:
    """One ``<suite>_suite`` check result per suite that ran (on ``asset``, or on the table the
    suite is named after), in the order they ran."""
    for suite in dict.fromkeys(a.suite for a in audits):
        yield check_result([a for a in audits if a.suite == suite], f"{suite}_suite",
                           asset or suite)


def published(refresh: Callable[[], T],
              failed_checks: Callable[["AuditFailed"], Iterable[dg.AssetCheckResult]]
              ) -> Generator[dg.AssetCheckResult, None, T]:
    """Run a refresh that gates what it publishes and return what it returns. When an audit
    stops it, report ``failed_checks(failure)`` and fail the run with what failed and where to
    look (nothing was published). In an asset: ``result = yield from published(...)``; a
    generator, not a ``with`` block, because the check results must be yielded by the asset."""
    from quality.validation import AuditFailed

    try:
        return refresh()
    except AuditFailed as failed:
        yield from failed_checks(failed)
        raise blocked(failed) from None


def blocked(failed: "AuditFailed") -> dg.Failure:
    """The run's failure when an audit stopped publishing: what failed and where to look."""
    first = next(a for a in failed.audits if not a.passed)
    return dg.Failure(description=str(failed), metadata={
        "suite": first.suite, "scope": first.scope,
        "failed_expectations": dg.MetadataValue.json(first.errors),
        "report": dg.MetadataValue.url(first.report_uri or "-")})


@dg.asset_check(asset="monthly_spend", blocking=True,
                description="Gold reconciles with silver: expense totals and counts per "
                            "user-month agree across silver, daily and monthly spend and "
                            "cash flow, for every cell the partition changed")
def gold_reconciles_with_silver(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, spark: SparkResource,
) -> dg.AssetCheckResult:
    from datetime import date

    from pipelines.gold.refresh import reconcile_cells
    from pipelines.silver.changes import changed_cells

    session, the_lake = spark.session(), lake.lake()
    partition = context.run.tags.get("dagster/partition")
    if partition:
        cells = changed_cells(session, the_lake, date.fromisoformat(partition))
    else:
        from pipelines.silver.changes import all_cells

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
