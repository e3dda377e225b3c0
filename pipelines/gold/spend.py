"""Spend aggregation, MapReduce-style: map each transaction to (user, period, category) and
its amount, then reduce by summing.

Amounts follow the partner's sign: positive is money out, negative money in. A refund is a
negative amount in an expense category, so it nets against that category's spend. Money
moving between a user's own accounts (transfers, credit-card payments) and borrowed money
coming in are neither income nor spend; money coming in without a category is income, never
negative spend (the rule: pipelines/gold/flows.py). Pending, removed and superseded rows never
count. A transaction the person split counts as its parts, each in its own category, while the
split still adds up to the transaction's amount (:func:`with_parts`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from pipelines.gold.flows import (
    EXPENSE,
    INCOME,
    INCOME_PRIMARY,
    NO_CATEGORY_PRIMARY,
    TRANSFER,
    TRANSFER_DETAILED,
    TRANSFER_PRIMARY,
    UNCATEGORISED,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PAYROLL = ("INCOME_SALARY", "INCOME_MILITARY")
MONEY = "decimal(18,2)"


def effective_category(df: DataFrame) -> DataFrame:
    """The category people see: their own choice first, then the automatic one."""
    return df.withColumn(
        "effective_category", F.coalesce("user_category", "category", F.lit(UNCATEGORISED))
    )


def countable(silver: DataFrame) -> DataFrame:
    """Rows that count in aggregates: live, posted (pending and superseded rows excluded)."""
    return silver.filter((F.col("status") == "live") & ~F.col("pending"))


def with_parts(rows: DataFrame, splits: DataFrame) -> DataFrame:
    """``rows`` (countable silver rows) with each split transaction as its parts: one row per
    part (``transaction_splits``), the part's amount as ``amount`` and its category as the
    person's own (``user_category``), numbered in ``split_part`` (null: a whole transaction).

    A split counts only while it still fits its transaction: the parts sum to the amount and
    it is the amount the split was made for. Once the partner changed the amount the
    transaction counts whole, in its own category (the split is listed for review), so a
    cell's total is always the sum of its transactions' amounts."""
    parts = splits.select(F.col("user_id").alias("_su"), F.col("txn_id").alias("_st"),
                          F.col("part").cast("int").alias("_part"),
                          F.col("category").alias("_part_category"),
                          F.col("amount").cast(MONEY).alias("_part_amount"),
                          F.col("txn_amount").cast(MONEY).alias("_for"))
    fits = parts.groupBy("_su", "_st").agg(
        F.sum("_part_amount").cast(MONEY).alias("_sum"), F.min("_for").alias("_for_low"),
        F.max("_for").alias("_for_high"))
    joined = rows.join(fits, (rows["user_id"] == fits["_su"]) & (rows["txn_id"] == fits["_st"]),
                       "left")
    amount = F.col("amount").cast(MONEY)
    split = (F.col("_su").isNotNull() & (amount == F.col("_sum"))
             & (amount == F.col("_for_low")) & (amount == F.col("_for_high")))
    whole = joined.filter(~F.coalesce(split, F.lit(False))).select(
        *rows.columns, F.lit(None).cast("int").alias("split_part"))
    exploded = joined.filter(split).select(*rows.columns).join(
        parts, (F.col("user_id") == parts["_su"]) & (F.col("txn_id") == parts["_st"]))
    exploded = exploded.select(
        *[F.col("_part_amount").alias("amount") if c == "amount"
          else F.col("_part_category").alias("user_category") if c == "user_category"
          else F.col(c) for c in rows.columns],
        F.col("_part").alias("split_part"))
    return whole.unionByName(exploded)


def classify(silver: DataFrame, categories: DataFrame, custom: DataFrame | None = None,
             splits: DataFrame | None = None) -> DataFrame:
    """Countable rows with ``effective_category``, ``category_primary`` and ``flow``
    (expense | income | transfer). A user's own categories resolve through ``custom``; with
    ``splits`` a split transaction is its parts (:func:`with_parts`)."""
    cats = categories.select(F.col("category").alias("_cat"),
                             F.col("category_primary").alias("_primary"))
    rows = countable(silver)
    rows = (with_parts(rows, splits) if splits is not None
            else rows.withColumn("split_part", F.lit(None).cast("int")))
    rows = effective_category(rows)
    rows = rows.join(F.broadcast(cats), rows["effective_category"] == cats["_cat"], "left")
    primary = F.col("_primary")
    if custom is not None:
        mine = custom.select(F.col("user_id").alias("_cu"), F.col("category").alias("_cc"),
                             F.col("category_primary").alias("_custom_primary"))
        rows = rows.join(mine, (rows["user_id"] == mine["_cu"])
                         & (rows["effective_category"] == mine["_cc"]), "left")
        primary = F.coalesce(primary, F.col("_custom_primary"))
    primary = F.coalesce(primary, F.lit(UNCATEGORISED))
    # the rule of pipelines/gold/flows.py: money in without a category is income
    flow = (F.when(primary.isin(*TRANSFER_PRIMARY)
                   | F.col("effective_category").isin(*TRANSFER_DETAILED), F.lit(TRANSFER))
            .when(primary == INCOME_PRIMARY, F.lit(INCOME))
            .when(primary.isin(*NO_CATEGORY_PRIMARY) & (F.col("amount") < 0), F.lit(INCOME))
            .otherwise(F.lit(EXPENSE)))
    return rows.withColumn("category_primary", primary).withColumn("flow", flow).drop(
        *[c for c in ("_cat", "_primary", "_cu", "_cc", "_custom_primary")])


def spend_map(classified: DataFrame) -> DataFrame:
    """Map: each expense transaction to its (user, day, month, category) key and amount."""
    return classified.filter(F.col("flow") == EXPENSE).select(
        "user_id", F.col("posted_date").alias("date"), F.col("posted_month").alias("month"),
        "category_primary", F.col("effective_category").alias("category"), "amount")


def daily_spend(mapped: DataFrame) -> DataFrame:
    """Reduce: sum per user, day and category."""
    return mapped.groupBy("user_id", "date", "month", "category_primary", "category").agg(
        F.sum("amount").cast(MONEY).alias("amount"), F.count(F.lit(1)).alias("txn_count"))


def monthly_spend(daily: DataFrame) -> DataFrame:
    """Reduce again: the daily cells summed per month (so the two always agree)."""
    return daily.groupBy("user_id", "month", "category_primary", "category").agg(
        F.sum("amount").cast(MONEY).alias("amount"),
        F.sum("txn_count").cast("bigint").alias("txn_count"))


def monthly_cashflow(classified: DataFrame) -> DataFrame:
    """Income (money in, positive), expense (net spend), and transfers shown apart."""
    amt, flow = F.col("amount"), F.col("flow")

    def total(cond):
        return F.coalesce(F.sum(F.when(cond, amt)), F.lit(0)).cast(MONEY)

    income = (-total(flow == INCOME)).cast(MONEY)
    expense = total(flow == EXPENSE)
    return classified.groupBy("user_id", F.col("posted_month").alias("month")).agg(
        income.alias("income"), expense.alias("expense"),
        (income - expense).cast(MONEY).alias("net"),
        (-total((flow == TRANSFER) & (amt < 0))).cast(MONEY).alias("transfers_in"),
        total((flow == TRANSFER) & (amt > 0)).alias("transfers_out"),
        F.count(_once()).alias("txn_count"))


def _once() -> F.Column:
    """Counts a transaction once: a split one by its first part only (see
    :func:`with_parts`)."""
    return F.when(F.coalesce(F.col("split_part"), F.lit(1)) == 1, F.lit(1))


def month_index(col: str = "month"):
    """'YYYY-MM' -> months since year 0 (consecutive months differ by one)."""
    return (F.substring(F.col(col), 1, 4).cast("int") * 12
            + F.substring(F.col(col), 6, 2).cast("int") - 1)


def index_month(idx):
    """Inverse of ``month_index``."""
    return F.format_string("%04d-%02d", F.floor(idx / 12).cast("int"),
                           (idx % 12 + 1).cast("int"))


def by_primary(monthly: DataFrame) -> DataFrame:
    return monthly.groupBy("user_id", "month", "category_primary").agg(
        F.sum("amount").cast(MONEY).alias("amount"))


def first_months(months: DataFrame) -> DataFrame:
    """Per user: ``first_month``, the earliest ``month`` of ``months`` (their first month of
    data)."""
    return months.groupBy("user_id").agg(F.min("month").alias("first_month"))


def spend_trends(primary: DataFrame, first: DataFrame | None = None) -> DataFrame:
    """Per user x month x primary category present in ``primary`` (which must also hold the 11
    months before each wanted month): month-over-month change and 3/6/12-month averages,
    months without spend counting as zero.

    An average is over the months the person has: those since their first month of data
    (``first``: user_id, first_month; by default their first month in ``primary``), at most
    the window's. Four months of history average over four, not twelve."""
    first = first if first is not None else first_months(primary)
    starts = first.select(F.col("user_id").alias("_fu"),
                          month_index("first_month").alias("_first"))
    cur = primary.select("user_id", "category_primary", "month", "amount",
                         month_index().alias("_i"))
    # months of history up to this one (a month before the first known one counts as one)
    cur = cur.join(starts, cur["user_id"] == starts["_fu"], "left").select(
        *cur.columns,
        F.greatest(F.col("_i") - F.coalesce(F.col("_first"), F.col("_i")) + 1, F.lit(1))
        .alias("_history"))
    hist = primary.select(F.col("user_id").alias("_u"),
                          F.col("category_primary").alias("_p"),
                          F.col("amount").alias("_a"), month_index().alias("_j"))
    joined = cur.join(hist, (cur["user_id"] == hist["_u"])
                      & (cur["category_primary"] == hist["_p"])
                      & (hist["_j"] <= cur["_i"]) & (hist["_j"] > cur["_i"] - 12), "left")
    lag = F.col("_i") - F.col("_j")

    def window_sum(months: int):
        return F.coalesce(F.sum(F.when(lag < months, F.col("_a"))), F.lit(0))

    out = joined.groupBy("user_id", "month", "category_primary", "amount", "_history").agg(
        F.coalesce(F.sum(F.when(lag == 1, F.col("_a"))), F.lit(0)).cast(MONEY)
        .alias("prev_month_amount"),
        *[(window_sum(n) / F.least(F.col("_history"), F.lit(n))).cast(MONEY)
          .alias(f"avg_{n}m") for n in (3, 6, 12)])
    return out.select(
        "user_id", "month", "category_primary", "amount", "prev_month_amount",
        (F.col("amount") - F.col("prev_month_amount")).cast(MONEY).alias("mom_change"),
        F.when(F.col("prev_month_amount") != 0,
               # in double: decimal division's result scale differs between engines
               # (Spark keeps 20 digits, Sail 6); double division is IEEE on both
               (F.col("amount") - F.col("prev_month_amount")).cast("double")
               / F.col("prev_month_amount").cast("double")).alias("mom_change_pct"),
        "avg_3m", "avg_6m", "avg_12m")
