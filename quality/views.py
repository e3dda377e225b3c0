"""Audit views: the staged rows plus the derived true/false columns a suite checks.

Rules that span columns (a day sits in its month, net is income minus expense) are computed
here as ``_``-prefixed columns, so the suites in ``quality/suites/`` stay plain JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _true(cond: F.Column) -> F.Column:
    return F.coalesce(cond, F.lit(False))


def raw_changes(df: DataFrame) -> DataFrame:
    upsert = F.col("change") == "upsert"
    complete = (F.col("amount").isNotNull() & ~F.isnan("amount")
                & F.col("iso_currency_code").isNotNull() & F.col("date").isNotNull())
    return df.withColumn("_upsert_complete", _true(~upsert | complete))


def silver_transactions(df: DataFrame) -> DataFrame:
    live = F.col("status") == "live"
    complete = (F.col("amount").isNotNull() & F.col("currency").isNotNull()
                & F.col("posted_date").isNotNull()
                & (F.date_format("posted_date", "yyyy-MM") == F.col("posted_month")))
    return df.select(
        "*", _true(~live | complete).alias("_live_row_complete"),
        F.when(live, F.col("category")).otherwise(F.lit("-")).alias("_live_category"),
        F.when(live, F.col("description")).otherwise(F.lit("-")).alias("_live_description"))


def daily_spend(df: DataFrame) -> DataFrame:
    return df.withColumn("_in_month",
                         _true(F.date_format("date", "yyyy-MM") == F.col("month")))


def monthly_cashflow(df: DataFrame) -> DataFrame:
    return df.withColumn("_net_adds_up", _true(
        F.abs(F.col("income") - F.col("expense") - F.col("net")) < F.lit(0.005)))


def budget_progress(df: DataFrame) -> DataFrame:
    budgeted = F.col("budget").isNotNull() & (F.col("budget") > 0)
    exceeded = budgeted & (F.col("spent") >= F.col("budget"))
    agrees = F.when(~budgeted, F.col("state") == "no_budget").otherwise(
        (F.col("state") == "exceeded") == exceeded)
    return df.withColumn("_state_agrees", _true(agrees))


def net_worth_daily(df: DataFrame) -> DataFrame:
    return df.select(
        "*", _true(F.col("assets") - F.col("liabilities") == F.col("net_worth"))
        .alias("_net_adds_up"),
        _true((F.col("stale_accounts") >= 0) & (F.col("stale_accounts") <= F.col("accounts")))
        .alias("_stale_within"))


def recurring_payments(df: DataFrame) -> DataFrame:
    return df.withColumn("_next_after_last",
                         _true(F.col("next_expected_date") > F.col("last_date")))


VIEWS: dict[str, Callable[[DataFrame], DataFrame]] = {
    "raw_changes": raw_changes,
    "silver_transactions": silver_transactions,
    "daily_spend": daily_spend,
    "balances_daily": daily_spend,  # the same rule: a day sits in its month
    "monthly_cashflow": monthly_cashflow,
    "budget_progress": budget_progress,
    "net_worth_daily": net_worth_daily,
    "recurring_payments": recurring_payments,
}


def audit_view(suite: str, df: DataFrame) -> DataFrame:
    return VIEWS.get(suite, lambda d: d)(df)
