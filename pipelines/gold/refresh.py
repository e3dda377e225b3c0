"""Gold refresh by cell: a night's silver changes recompute only the user x month cells they
touched, and the MERGE rewrites only cells whose figures changed.

The silver merge logs the cells it is about to change in ``gold_changes`` (before the MERGE,
so a crash cannot lose one). Gold reads the day's cells, recomputes those cells from silver
and replaces them: changed rows are updated, new rows inserted, rows the cell no longer has
deleted. A full rebuild is the same code given every cell, so the two give identical tables.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from core.crashpoints import crash_point
from core.months import month_end, month_range, shift_month, with_months_before
from lake import delta
from lake.lake import Lake
from lake.small_tables import upsert_rows
from lake.staging import discard, new_run, stage_frame
from lake.tables import (
    ALERTS,
    BUDGET_PROGRESS,
    BUDGETS,
    CATEGORIES,
    CUSTOM_CATEGORIES,
    DAILY_SPEND,
    EXPENSE_DAYS,
    GOLD_CHANGES,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    SPEND_TRENDS,
    TRANSACTION_SPLITS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
    Table,
)
from pipelines.gold import budgets, spend, unusual
from pipelines.silver.changes import CELL, all_cells
from quality.validation import Audit, audit_before_publish

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
TREND_MONTHS = 12  # a month's cell feeds the trends of the 12 months after it


@dataclass
class GoldResult:
    cells: int = 0
    rows_changed: dict[str, int] = field(default_factory=dict)
    alerts: list[dict] = field(default_factory=list)  # new budget alerts
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    audits: list[Audit] = field(default_factory=list)

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.steps[name] = round(now - since, 2)
        return now


def replace_cells(spark: SparkSession, lake: Lake, t: Table, rows: DataFrame,
                  cells: DataFrame, months: list[str]) -> int:
    """Make ``t``'s rows of ``cells`` (user_id, month) exactly ``rows``: update what changed,
    insert what is new, delete what the cells no longer hold. Returns rows written."""
    if not months:
        return 0
    cols, keys = t.column_names, list(t.keys)
    new = delta.conform(rows, t).withColumn("_delete", F.lit(False))
    existing = delta.read_table(spark, lake, t).filter(F.col("month").isin(months)).join(
        cells, list(CELL), "left_semi")
    gone = existing.join(new.select(*keys), keys, "left_anti").select(
        *cols, F.lit(True).alias("_delete"))
    source = new.unionByName(gone)
    changed = delta.differs(c for c in cols if c not in keys)
    sets = ", ".join(f"t.{c} = s.{c}" for c in cols)
    insert = f"INSERT ({', '.join(cols)}) VALUES ({', '.join('s.' + c for c in cols)})"
    return delta.run_merge(spark, lake, t, source, [
        "WHEN MATCHED AND s._delete THEN DELETE",
        f"WHEN MATCHED AND NOT s._delete AND ({changed}) THEN UPDATE SET {sets}",
        f"WHEN NOT MATCHED AND NOT s._delete THEN {insert}",
    ], partitions=months)


def publish(spark: SparkSession, lake: Lake, t: Table, rows: DataFrame, cells: DataFrame,
            months: list[str], as_of: date, audits: list[Audit]) -> int:
    """Write-audit-publish one gold table's cells: stage the rows, validate them with the
    table's suite, and only then replace the cells. Raises :class:`AuditFailed` (the table
    keeps its previous rows) when an error-severity expectation fails."""
    if not months:
        return 0
    prefix = new_run(f"gold/{t.name}", as_of)
    staged = stage_frame(spark, lake, delta.conform(rows, t), prefix)
    audit_before_publish(lake, t.name, staged, as_of.isoformat(), as_of, audits,
                         held=lake.store.uri(prefix))
    written = replace_cells(spark, lake, t, staged, cells, months)
    discard(lake, prefix)
    return written


def _classified(spark: SparkSession, lake: Lake, months: list[str],
                users: DataFrame, parts: bool = True) -> DataFrame:
    """Silver's countable rows of ``months`` for ``users`` (user_id, and posted_month when
    only some of each person's months are wanted), classified. A split transaction is its
    parts (each in its own category) unless ``parts`` is false: what a person paid a merchant
    (unusual activity) is the whole transaction."""
    keys = [c for c in ("user_id", "posted_month") if c in users.columns]
    silver = delta.read_table(spark, lake, TRANSACTIONS).filter(
        F.col("posted_month").isin(months)).join(users, keys, "left_semi")
    splits = None
    if parts and lake.exists(TRANSACTION_SPLITS):
        splits = delta.read_table(spark, lake, TRANSACTION_SPLITS).join(
            users.select("user_id").distinct(), "user_id", "left_semi")
    return spend.classify(silver, delta.read_table(spark, lake, CATEGORIES),
                          delta.read_table(spark, lake, CUSTOM_CATEGORIES), splits)


def _names(spark: SparkSession) -> DataFrame:
    from pipelines.categories.reference import categories

    names = sorted({(c["category_primary"], c["primary_display_name"]) for c in categories()})
    return spark.createDataFrame(names, "category_primary string, name string")


def refresh_gold(spark: SparkSession, lake: Lake, cells: DataFrame, as_of: date,
                 approaching: float = budgets.APPROACHING) -> GoldResult:
    """Recompute the gold cells (user_id, month) from silver, as of the sync day ``as_of``:
    daily and monthly spend, cash flow, trends, unusual activity, then budgets and budget
    alerts for ``as_of``'s month."""
    t0 = time.perf_counter()
    cells = delta.pin(spark, cells.select(*CELL).distinct())
    result = GoldResult(cells=cells.count())
    months = sorted(r["month"] for r in cells.select("month").distinct().collect())
    if not months:
        return result
    # A replay of an old day never moves gold back: trends reach the newest month gold is at.
    now = max(as_of, newest_state(spark, lake) or as_of)
    users = cells.select("user_id").distinct()
    _refresh_spend(spark, lake, cells, months, users, as_of, result)
    t = result.lap("spend", t0)
    _refresh_trends(spark, lake, cells, months, users, as_of, now, result)
    t = result.lap("trends", t)
    _refresh_unusual(spark, lake, cells, months, users, as_of, now, result)
    t = result.lap("unusual", t)
    _refresh_budget_cells(spark, lake, cells, months, as_of, approaching, result)
    result.lap("budgets", t)
    result.seconds = time.perf_counter() - t0
    log.info("gold: %d cells, %s, %.1fs", result.cells, result.rows_changed, result.seconds)
    return result


def _refresh_spend(spark: SparkSession, lake: Lake, cells: DataFrame, months: list[str],
                   users: DataFrame, as_of: date, result: GoldResult) -> None:
    """Daily and monthly spend and cash flow of the cells."""
    n, audits = result.rows_changed, result.audits
    rows = _classified(spark, lake, months, users).join(
        cells.withColumnRenamed("month", "posted_month"), ["user_id", "posted_month"],
        "left_semi")
    daily = spend.daily_spend(spend.spend_map(rows))
    crash_point("gold.before_merge")
    n["daily_spend"] = publish(spark, lake, DAILY_SPEND, daily, cells, months, as_of, audits)
    monthly = spend.monthly_spend(daily)
    n["monthly_spend"] = publish(spark, lake, MONTHLY_SPEND, monthly, cells, months, as_of,
                                 audits)
    n["monthly_cashflow"] = publish(spark, lake, MONTHLY_CASHFLOW,
                                    spend.monthly_cashflow(rows), cells, months, as_of, audits)


def fed_cells(spark: SparkSession, cells: DataFrame, months: list[str], now: date,
              span: int) -> tuple[DataFrame, list[str]]:
    """The cells and the ``span`` months after each (up to now's month, or the newest
    changed month): what a change in ``cells`` can move when a month is judged against the
    ones before it. With their months."""
    last = max(now.strftime("%Y-%m"), months[-1])
    if all(m == last for m in months):  # a night's usual cells: nothing after them yet
        return cells, months
    offsets = spark.range(0, span + 1).select(F.col("id").cast("int").alias("_k"))
    fed = cells.crossJoin(offsets).select(
        "user_id", spend.index_month(spend.month_index() + F.col("_k")).alias("month")
    ).filter(F.col("month") <= last).distinct()
    fed_months = sorted({m for first in months for m in month_range(
        first, min(shift_month(first, span), last))})
    return fed, fed_months


def _refresh_trends(spark: SparkSession, lake: Lake, cells: DataFrame, months: list[str],
                    users: DataFrame, as_of: date, now: date, result: GoldResult) -> None:
    """Trends: a cell feeds its own month and the TREND_MONTHS after it (up to now's month)."""
    trend_cells, trend_months = fed_cells(spark, cells, months, now, TREND_MONTHS)
    read_months = with_months_before(trend_months, TREND_MONTHS - 1)
    primary = spend.by_primary(delta.read_table(spark, lake, MONTHLY_SPEND).filter(
        F.col("month").isin(read_months)).join(users, "user_id", "left_semi"))
    # a person's first month of data: their first month with any countable transaction
    first = spend.first_months(delta.read_table(spark, lake, MONTHLY_CASHFLOW)
                               .join(users, "user_id", "left_semi"))
    trends = spend.spend_trends(primary, first).join(trend_cells, list(CELL), "left_semi")
    result.rows_changed["spend_trends"] = publish(spark, lake, SPEND_TRENDS, trends,
                                                  trend_cells, trend_months, as_of,
                                                  result.audits)


def _expenses(spark: SparkSession, lake: Lake, cells: DataFrame, months: list[str],
              users: DataFrame) -> DataFrame:
    return _classified(spark, lake, months, users, parts=False).join(
        cells.withColumnRenamed("month", "posted_month"), ["user_id", "posted_month"],
        "left_semi").filter(F.col("flow") == spend.EXPENSE)


def _refresh_unusual(spark: SparkSession, lake: Lake, cells: DataFrame, months: list[str],
                     users: DataFrame, as_of: date, now: date, result: GoldResult) -> None:
    """Unusual activity for the cells and the months a change in them can move (a payment is
    judged against the 400 days before it, a category against the 3 months before).

    The cells' running statistics (``expense_days``) are replaced first, from the cells' own
    rows; the judged months' payments are then judged against the statistics of the 14
    months before them, and category spikes against ``monthly_spend``: nothing reads silver
    beyond the judged cells (a lake without the statistics gets them built from all of
    silver once). A night's usual cells (the current month) judge only themselves."""
    ensure_expense_days(spark, lake, as_of, result.audits)
    expenses = _expenses(spark, lake, cells, months, users)
    result.rows_changed["expense_days"] = publish(spark, lake, EXPENSE_DAYS,
                                                  unusual.expense_days(expenses), cells,
                                                  months, as_of, result.audits)
    fed, months = fed_cells(spark, cells, months, now, unusual.LOOKBACK_MONTHS)
    if fed is not cells:  # later months to judge again: read their rows too
        cells, expenses = fed, _expenses(spark, lake, fed, months, users)
    history = with_months_before(months, unusual.LOOKBACK_MONTHS)
    stats = delta.read_table(spark, lake, EXPENSE_DAYS).filter(
        F.col("month").isin(history)).join(users, "user_id", "left_semi")
    flags = unusual.transaction_flags(expenses, stats)
    judged = cells.select(F.col("user_id").alias("_cu"), F.col("month").alias("_cm"))
    base_months = with_months_before(months, unusual.BASELINE_MONTHS)
    primary_recent = spend.by_primary(delta.read_table(spark, lake, MONTHLY_SPEND).filter(
        F.col("month").isin(base_months)).join(users, "user_id", "left_semi"))
    # a month with any countable transaction has its cash-flow row (refreshed above)
    active = delta.read_table(spark, lake, MONTHLY_CASHFLOW).filter(
        F.col("month").isin(base_months)).join(users, "user_id", "left_semi").select(*CELL)
    flags = flags.unionByName(unusual.category_spikes(primary_recent, active, judged,
                                                      _names(spark)))
    result.rows_changed["unusual_activity"] = publish(spark, lake, UNUSUAL_ACTIVITY, flags,
                                                      cells, months, as_of, result.audits)


def ensure_expense_days(spark: SparkSession, lake: Lake, as_of: date,
                        audits: list[Audit]) -> bool:
    """Build ``expense_days`` from all of silver when the lake has none yet (a lake from
    before it existed). The table appears with its rows in one commit, so a run killed
    half-way leaves no table and the next run builds it again. True when it built it."""
    if lake.exists(EXPENSE_DAYS):
        return False
    cells = all_cells(spark, lake)
    users = cells.select("user_id").distinct()
    months = sorted(r["month"] for r in cells.select("month").distinct().collect())
    expenses = _classified(spark, lake, months, users, parts=False).filter(
        F.col("flow") == spend.EXPENSE)
    prefix = new_run(f"gold/{EXPENSE_DAYS.name}", as_of)
    staged = stage_frame(spark, lake, delta.conform(unusual.expense_days(expenses),
                                                    EXPENSE_DAYS), prefix)
    audit_before_publish(lake, EXPENSE_DAYS.name, staged, "all", as_of, audits,
                         held=lake.store.uri(prefix))
    staged.write.format("delta").mode("append").partitionBy(
        *EXPENSE_DAYS.partition_by).save(lake.uri(EXPENSE_DAYS))
    discard(lake, prefix)
    log.info("gold: built expense_days from silver (%d months)", len(months))
    return True


def _refresh_budget_cells(spark: SparkSession, lake: Lake, cells: DataFrame, months: list[str],
                          as_of: date, approaching: float, result: GoldResult) -> None:
    """Budgets of every touched month in one pass (see :func:`budget_targets`)."""
    changed, alerts = publish_budgets(spark, lake, budget_targets(spark, lake, cells, months,
                                                                  as_of),
                                      as_of, approaching, result.audits)
    result.rows_changed["budget_progress"] = changed
    result.alerts += alerts


def budget_targets(spark: SparkSession, lake: Lake, cells: DataFrame, months: list[str],
                   as_of: date) -> DataFrame:
    """(user_id, month, as_of) to compute budgets for: a cell of ``as_of``'s month as of that
    day, or as of the later day the person's budget was already computed for (a replay never
    moves it back); a cell of a past month as of its last day; later months none."""
    current = as_of.strftime("%Y-%m")
    day = F.lit(as_of).cast("date")
    ends = spark.createDataFrame([(m, month_end(m)) for m in months if m < current],
                                 "month string, as_of date")
    closed = cells.join(F.broadcast(ends), "month").select("user_id", "month", "as_of")
    now = cells.filter(F.col("month") == current).select("user_id")
    stored = delta.read_table(spark, lake, BUDGET_PROGRESS).filter(
        F.col("month") == current).join(now, "user_id", "left_semi").groupBy("user_id").agg(
        F.max("as_of").alias("_day"))
    live = now.join(stored, "user_id", "left").select(
        "user_id", F.lit(current).alias("month"),
        F.greatest(F.coalesce(F.col("_day"), day), day).alias("as_of"))
    return delta.pin(spark, closed.unionByName(live))


def newest_state(spark: SparkSession, lake: Lake) -> date | None:
    """The newest day budget state was computed as of (None: none yet)."""
    return delta.read_table(spark, lake, BUDGET_PROGRESS).agg(F.max("as_of")).collect()[0][0]


def refresh_budgets(spark: SparkSession, lake: Lake, users: DataFrame, as_of: date,
                    approaching: float = budgets.APPROACHING) -> tuple[int, list[dict]]:
    """``budget_progress`` for ``users`` in ``as_of``'s month as of that day, and their budget
    alerts."""
    targets = users.select("user_id").distinct().select(
        "user_id", F.lit(as_of.strftime("%Y-%m")).alias("month"),
        F.lit(as_of).cast("date").alias("as_of"))
    return publish_budgets(spark, lake, delta.pin(spark, targets), as_of, approaching, [])


def publish_budgets(spark: SparkSession, lake: Lake, targets: DataFrame, as_of: date,
                    approaching: float, audits: list[Audit]) -> tuple[int, list[dict]]:
    """``budget_progress`` of every target (user_id, month, as_of) from one read of silver,
    published at once (one audit, one MERGE); alerts for ``as_of``'s month only (a closed
    month raises none)."""
    months = sorted(r["month"] for r in targets.select("month").distinct().collect())
    if not months:
        return 0, []
    spans = budgets.span_cells(spark, targets).select(
        "user_id", F.col("month").alias("posted_month")).distinct()
    classified = _classified(spark, lake, with_months_before(months, budgets.SPAN), spans)
    manual = delta.read_table(spark, lake, BUDGETS).join(
        targets.select("user_id").distinct(), "user_id", "left_semi")
    rows = delta.pin(spark, budgets.target_progress(spark, targets, classified, manual,
                                                    approaching))
    changed = publish(spark, lake, BUDGET_PROGRESS, rows, targets.select(*CELL), months,
                      as_of, audits)
    current = rows.filter(F.col("month") == as_of.strftime("%Y-%m"))
    return changed, _new_alerts(spark, lake, [r.asDict() for r in current.collect()],
                                approaching)


def _new_alerts(spark: SparkSession, lake: Lake, rows: list[dict],
                approaching: float) -> list[dict]:
    """The budget alerts of ``rows`` not raised before, stored (an alert's key is stable)."""
    alerts = budgets.budget_alerts(rows, approaching, datetime.now(UTC))
    if not alerts:
        return []
    keys = spark.createDataFrame([(a["alert_key"],) for a in alerts], "alert_key string")
    fresh = {r[0] for r in keys.join(delta.read_table(spark, lake, ALERTS).select("alert_key"),
                                     "alert_key", "left_anti").collect()}
    new = [a for a in alerts if a["alert_key"] in fresh]
    upsert_rows(lake, ALERTS, new, update=False)
    return new


def rebuild_gold(spark: SparkSession, lake: Lake, as_of: date) -> GoldResult:
    """Every cell, from scratch: the reference the incremental path must equal."""
    return refresh_gold(spark, lake, all_cells(spark, lake), as_of)


def reconcile_cells(spark: SparkSession, lake: Lake, cells: DataFrame) -> list[dict]:
    """Per user-month: silver's expense total and count against monthly_spend, daily_spend
    and monthly_cashflow. Returns every cell where any of them differ (empty = reconciled)."""
    cells = delta.pin(spark, cells.select(*CELL).distinct())
    months = sorted(r["month"] for r in cells.select("month").distinct().collect())
    if not months:
        return []
    users = cells.select("user_id").distinct()
    rows = _classified(spark, lake, months, users).join(
        cells.withColumnRenamed("month", "posted_month"), ["user_id", "posted_month"],
        "left_semi").filter(F.col("flow") == spend.EXPENSE)
    silver = rows.groupBy("user_id", F.col("posted_month").alias("month")).agg(
        F.sum("amount").alias("silver_amount"), F.count(F.lit(1)).alias("silver_count"))

    def gold(t: Table, amount: str, count: str | None) -> DataFrame:
        df = delta.read_table(spark, lake, t).filter(F.col("month").isin(months)).join(
            cells, list(CELL), "left_semi").groupBy(*CELL)
        aggs = [F.sum(amount).alias(f"{t.name}_amount")]
        if count:
            aggs.append(F.sum(count).alias(f"{t.name}_count"))
        return df.agg(*aggs)

    joined = (silver.join(gold(MONTHLY_SPEND, "amount", "txn_count"), list(CELL), "full_outer")
              .join(gold(DAILY_SPEND, "amount", "txn_count"), list(CELL), "full_outer")
              .join(gold(MONTHLY_CASHFLOW, "expense", None), list(CELL), "full_outer"))
    zero = F.lit(0).cast("decimal(18,2)")

    def amt(c: str) -> F.Column:
        return F.coalesce(F.col(c), zero)

    def cnt(c: str) -> F.Column:
        return F.coalesce(F.col(c), F.lit(0)).cast("bigint")

    bad = joined.filter(
        (amt("silver_amount") != amt("monthly_spend_amount"))
        | (amt("silver_amount") != amt("daily_spend_amount"))
        | (amt("silver_amount") != amt("monthly_cashflow_amount"))
        | (cnt("silver_count") != cnt("monthly_spend_count"))
        | (cnt("silver_count") != cnt("daily_spend_count")))
    return [r.asDict() for r in bad.orderBy(*CELL).limit(1000).collect()]


# Every table refresh_gold reads or writes (alerts aside: it only adds new budget alerts, by
# key): when none has a new commit since a day's gold completed, refreshing it again would
# change nothing (assets/spend.py skips it; tests check the list covers every read).
INPUTS = (TRANSACTIONS, GOLD_CHANGES, CATEGORIES, CUSTOM_CATEGORIES, BUDGETS, DAILY_SPEND,
          MONTHLY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS, EXPENSE_DAYS, UNUSUAL_ACTIVITY,
          BUDGET_PROGRESS, TRANSACTION_SPLITS)
