"""Silver's lake-facing refresh: one day's landed raw pages into silver.

Write-audit-publish around the pure transforms of this package: the raw contract's intake,
the silver rows (categorised), staging, audits, the MERGE with supersession, accounts and
balance observations, and the raw-silver reconciliation. The Dagster assets, the on-demand
job, releases and tests all call :func:`merge_partition`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from core.crashpoints import CRASH_EXIT_CODE, armed, crash_point
from core.ids import new_id
from lake import delta
from lake.lake import Lake
from lake.small_tables import upsert_rows
from lake.staging import discard, stage_frame
from lake.tables import ACCOUNTS, ALERTS, BALANCE_OBSERVATIONS, QUARANTINE
from pipelines.categories.categorise import pair_layers
from pipelines.categories.merchants import merchant_pairs
from pipelines.categories.refresh import engine_inputs
from pipelines.categories.rule_book import user_rules_input
from pipelines.health.institutions import alert_key
from pipelines.raw.contract import ContractStats
from pipelines.raw.intake import stage_landed_pages
from pipelines.silver import rows as silver
from pipelines.silver.changes import log_changes, log_series
from pipelines.silver.merge import (
    UNSEEN_MONTH,
    apply_supersession,
    merge_transactions,
    place_in_months,
)
from pipelines.silver.reconcile import reconcile
from pipelines.silver.reissued import flag_reissued
from quality.validation import Audit, audit_before_publish, check

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
QUARANTINE_CEILING = 0.5  # default for FINLAKE_QUARANTINE_CEILING
QUARANTINE_MIN_RECORDS = 50  # fewer bad records than this never hold a partition back

@dataclass
class SilverResult:
    sync_date: date
    pages: int = 0
    changes: int = 0
    quarantined: int = 0
    months: list[str] = field(default_factory=list)
    rows_affected: int = 0
    balance_alerts: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    contract: ContractStats = field(default_factory=ContractStats)
    audits: list[Audit] = field(default_factory=list)
    reconciliation: dict = field(default_factory=dict)


def merge_partition(spark: SparkSession, lake: Lake, sync_date: date,
                    only: tuple[str, str] | None = None, *,
                    quarantine_ceiling: float = QUARANTINE_CEILING,
                    progress: Callable[[str], None] | None = None) -> SilverResult:
    """Merge one day's landed raw pages into silver (``only`` = (user_id, item_id) limits it
    to one item: on-demand sync); returns the months it touched.

    Write-audit-publish: the raw contract quarantines bad records, the valid changes are
    audited (``raw_changes`` suite), the silver rows are built and staged and audited
    (``silver_transactions`` suite), and only then MERGEd. A failed audit raises
    :class:`AuditFailed` with nothing published. After the MERGE every raw record is
    reconciled (``raw_silver_reconciliation``)."""
    t0 = time.perf_counter()
    result = SilverResult(sync_date)
    intake = stage_landed_pages(lake, sync_date, only, progress)
    if intake is None:
        log.info("%s: no complete raw updates landed", sync_date)
        return result
    # An on-demand merge's audits get a random scope: audit reports outlive a person's data
    # and must not name them (lake/forget.py verifies it).
    scope = sync_date.isoformat() + (f"/on_demand={new_id(12)}" if only else "")
    stats = result.contract = intake.stats
    result.pages, result.quarantined = stats.pages, stats.quarantine_rows
    if intake.rejected:
        upsert_rows(lake, QUARANTINE, intake.rejected, update=False)
    changes = spark.read.parquet(intake.changes_uri) if intake.changes_uri else None
    held = lake.store.uri(intake.staging)
    audit_before_publish(lake, "raw_changes", changes, scope, sync_date, result.audits,
                         extra=[quarantine_share(stats, quarantine_ceiling)], held=held)
    months: list[str] = []
    if changes is not None:
        rows = categorised_day(spark, lake, changes, intake.staging)
        placed, months, cells, series = place_in_months(
            spark, lake, rows, stage=lambda df: stage_frame(
                spark, lake, df, f"{intake.staging}/silver"))
        silver_audit = audit_before_publish(lake, "silver_transactions", placed, scope,
                                            sync_date, result.audits, held=held)
        log_changes(spark, lake, sync_date, spark.createDataFrame(
            cells, schema="user_id string, month string"))
        log_series(spark, lake, sync_date, series)
        result.changes = silver_audit.rows
        if armed("merge.mid"):
            placed = _die_while_merging(placed)
        result.rows_affected = merge_transactions(spark, lake, placed, months)
        crash_point("merge.after_merge")
        result.months = [m for m in months if m != UNSEEN_MONTH]
        if result.months:
            result.rows_affected += apply_supersession(spark, lake, result.months)
            # a partner's re-issued ids: the later copy is flagged, counted once
            result.rows_affected += flag_reissued(spark, lake, result.months)
    if intake.accounts_uri:
        merge_accounts(spark, lake, sync_date, spark.read.parquet(intake.accounts_uri), result)
    result.reconciliation, rules = reconcile(spark, lake, changes, stats, intake.rejected,
                                             [m for m in months if m != UNSEEN_MONTH])
    audit_before_publish(lake, "raw_silver_reconciliation", None, scope, sync_date,
                         result.audits, extra=rules)
    discard(lake, intake.staging)
    result.seconds = time.perf_counter() - t0
    return result


def categorised_day(spark: SparkSession, lake: Lake, changes: DataFrame,
                    staging: str | None = None) -> DataFrame:
    """The day's silver rows, merchant key and category set. Normalising, rules and the model
    depend only on (description, merchant): each distinct pair of the day is normalised once,
    staged under ``staging`` (or pinned in the session without it; so no later read of the
    rows recomputes it), scored once, and looked up by the rows; only a person's overrides
    are joined per row. Staged, because real descriptions carry reference numbers: a day's
    distinct pairs can be nearly as many as its rows, too many to hold in the driver."""
    inputs = engine_inputs(spark, lake)
    pairs = merchant_pairs(silver.description_pairs(changes)).drop("merchant_display")
    pairs = (stage_frame(spark, lake, pairs, f"{staging}/pairs") if staging
             else delta.pin(spark, pairs))
    layers = pair_layers(pairs, inputs["rules"], inputs["model"], patterns=inputs["patterns"])
    return silver.categorised_rows(silver.latest_changes(changes), layers,
                                   inputs["overrides"], user_rules_input(spark, lake))


def quarantine_share(stats: ContractStats, ceiling: float) -> dict:
    """Partition-level rule: a partition where most records fail the contract is treated as
    corrupt and held back whole (a few bad records are quarantined and the rest proceeds)."""
    units = stats.records + stats.bad_pages + stats.bad_sections
    bad = stats.quarantined + stats.bad_pages + stats.bad_sections
    share = bad / units if units else 0.0
    systemic = bad >= QUARANTINE_MIN_RECORDS and share > ceiling
    return check("quarantined share of the partition at most "
                 f"{ceiling:.0%} (from {QUARANTINE_MIN_RECORDS} bad records)", not systemic,
                 f"{bad} of {units} records or pages quarantined ({share:.1%})",
                 "a partition mostly rejected by the raw contract is corrupt, not noisy")


def merge_accounts(spark: SparkSession, lake: Lake, sync_date: date, staged: DataFrame,
                   result: SilverResult) -> None:
    """Balances and account details from the day's pages (implausible jumps held back)."""
    accounts = silver.review_balances(silver.account_rows(staged),
                                      delta.read_table(spark, lake, ACCOUNTS))
    accounts = delta.pin(spark, accounts)
    delta.merge(spark, lake, ACCOUNTS, accounts, changed="s.source_seq > t.source_seq")
    observations = accounts.select(
        "account_id", "user_id", "type", F.lit(sync_date).cast("date").alias("date"),
        F.coalesce("reported_balance", "balance_current").alias("balance_current"),
        "needs_review", F.col("last_synced_at").alias("observed_at"), "source_seq",
        F.lit(f"{sync_date:%Y-%m}").alias("month"))
    delta.merge(spark, lake, BALANCE_OBSERVATIONS, observations,
                changed="s.source_seq > t.source_seq", partitions=[f"{sync_date:%Y-%m}"])
    applied = delta.read_table(spark, lake, ACCOUNTS).filter("needs_review").join(
        accounts.select("account_id", "source_seq"), ["account_id", "source_seq"])
    result.balance_alerts = balance_alerts([r.asDict() for r in applied.collect()])
    upsert_rows(lake, ALERTS, result.balance_alerts, update=False)


def balance_alerts(flagged: list[dict]) -> list[dict]:
    """One alert per account and held-back balance value (idempotent)."""
    return [{"alert_key": alert_key("balance_review", r["account_id"], r["reported_balance"]),
             "kind": "balance_review", "user_id": r["user_id"], "subject": r["account_id"],
             "detail": f"{r['review_reason']}; kept the previous balance until reviewed",
             "period": str(r["last_synced_at"])[:10], "created_at": r["last_synced_at"],
             "sent_at": None} for r in flagged]


def _die_while_merging(rows: DataFrame) -> DataFrame:
    """Crash test only: kill the process while Spark evaluates the MERGE's source."""
    import os

    from pyspark.sql import functions as F

    @F.udf("boolean")
    def _die(_: object) -> bool:
        os._exit(CRASH_EXIT_CODE)

    return rows.filter(_die(F.col("source_seq")))


def latest_sync_day(spark: SparkSession, lake: Lake) -> date:
    """The newest sync day silver holds (today when empty): what 'now' means for gold."""
    from datetime import UTC, datetime

    from lake.tables import TRANSACTIONS

    day = delta.read_table(spark, lake, TRANSACTIONS).agg(F.max("sync_date")).collect()[0][0]
    return day or datetime.now(UTC).date()
