"""Spend trends' 3/6/12-month averages: a person with less history than the window is
averaged over the months they have (since their first month of data), not over the window."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import CATEGORIES, SPEND_TRENDS, TRANSACTIONS
from pipelines.categories.reference import categories
from pipelines.gold import spend
from pipelines.gold.refresh import refresh_gold
from tests.support.lake_fixtures import txn, write_table

D = Decimal
V = "violet"


def test_averages_use_only_the_months_since_the_first_one(spark) -> None:
    primary = spark.createDataFrame(
        [(V, "2024-01", "FOOD_AND_DRINK", D("100.00")),
         (V, "2024-02", "RENT_AND_UTILITIES", D("1200.00")),  # no food in February: a zero
         (V, "2024-03", "FOOD_AND_DRINK", D("300.00")),
         (V, "2024-04", "FOOD_AND_DRINK", D("400.00"))],
        "user_id string, month string, category_primary string, amount decimal(18,2)")
    rows = {(r["month"], r["category_primary"]): r
            for r in spend.spend_trends(primary).collect()}
    april = rows[("2024-04", "FOOD_AND_DRINK")]
    assert april["avg_3m"] == D("233.33")  # (0 + 300 + 400) / 3
    assert april["avg_6m"] == D("200.00")  # (100 + 0 + 300 + 400) / 4 months of history
    assert april["avg_12m"] == D("200.00")  # not / 12 (66.67)
    january = rows[("2024-01", "FOOD_AND_DRINK")]
    assert (january["avg_3m"], january["avg_12m"]) == (D("100.00"), D("100.00"))


def test_gold_averages_a_four_month_history_over_four_months(spark, lake: Lake) -> None:
    rows = [txn(V, 1, date(2024, 1, 5), "-2000.00", "ACME PAYROLL", "INCOME_SALARY"),
            # the first spend comes in February; January (income only) is history too
            txn(V, 2, date(2024, 2, 5), "100.00", "KROGER", "FOOD_AND_DRINK_GROCERIES"),
            txn(V, 3, date(2024, 3, 5), "300.00", "KROGER", "FOOD_AND_DRINK_GROCERIES"),
            txn(V, 4, date(2024, 4, 5), "400.00", "KROGER", "FOOD_AND_DRINK_GROCERIES")]
    write_table(lake, TRANSACTIONS, rows)
    write_table(lake, CATEGORIES, categories())
    cells = spark.createDataFrame([(V, m) for m in ("2024-01", "2024-02", "2024-03",
                                                    "2024-04")], "user_id string, month string")
    refresh_gold(spark, lake, cells, date(2024, 4, 30))
    trends = {(r["month"], r["category_primary"]): r for r in read_rows(lake, SPEND_TRENDS)}
    april = trends[("2024-04", "FOOD_AND_DRINK")]
    assert april["avg_12m"] == D("200.00")  # (0 + 100 + 300 + 400) / 4, not / 12 (66.67)
    assert april["avg_6m"] == D("200.00")
    assert april["avg_3m"] == D("266.67")  # (100 + 300 + 400) / 3
