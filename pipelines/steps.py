"""Nightly steps: read from the lake, apply the pure transforms, write back.

Each step is a plain function of (spark, lake, partition) so that Dagster assets, the CLI
and tests call the same code.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from core.crashpoints import CRASH_EXIT_CODE, armed, crash_point
from lake import delta, models
from lake.lake import Lake
from lake.small_tables import upsert_rows
from lake.staging import discard, stage_frame
from lake.tables import (
    ACCOUNTS,
    ALERTS,
    BALANCE_OBSERVATIONS,
    CATEGORIES,
    CATEGORY_OVERRIDES,
    MERCHANT_RULES,
    QUARANTINE,
)
from pipelines import silver
from pipelines.categorise import categorise
from pipelines.contract import ContractStats
from pipelines.gold import log_changes
from pipelines.health import alert_key
from pipelines.intake import take_in
from pipelines.reconcile_raw import reconcile
from pipelines.reference import categories, merchant_rules
from pipelines.silver_merge import UNSEEN_MONTH, apply_supersession, merge_transactions, place_rows
from quality.validation import Audit, check, gate

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


def seed_reference(spark: SparkSession, lake: Lake) -> None:
    """Write the taxonomy and seeded merchant rules (a no-op when already current)."""
    for t, rows in ((CATEGORIES, categories()), (MERCHANT_RULES, merchant_rules())):
        df = spark.createDataFrame(rows, schema=t.ddl)
        delta.merge(spark, lake, t, df,
                    changed=" OR ".join(f"NOT (t.{c} <=> s.{c})" for c in t.column_names))


def engine_inputs(spark: SparkSession, lake: Lake) -> dict:
    """What the categorisation layers read: overrides, key rules, pattern rules, model."""
    from pipelines.reference import pattern_rules

    return {
        "overrides": delta.read_table(spark, lake, CATEGORY_OVERRIDES),
        "rules": delta.read_table(spark, lake, MERCHANT_RULES),
        "patterns": spark.createDataFrame(
            pattern_rules(), schema="priority int, pattern string, category string"),
        "model": models.current_model(lake.store),
    }


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
    intake = take_in(lake, sync_date, only, progress)
    if intake is None:
        log.info("%s: no complete raw updates landed", sync_date)
        return result
    # An on-demand merge's audits get a random scope: audit reports outlive a person's data
    # and must not name them (lake/forget.py verifies it).
    scope = sync_date.isoformat() + (f"/on_demand={uuid.uuid4().hex[:12]}" if only else "")
    stats = result.contract = intake.stats
    result.pages, result.quarantined = stats.pages, stats.quarantine_rows
    if intake.rejected:
        upsert_rows(lake, QUARANTINE, intake.rejected, update=False)
    changes = spark.read.parquet(intake.changes_uri) if intake.changes_uri else None
    held = lake.store.uri(intake.staging)
    gate(lake, "raw_changes", changes, scope, sync_date, result.audits,
         extra=[quarantine_share(stats, quarantine_ceiling)], held=held)
    months: list[str] = []
    if changes is not None:
        rows = silver.transaction_rows(silver.latest_changes(changes))
        rows = categorise(rows, **engine_inputs(spark, lake))
        placed, months, cells = place_rows(spark, lake, rows, stage=lambda df: stage_frame(
            spark, lake, df, f"{intake.staging}/silver"))
        silver_audit = gate(lake, "silver_transactions", placed, scope, sync_date,
                            result.audits, held=held)
        log_changes(spark, lake, sync_date, spark.createDataFrame(
            cells, schema="user_id string, month string"))
        result.changes = silver_audit.rows
        if armed("merge.mid"):
            placed = _die_while_merging(placed)
        result.rows_affected = merge_transactions(spark, lake, placed, months)
        crash_point("merge.after_merge")
        result.months = [m for m in months if m != UNSEEN_MONTH]
        if result.months:
            result.rows_affected += apply_supersession(spark, lake, result.months)
    if intake.accounts_uri:
        merge_accounts(spark, lake, sync_date, spark.read.parquet(intake.accounts_uri), result)
    result.reconciliation, rules = reconcile(spark, lake, changes, stats, intake.rejected,
                                             [m for m in months if m != UNSEEN_MONTH])
    gate(lake, "raw_silver_reconciliation", None, scope, sync_date, result.audits, extra=rules)
    discard(lake, intake.staging)
    result.seconds = time.perf_counter() - t0
    return result


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
    accounts = spark.createDataFrame(accounts.collect(), schema=accounts.schema)  # pin
    delta.merge(spark, lake, ACCOUNTS, accounts, changed="s.source_seq > t.source_seq")
    observations = accounts.select(
        "account_id", "user_id", "type", F.lit(sync_date).cast("date").alias("date"),
        F.coalesce("reported_balance", "balance_current").alias("balance_current"),
        "needs_review", F.col("last_synced_at").alias("observed_at"), "source_seq")
    delta.merge(spark, lake, BALANCE_OBSERVATIONS, observations,
                changed="s.source_seq > t.source_seq")
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


def set_user_category(spark: SparkSession, lake: Lake, user_id: str, txn_id: str,
                      category: str, as_of: date | None = None) -> list[str]:
    """A person's manual category for one transaction (never changed automatically);
    refreshes that user's gold cell for the month (budgets as of ``as_of``, default the
    newest sync day). Returns the months touched ([] if no row)."""
    from pyspark.sql import functions as F

    from lake.tables import TRANSACTIONS

    row = (delta.read_table(spark, lake, TRANSACTIONS)
           .filter((F.col("txn_id") == txn_id) & (F.col("user_id") == user_id))
           .select(*TRANSACTIONS.keys, "posted_month").collect())
    if not row:
        return []
    months = [row[0]["posted_month"]]
    as_of = as_of or latest_sync_day(spark, lake)
    source = spark.createDataFrame([(*[row[0][k] for k in TRANSACTIONS.keys], category)],
                                   schema="account_id string, partner_txn_id string, "
                                          "user_category string")
    delta.run_merge(spark, lake, TRANSACTIONS, source,
                    ["WHEN MATCHED THEN UPDATE SET t.user_category = s.user_category"],
                    partitions=months)
    from pipelines.gold import refresh_gold

    refresh_gold(spark, lake, spark.createDataFrame([(user_id, months[0])],
                                                    "user_id string, month string"), as_of)
    return months


def latest_sync_day(spark: SparkSession, lake: Lake) -> date:
    """The newest sync day silver holds (today when empty): what 'now' means for gold."""
    from datetime import UTC, datetime

    from lake.tables import TRANSACTIONS

    day = delta.read_table(spark, lake, TRANSACTIONS).agg(F.max("sync_date")).collect()[0][0]
    return day or datetime.now(UTC).date()


def refresh_net_worth(spark: SparkSession, lake: Lake, day: date,
                      audits: list[Audit] | None = None) -> int:
    """``balances_daily`` and ``net_worth_daily`` for one day: each account's last good
    balance on or before it (carried forward), then assets - liabilities per user.

    When ``balances_daily`` has the day before, only the day's observations are read and
    the rest is carried from it; otherwise (first run, a gap) all observations up to the day.
    """
    from datetime import timedelta

    from lake.tables import BALANCES_DAILY, NET_WORTH_DAILY
    from pipelines.networth import (
        balance_snapshots,
        balances_daily,
        carry_forward,
        net_worth_daily,
    )

    observations = delta.read_table(spark, lake, BALANCE_OBSERVATIONS)
    before = day - timedelta(days=1)
    previous = delta.read_table(spark, lake, BALANCES_DAILY).filter(
        (F.col("month") == f"{before:%Y-%m}") & (F.col("date") == F.lit(before).cast("date")))
    if previous.isEmpty():
        observed = observations.filter(F.col("date") <= F.lit(day).cast("date"))
        balances = balances_daily(balance_snapshots(observed), day, day)
    else:
        observed = observations.filter(F.col("date") == F.lit(day).cast("date"))
        balances = carry_forward(previous, balance_snapshots(observed), day)
    month = f"{day:%Y-%m}"
    balances = balances.withColumn("month", F.lit(month))
    balances = spark.createDataFrame(balances.collect(), schema=balances.schema)  # pin
    worth = net_worth_daily(balances).withColumn("month", F.lit(month))
    worth = spark.createDataFrame(worth.collect(), schema=worth.schema)  # pin
    audits = [] if audits is None else audits
    gate(lake, "balances_daily", balances, day.isoformat(), day, audits)
    gate(lake, "net_worth_daily", worth, day.isoformat(), day, audits)
    same = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in ("balance", "observed", "type"))
    n = delta.merge(spark, lake, BALANCES_DAILY, balances, changed=same, partitions=[month])
    cols = ("assets", "liabilities", "net_worth", "accounts", "stale_accounts")
    n += delta.merge(spark, lake, NET_WORTH_DAILY, worth, partitions=[month],
                     changed=" OR ".join(f"NOT (t.{c} <=> s.{c})" for c in cols))
    return n


def refresh_recurring(spark: SparkSession, lake: Lake, as_of: date | None = None,
                      users: DataFrame | None = None, audits: list[Audit] | None = None
                      ) -> int:
    """Recurring payments as of ``as_of`` (default: the freshest sync in silver, so replays
    give the same), detected in the last ``LOOKBACK_MONTHS`` months of silver.

    With ``users`` (a frame with ``user_id``: whose transactions changed) only their series
    and those of users with a series turning missed by ``as_of`` are recomputed: their rows
    are updated, inserted or deleted; every other user's rows are left as they are.
    """
    from lake.tables import RECURRING_PAYMENTS, TRANSACTIONS
    from pipelines.recurring import KEYS, due_users, lookback_months, recurring_payments

    t = RECURRING_PAYMENTS
    silver = delta.read_table(spark, lake, TRANSACTIONS)
    if as_of is None:
        as_of = silver.agg(F.max("sync_date")).collect()[0][0]
        if as_of is None:
            return 0
    silver = silver.filter(F.col("posted_month").isin(*lookback_months(as_of)))
    stored = delta.read_table(spark, lake, t)
    if users is not None:
        in_scope = users.select(F.col("user_id").cast("string").alias("user_id")).unionByName(
            due_users(stored, as_of)).distinct().collect()
        if not in_scope:
            return 0
        scope = spark.createDataFrame(in_scope, schema="user_id string")  # pin
        silver = silver.join(scope, "user_id", "left_semi")
        stored = stored.join(scope, "user_id", "left_semi")
    found = delta.conform(recurring_payments(silver, as_of), t)
    found = spark.createDataFrame(found.collect(), schema=found.schema)  # pin
    gate(lake, "recurring_payments", found, as_of.isoformat(), as_of,
         [] if audits is None else audits)
    gone = stored.join(found.select(*KEYS), list(KEYS), "left_anti")
    source = found.withColumn("_delete", F.lit(False)).unionByName(
        delta.conform(gone, t).withColumn("_delete", F.lit(True)))
    source = spark.createDataFrame(source.collect(), schema=source.schema)  # pin
    cols = [c for c in t.column_names if c not in t.keys]
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in cols)
    return delta.run_merge(spark, lake, t, source, [
        "WHEN MATCHED AND s._delete THEN DELETE",
        f"WHEN MATCHED AND ({changed}) THEN UPDATE SET "
        + ", ".join(f"t.{c} = s.{c}" for c in cols),
        f"WHEN NOT MATCHED AND NOT s._delete THEN INSERT ({', '.join(t.column_names)}) "
        f"VALUES ({', '.join(f's.{c}' for c in t.column_names)})",
    ])
