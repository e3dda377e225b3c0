"""The budget refresh as it was before issue 21 (one pass per touched month and "as of" day),
frozen here as the reference the one-pass path in ``pipelines/gold/refresh.py`` must equal.

Only for tests and ``bench/gold_budgets.py``: each (month, day) group reads silver, computes,
and publishes (one MERGE, one audit) on its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from core.months import month_end
from lake import delta
from lake.small_tables import upsert_rows
from lake.tables import ALERTS, BUDGET_PROGRESS, BUDGETS
from pipelines.gold import spend
from pipelines.gold.budgets import (
    APPROACHING,
    HISTORY,
    MANUAL,
    MIN_HISTORY_MONTHS,
    NONE,
    ROUND_TO,
    TEMPLATE,
    budget_alerts,
    shares,
    window_months,
)
from pipelines.gold.refresh import _classified, publish
from pipelines.gold.spend import MONEY, PAYROLL, UNCATEGORISED, month_index

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lake.lake import Lake
    from quality.validation import Audit


def refresh_budget_cells(spark: SparkSession, lake: Lake, cells: DataFrame, as_of: date,
                         approaching: float = APPROACHING,
                         audits: list[Audit] | None = None) -> tuple[int, list[dict]]:
    """The old ``_refresh_budget_cells``: a loop over the touched months (and days)."""
    cells = delta.pin(spark, cells.select("user_id", "month").distinct())
    months = sorted(r["month"] for r in cells.select("month").distinct().collect())
    current = as_of.strftime("%Y-%m")
    audits = [] if audits is None else audits
    total, alerts = 0, []
    for month in (m for m in months if m <= current):
        users_m = cells.filter(F.col("month") == month).select("user_id")
        days = (budget_days(spark, lake, users_m, month, as_of) if month == current
                else [(month_end(month), users_m)])
        for day, users_d in days:
            changed, new = refresh_budgets(spark, lake, users_d, day, approaching,
                                           raise_alerts=month == current, audits=audits)
            total += changed
            alerts += new
    return total, alerts


def budget_days(spark: SparkSession, lake: Lake, users: DataFrame, month: str,
                as_of: date) -> list[tuple[date, DataFrame]]:
    stored = delta.read_table(spark, lake, BUDGET_PROGRESS).filter(
        F.col("month") == month).join(users, "user_id", "left_semi").groupBy("user_id").agg(
        F.max("as_of").alias("_day"))
    days = users.join(stored, "user_id", "left").select(
        "user_id", F.greatest(F.coalesce(F.col("_day"), F.lit(as_of).cast("date")),
                              F.lit(as_of).cast("date")).alias("_day"))
    by_day: dict[date, list[str]] = {}
    for r in days.collect():
        by_day.setdefault(r["_day"], []).append(r["user_id"])
    return [(day, spark.createDataFrame([(u,) for u in sorted(ids)], "user_id string"))
            for day, ids in sorted(by_day.items())]


def refresh_budgets(spark: SparkSession, lake: Lake, users: DataFrame, as_of: date,
                    approaching: float = APPROACHING, raise_alerts: bool = True,
                    audits: list[Audit] | None = None) -> tuple[int, list[dict]]:
    month = as_of.strftime("%Y-%m")
    window = window_months(month)
    users = delta.pin(spark, users.select("user_id").distinct())
    before = window_months(window[0], 1)
    classified = _classified(spark, lake, [*before, *window, month], users)
    past = classified.filter(F.col("posted_month").isin(window))
    active = full_months(classified.select(
        "user_id", F.col("posted_month").alias("month")).distinct(), window)
    history = spend.by_primary(spend.monthly_spend(spend.daily_spend(spend.spend_map(past))))
    recommended_ = recommended(history, active)
    templated = template(spark, monthly_income(classified))
    manual = delta.read_table(spark, lake, BUDGETS).join(users, "user_id", "left_semi")
    chosen = effective(manual, recommended_, templated, history_users(active))
    spent = spend.spend_map(classified.filter(
        (F.col("posted_month") == month) & (F.col("posted_date") <= F.lit(as_of).cast("date"))
    )).groupBy("user_id", "category_primary").agg(F.sum("amount").alias("spent"))
    rows = delta.pin(spark, progress(chosen, spent, month, as_of, approaching))
    cells = users.withColumn("month", F.lit(month))
    changed = publish(spark, lake, BUDGET_PROGRESS, rows, cells, [month], as_of,
                      audits if audits is not None else [])
    if not raise_alerts:
        return changed, []
    alerts = budget_alerts([r.asDict() for r in rows.collect()], approaching,
                           datetime.now(UTC))
    if not alerts:
        return changed, []
    keys = spark.createDataFrame([(a["alert_key"],) for a in alerts], "alert_key string")
    fresh = {r[0] for r in keys.join(delta.read_table(spark, lake, ALERTS).select("alert_key"),
                                     "alert_key", "left_anti").collect()}
    new = [a for a in alerts if a["alert_key"] in fresh]
    upsert_rows(lake, ALERTS, new, update=False)
    return changed, new


# ---- the per-user computations of pipelines/gold/budgets.py, as they were ------------------


def _median(values: str) -> F.Column:
    a = F.sort_array(F.collect_list(values))
    n = F.size(a)
    lo = F.element_at(a, F.floor((n + 1) / 2).cast("int"))
    hi = F.element_at(a, (F.floor(n / 2) + 1).cast("int"))
    return (lo + hi) / 2


def full_months(active: DataFrame, window: list[str]) -> DataFrame:
    cur = active.filter(F.col("month").isin(window)).withColumn("_i", month_index())
    before = active.select(F.col("user_id").alias("_u"), month_index().alias("_j"))
    return cur.join(before, (cur["user_id"] == before["_u"]) & (before["_j"] == cur["_i"] - 1),
                    "left_semi").select("user_id", "month")


def recommended(primary_history: DataFrame, active: DataFrame) -> DataFrame:
    categories = primary_history.filter(F.col("category_primary") != UNCATEGORISED).select(
        "user_id", "category_primary").distinct()
    grid = active.join(history_users(active), "user_id").join(categories, "user_id")
    filled = grid.join(primary_history, ["user_id", "month", "category_primary"], "left")
    med = filled.withColumn(
        "_amount", F.coalesce(F.col("amount"), F.lit(0)).cast("double")).groupBy(
        "user_id", "category_primary").agg(_median("_amount").alias("_median"))
    return med.filter(F.col("_median") > 0).select(
        "user_id", "category_primary",
        (F.ceil(F.col("_median") / ROUND_TO) * ROUND_TO).cast(MONEY).alias("budget"))


def history_users(active: DataFrame) -> DataFrame:
    return active.groupBy("user_id").agg(F.count(F.lit(1)).alias("_n")).filter(
        F.col("_n") >= MIN_HISTORY_MONTHS).select("user_id")


def monthly_income(classified: DataFrame) -> DataFrame:
    pay = classified.filter(F.col("effective_category").isin(*PAYROLL)).groupBy(
        "user_id", "posted_month").agg((-F.sum("amount")).alias("_pay"))
    return pay.groupBy("user_id").agg(F.max("_pay").alias("income")).filter("income > 0")


def template(spark: SparkSession, income: DataFrame) -> DataFrame:
    return income.crossJoin(F.broadcast(shares(spark))).select(
        "user_id", "category_primary",
        (F.round(F.col("income").cast("double") * F.col("share") / ROUND_TO) * ROUND_TO)
        .cast(MONEY).alias("budget"))


def effective(manual: DataFrame, history: DataFrame, templated: DataFrame,
              with_history: DataFrame) -> DataFrame:
    templ = templated.join(with_history, "user_id", "left_anti")
    ranked = (manual.select("user_id", "category_primary", F.col("amount").alias("budget"),
                            F.lit(MANUAL).alias("budget_source"), F.lit(0).alias("_rank"))
              .unionByName(history.withColumn("budget_source", F.lit(HISTORY))
                           .withColumn("_rank", F.lit(1)))
              .unionByName(templ.withColumn("budget_source", F.lit(TEMPLATE))
                           .withColumn("_rank", F.lit(2))))
    best = ranked.groupBy("user_id", "category_primary").agg(F.min("_rank").alias("_rank"))
    return ranked.join(best, ["user_id", "category_primary", "_rank"]).drop("_rank")


def progress(budgets: DataFrame, spent: DataFrame, month: str, as_of: date,
             approaching: float) -> DataFrame:
    rows = budgets.join(spent, ["user_id", "category_primary"], "full_outer")
    spent_col = F.coalesce(F.col("spent"), F.lit(0)).cast(MONEY)
    share = F.when(F.col("budget") > 0, spent_col.cast("double") / F.col("budget").cast("double"))
    state = (F.when(F.col("budget").isNull() | (F.col("budget") <= 0), F.lit("no_budget"))
             .when(share >= 1.0, F.lit("exceeded"))
             .when(share >= approaching, F.lit("approaching"))
             .otherwise(F.lit("ok")))
    return rows.select(
        "user_id", F.lit(month).alias("month"), "category_primary",
        F.col("budget").cast(MONEY).alias("budget"),
        F.coalesce(F.col("budget_source"), F.lit(NONE)).alias("budget_source"),
        spent_col.alias("spent"), share.alias("share"), state.alias("state"),
        F.lit(as_of).cast("date").alias("as_of"))
