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

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from core.months import month_range, shift_month
from pipelines.categories.reference import budget_template
from pipelines.gold.spend import (
    MONEY,
    PAYROLL,
    UNCATEGORISED,
    by_primary,
    daily_spend,
    index_month,
    month_index,
    monthly_spend,
    spend_map,
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


# A target is one person's budgets of one month as of one day: (user_id, month, as_of). Every
# target is computed at once, its columns the group keys of every step below.
TARGET = ("user_id", "_month", "_as_of")
SPAN = HISTORY_MONTHS + 1  # a target reads its month and the SPAN months before it


def span_cells(spark: SparkSession, targets: DataFrame) -> DataFrame:
    """(user_id, month, _month, _as_of, _lag) for each target's month (lag 0), its history
    window (lags 1 to HISTORY_MONTHS) and the month before the window (lag SPAN)."""
    lags = spark.range(0, SPAN + 1).select(F.col("id").cast("int").alias("_lag"))
    return _keyed(targets).crossJoin(lags).select(
        *TARGET, "_lag", index_month(month_index("_month") - F.col("_lag")).alias("month"))


def _keyed(targets: DataFrame) -> DataFrame:
    return targets.select("user_id", F.col("month").alias("_month"),
                          F.col("as_of").cast("date").alias("_as_of"))


def target_progress(spark: SparkSession, targets: DataFrame, classified: DataFrame,
                    manual: DataFrame, approaching: float) -> DataFrame:
    """``budget_progress`` rows of every target (user_id, month, as_of): budgets from the
    person's manual ones, history or income, and the month's spend up to ``as_of``.
    ``classified`` holds the targets' people's rows of each target's span (more is ignored);
    per (person, month) figures are computed once and shared by the targets that read them."""
    span = span_cells(spark, targets)
    window = span.filter(F.col("_lag").between(1, HISTORY_MONTHS))
    months = classified.select("user_id", F.col("posted_month").alias("month")).distinct()
    active = window.join(full_months(months), ["user_id", "month"]).select(*TARGET, "month")
    mapped = spend_map(classified)
    primary = by_primary(monthly_spend(daily_spend(mapped)))
    history = window.join(primary, ["user_id", "month"]).select(
        *TARGET, "month", "category_primary", "amount")
    income = span.join(monthly_pay(classified), ["user_id", "month"]).groupBy(*TARGET).agg(
        F.max("_pay").alias("income")).filter("income > 0")
    keyed = _keyed(targets)
    chosen = effective(manual.join(keyed, "user_id"), recommended(history, active),
                       template(spark, income), history_users(active))
    spent = mapped.join(keyed.withColumnRenamed("_month", "month"), ["user_id", "month"]).filter(
        F.col("date") <= F.col("_as_of")).groupBy(
        "user_id", F.col("month").alias("_month"), "_as_of", "category_primary").agg(
        F.sum("amount").alias("spent"))
    return progress(chosen, spent, approaching)


def _median(values: str) -> F.Column:
    a = F.sort_array(F.collect_list(values))
    n = F.size(a)
    lo = F.element_at(a, F.floor((n + 1) / 2).cast("int"))
    hi = F.element_at(a, (F.floor(n / 2) + 1).cast("int"))
    return (lo + hi) / 2


def full_months(active: DataFrame) -> DataFrame:
    """The (user_id, month) pairs of ``active`` whose previous month is in ``active`` too."""
    cur = active.withColumn("_i", month_index())
    before = active.select(F.col("user_id").alias("_u"), month_index().alias("_j"))
    return cur.join(before, (cur["user_id"] == before["_u"]) & (before["_j"] == cur["_i"] - 1),
                    "left_semi").select("user_id", "month")


def recommended(primary_history: DataFrame, active: DataFrame) -> DataFrame:
    """(*TARGET, category_primary, budget) from history; ``primary_history`` holds spend per
    (*TARGET, month, category_primary) over each target's window, ``active`` the target's
    full months the person had posted transactions in."""
    categories = primary_history.filter(F.col("category_primary") != UNCATEGORISED).select(
        *TARGET, "category_primary").distinct()
    grid = active.join(history_users(active), list(TARGET)).join(categories, list(TARGET))
    filled = grid.join(primary_history, [*TARGET, "month", "category_primary"], "left")
    med = filled.withColumn(
        "_amount", F.coalesce(F.col("amount"), F.lit(0)).cast("double")).groupBy(
        *TARGET, "category_primary").agg(_median("_amount").alias("_median"))
    return med.filter(F.col("_median") > 0).select(
        *TARGET, "category_primary",
        (F.ceil(F.col("_median") / ROUND_TO) * ROUND_TO).cast(MONEY).alias("budget"))


def history_users(active: DataFrame) -> DataFrame:
    """The targets with at least MIN_HISTORY_MONTHS full months."""
    return active.groupBy(*TARGET).agg(F.count(F.lit(1)).alias("_n")).filter(
        F.col("_n") >= MIN_HISTORY_MONTHS).select(*TARGET)


def monthly_pay(classified: DataFrame) -> DataFrame:
    """(user_id, month, _pay): payroll received per person and month. A target's income is
    the largest month of its span (partial months understate)."""
    return classified.filter(F.col("effective_category").isin(*PAYROLL)).groupBy(
        "user_id", F.col("posted_month").alias("month")).agg((-F.sum("amount")).alias("_pay"))


def shares(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(sorted(budget_template().items()),
                                 "category_primary string, share double")


def template(spark: SparkSession, income: DataFrame) -> DataFrame:
    """(*TARGET, category_primary, budget) as shares of income, rounded to ``ROUND_TO``."""
    return income.crossJoin(F.broadcast(shares(spark))).select(
        *TARGET, "category_primary",
        (F.round(F.col("income").cast("double") * F.col("share") / ROUND_TO) * ROUND_TO)
        .cast(MONEY).alias("budget"))


def effective(manual: DataFrame, history: DataFrame, templated: DataFrame,
              with_history: DataFrame) -> DataFrame:
    """Manual budgets win; then history; the template only for targets without history."""
    templ = templated.join(with_history, list(TARGET), "left_anti")
    ranked = (manual.select(*TARGET, "category_primary", F.col("amount").alias("budget"),
                            F.lit(MANUAL).alias("budget_source"), F.lit(0).alias("_rank"))
              .unionByName(history.withColumn("budget_source", F.lit(HISTORY))
                           .withColumn("_rank", F.lit(1)))
              .unionByName(templ.withColumn("budget_source", F.lit(TEMPLATE))
                           .withColumn("_rank", F.lit(2))))
    best = ranked.groupBy(*TARGET, "category_primary").agg(F.min("_rank").alias("_rank"))
    return ranked.join(best, [*TARGET, "category_primary", "_rank"]).drop("_rank")


def progress(budgets: DataFrame, spent: DataFrame, approaching: float) -> DataFrame:
    """Month-to-date spend vs budget; every category with a budget or with spend."""
    rows = budgets.join(spent, [*TARGET, "category_primary"], "full_outer")
    spent_col = F.coalesce(F.col("spent"), F.lit(0)).cast(MONEY)
    share = F.when(F.col("budget") > 0, spent_col.cast("double") / F.col("budget").cast("double"))
    state = (F.when(F.col("budget").isNull() | (F.col("budget") <= 0), F.lit("no_budget"))
             .when(share >= 1.0, F.lit("exceeded"))
             .when(share >= approaching, F.lit("approaching"))
             .otherwise(F.lit("ok")))
    return rows.select(
        "user_id", F.col("_month").alias("month"), "category_primary",
        F.col("budget").cast(MONEY).alias("budget"),
        F.coalesce(F.col("budget_source"), F.lit(NONE)).alias("budget_source"),
        spent_col.alias("spent"), share.alias("share"), state.alias("state"),
        F.col("_as_of").cast("date").alias("as_of"))


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
        # The month by name, not "this month's": the text is stored and read after it ends.
        month = datetime.strptime(r["month"], "%Y-%m").strftime("%b %Y")
        out.append({
            "alert_key": alert_key("budget", r["user_id"], r["category_primary"], r["month"],
                                   label),
            "kind": f"budget_{r['state']}", "user_id": r["user_id"],
            "subject": r["category_primary"],
            "detail": f"{name}: spent ${Decimal(r['spent']):,.2f} of ${Decimal(r['budget']):,.2f}"
                      f" ({pct}%), {verb} the {month} budget",
            "period": r["month"], "created_at": created_at, "sent_at": None,
        })
    return out

