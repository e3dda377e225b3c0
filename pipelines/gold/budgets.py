"""Budgets: what a person set, else what their history suggests, else an income template.

Only budgets people set are stored (``budgets``). A recommendation is the trailing median
of the user's monthly spend per primary category over the last ``HISTORY_MONTHS`` full months
they were active (months without spend in the category count as zero), rounded up to
``ROUND_TO``; it needs ``MIN_HISTORY_MONTHS`` such months. A user's first month is partial
(linked mid-month), so a month counts only when the month before it has data too.
Uncategorised spend gets no budget. Users with less history get the template: a share of
their monthly income, detected from payroll deposits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from core.months import month_range, shift_month
from pipelines.categories.reference import budget_template
from pipelines.gold.spend import (
    MONEY,
    PAYROLL,
    UNCATEGORISED,
    month_index,
)
from pipelines.health.institutions import alert_key

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

HISTORY_MONTHS = 6
MIN_HISTORY_MONTHS = 3
ROUND_TO = 10
APPROACHING = 0.8
MANUAL, HISTORY, TEMPLATE, NONE = "manual", "history", "template", "none"


def window_months(month: str, n: int = HISTORY_MONTHS) -> list[str]:
    """The ``n`` months before ``month`` ('YYYY-MM'), oldest first."""
    return month_range(shift_month(month, -n), shift_month(month, -1))


def _median(values: str) -> F.Column:
    a = F.sort_array(F.collect_list(values))
    n = F.size(a)
    lo = F.element_at(a, F.floor((n + 1) / 2).cast("int"))
    hi = F.element_at(a, (F.floor(n / 2) + 1).cast("int"))
    return (lo + hi) / 2


def full_months(active: DataFrame, window: list[str]) -> DataFrame:
    """The (user_id, month) pairs of ``window`` with data whose previous month has data too
    (``active`` must also hold the month before the window)."""
    cur = active.filter(F.col("month").isin(window)).withColumn("_i", month_index())
    before = active.select(F.col("user_id").alias("_u"), month_index().alias("_j"))
    return cur.join(before, (cur["user_id"] == before["_u"]) & (before["_j"] == cur["_i"] - 1),
                    "left_semi").select("user_id", "month")


def recommended(primary_history: DataFrame, active: DataFrame) -> DataFrame:
    """(user_id, category_primary, budget) from history; ``primary_history`` holds spend per
    (user_id, month, category_primary) over the window, ``active`` the full (user_id, month)
    pairs the user had posted transactions in."""
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
    """(user_id, income): the largest monthly payroll total seen (partial months understate)."""
    pay = classified.filter(F.col("effective_category").isin(*PAYROLL)).groupBy(
        "user_id", "posted_month").agg((-F.sum("amount")).alias("_pay"))
    return pay.groupBy("user_id").agg(F.max("_pay").alias("income")).filter("income > 0")


def template(spark: SparkSession, income: DataFrame) -> DataFrame:
    """(user_id, category_primary, budget) as shares of income, rounded to ``ROUND_TO``."""
    shares = spark.createDataFrame(sorted(budget_template().items()),
                                   "category_primary string, share double")
    return income.crossJoin(F.broadcast(shares)).select(
        "user_id", "category_primary",
        (F.round(F.col("income").cast("double") * F.col("share") / ROUND_TO) * ROUND_TO)
        .cast(MONEY).alias("budget"))


def effective(manual: DataFrame, history: DataFrame, templated: DataFrame,
              with_history: DataFrame) -> DataFrame:
    """Manual budgets win; then history; the template only for users without history."""
    templ = templated.join(with_history, "user_id", "left_anti")
    ranked = (manual.select("user_id", "category_primary", F.col("amount").alias("budget"),
                            F.lit(MANUAL).alias("budget_source"), F.lit(0).alias("_rank"))
              .unionByName(history.withColumn("budget_source", F.lit(HISTORY))
                           .withColumn("_rank", F.lit(1)))
              .unionByName(templ.withColumn("budget_source", F.lit(TEMPLATE))
                           .withColumn("_rank", F.lit(2))))
    best = ranked.groupBy("user_id", "category_primary").agg(F.min("_rank").alias("_rank"))
    return ranked.join(best, ["user_id", "category_primary", "_rank"]).drop("_rank")


def progress(budgets: DataFrame, spent: DataFrame, month: str, as_of, approaching: float
             ) -> DataFrame:
    """Month-to-date spend vs budget; every category with a budget or with spend."""
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


def threshold_label(state: str, approaching: float) -> str:
    return "exceeded_100" if state == "exceeded" else f"approaching_{round(approaching * 100)}"


def budget_alerts(rows: list[dict], approaching: float, created_at) -> list[dict]:
    """One alert per (user, category, month, threshold): the key makes re-runs no-ops."""
    from pipelines.categories.reference import display_name

    out = []
    for r in rows:
        if r["state"] not in ("approaching", "exceeded"):
            continue
        label = threshold_label(r["state"], approaching)
        name = display_name(r["category_primary"])
        pct = round(r["share"] * 100)
        verb = "over" if r["state"] == "exceeded" else "close to"
        out.append({
            "alert_key": alert_key("budget", r["user_id"], r["category_primary"], r["month"],
                                   label),
            "kind": f"budget_{r['state']}", "user_id": r["user_id"],
            "subject": r["category_primary"],
            "detail": f"{name}: spent ${Decimal(r['spent']):,.2f} of ${Decimal(r['budget']):,.2f}"
                      f" ({pct}%), {verb} this month's budget",
            "period": r["month"], "created_at": created_at, "sent_at": None,
        })
    return out

