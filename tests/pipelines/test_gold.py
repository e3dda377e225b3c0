"""Gold analytics on hand-built silver histories: every expected figure is worked by hand."""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal

import pytest

from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import (
    ALERTS,
    BUDGET_PROGRESS,
    BUDGETS,
    CATEGORIES,
    DAILY_SPEND,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    SPEND_TRENDS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
)
from pipelines.categories.reference import categories
from pipelines.gold.refresh import rebuild_gold, reconcile_cells, refresh_gold
from tests.support.lake_fixtures import txn, write_table

D = Decimal
U = "ursula"


def rows_of(lake: Lake, t) -> dict:
    return {tuple(r[k] for k in t.keys): r for r in read_rows(lake, t)}


def cells(spark, *pairs):
    return spark.createDataFrame(list(pairs), "user_id string, month string")


@pytest.fixture(scope="module")
def spend_built(spark, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """January: groceries with a refund, coffee recategorised by the user, payroll, a transfer
    to savings, a credit-card payment, a pending and a removed charge. March: food only.
    February has no data at all. Built once for the module: tests get a copy (spend_lake)."""
    lake = Lake(str(tmp_path_factory.mktemp("spend") / "lake"))
    rows = [
        txn(U, 1, date(2024, 1, 3), "100.00", "KROGER", "FOOD_AND_DRINK_GROCERIES"),
        txn(U, 2, date(2024, 1, 3), "-30.00", "KROGER REFUND", "FOOD_AND_DRINK_GROCERIES"),
        txn(U, 3, date(2024, 1, 9), "4.50", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE",
            user_category="FOOD_AND_DRINK_RESTAURANT"),
        txn(U, 4, date(2024, 1, 15), "-3000.00", "ACME PAYROLL", "INCOME_SALARY"),
        txn(U, 5, date(2024, 1, 16), "500.00", "TO SAVINGS", "TRANSFER_OUT_SAVINGS"),
        txn(U, 6, date(2024, 1, 20), "250.00", "CARD PAYMENT", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT"),
        txn(U, 7, date(2024, 1, 21), "-40.00", "FROM CHECKING", "TRANSFER_IN_ACCOUNT_TRANSFER"),
        txn(U, 8, date(2024, 1, 22), "20.00", "UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES",
            pending=True),
        txn(U, 9, date(2024, 1, 23), "99.00", "DUPLICATE",
            "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", status="removed"),
        txn(U, 10, date(2024, 1, 25), "1200.00", "LANDLORD", "RENT_AND_UTILITIES_RENT"),
        txn(U, 11, date(2024, 3, 2), "130.00", "KROGER", "FOOD_AND_DRINK_GROCERIES"),
    ]
    write_table(lake, TRANSACTIONS, rows)
    write_table(lake, CATEGORIES, categories())
    refresh_gold(spark, lake, cells(spark, (U, "2024-01"), (U, "2024-03")), date(2024, 3, 31))
    return lake


@pytest.fixture
def spend_lake(spend_built: Lake, lake: Lake) -> Lake:
    """This test's own copy of ``spend_built`` (Delta logs hold relative paths)."""
    shutil.copytree(spend_built.root, lake.root)
    return lake


def test_daily_and_monthly_spend_net_refunds_and_skip_transfers(spend_lake) -> None:
    daily = {(k[1], k[2]): (r["amount"], r["txn_count"])
             for k, r in rows_of(spend_lake, DAILY_SPEND).items()}
    assert daily == {
        (date(2024, 1, 3), "FOOD_AND_DRINK_GROCERIES"): (D("70.00"), 2),  # refund netted
        (date(2024, 1, 9), "FOOD_AND_DRINK_RESTAURANT"): (D("4.50"), 1),  # the user's category
        (date(2024, 1, 25), "RENT_AND_UTILITIES_RENT"): (D("1200.00"), 1),
        (date(2024, 3, 2), "FOOD_AND_DRINK_GROCERIES"): (D("130.00"), 1),
    }
    monthly = {(k[1], k[2]): (r["category_primary"], r["amount"])
               for k, r in rows_of(spend_lake, MONTHLY_SPEND).items()}
    assert monthly == {
        ("2024-01", "FOOD_AND_DRINK_GROCERIES"): ("FOOD_AND_DRINK", D("70.00")),
        ("2024-01", "FOOD_AND_DRINK_RESTAURANT"): ("FOOD_AND_DRINK", D("4.50")),
        ("2024-01", "RENT_AND_UTILITIES_RENT"): ("RENT_AND_UTILITIES", D("1200.00")),
        ("2024-03", "FOOD_AND_DRINK_GROCERIES"): ("FOOD_AND_DRINK", D("130.00")),
    }


def test_cashflow_income_vs_expense_with_transfers_apart(spend_lake) -> None:
    flow = rows_of(spend_lake, MONTHLY_CASHFLOW)
    jan = flow[(U, "2024-01")]
    assert (jan["income"], jan["expense"], jan["net"]) == (D("3000.00"), D("1274.50"),
                                                           D("1725.50"))
    assert (jan["transfers_out"], jan["transfers_in"]) == (D("750.00"), D("40.00"))
    assert jan["txn_count"] == 8  # pending and removed rows do not count
    assert (U, "2024-02") not in flow  # a month with no data has no row


def test_trends_count_a_month_without_data_as_zero(spend_lake) -> None:
    trends = rows_of(spend_lake, SPEND_TRENDS)
    march = trends[(U, "2024-03", "FOOD_AND_DRINK")]
    assert march["prev_month_amount"] == D("0.00")  # February had no food spend
    assert march["mom_change"] == D("130.00")
    assert march["mom_change_pct"] is None
    assert march["avg_3m"] == D("68.17")  # (74.50 + 0 + 130) / 3
    # history since January only: three months, however long the window
    assert march["avg_6m"] == D("68.17")  # 204.50 / 3
    assert march["avg_12m"] == D("68.17")  # 204.50 / 3
    jan = trends[(U, "2024-01", "FOOD_AND_DRINK")]
    assert (jan["amount"], jan["prev_month_amount"]) == (D("74.50"), D("0.00"))
    assert (U, "2024-02", "FOOD_AND_DRINK") not in trends


def test_gold_reconciles_and_a_tampered_cell_is_found(spark, spend_lake) -> None:
    scope = cells(spark, (U, "2024-01"), (U, "2024-03"))
    assert reconcile_cells(spark, spend_lake, scope) == []
    rows = read_rows(spend_lake, MONTHLY_SPEND)
    rows[0]["amount"] += D("0.01")
    write_table(spend_lake, MONTHLY_SPEND, rows)
    bad = reconcile_cells(spark, spend_lake, scope)
    assert [(r["user_id"], r["month"]) for r in bad] == [(U, rows[0]["month"])]


def test_refresh_is_a_no_op_when_nothing_changed(spark, spend_lake) -> None:
    versions = {t.name: spend_lake.delta(t).version()
                for t in (DAILY_SPEND, MONTHLY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS)}
    refresh_gold(spark, spend_lake, cells(spark, (U, "2024-01"), (U, "2024-03")),
                 date(2024, 3, 31))
    assert {t.name: spend_lake.delta(t).version() for t in
            (DAILY_SPEND, MONTHLY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS)} == versions


# ---- budgets and alerts -------------------------------------------------------------------

H, N, T, UMA = "hana", "nico", "theo", "uma"
FOOD = "FOOD_AND_DRINK_GROCERIES"


def budget_history() -> list[dict]:
    """Hana: six full months of food spend 100, 200, 300, none (but active), 400, 500; then
    February so far. Nico: new this month, paid 4000. Theo: two months only (the first
    partial), paid 2000. Uma: three months, the first partial, and uncategorised spend."""
    rows, n = [], 0

    def add(user, day, amount, desc, cat):
        nonlocal n
        n += 1
        rows.append(txn(user, n, day, amount, desc, cat))

    for month, amount in zip(range(8, 14), ("100", "200", "300", None, "400", "500"), strict=True):
        y, m = (2023, month) if month <= 12 else (2024, month - 12)
        add(H, date(y, m, 5), "9.99", "NETFLIX", "ENTERTAINMENT_TV_AND_MOVIES")
        if amount:
            add(H, date(y, m, 10), amount, "KROGER", FOOD)
    add(H, date(2023, 7, 5), "9.99", "NETFLIX", "ENTERTAINMENT_TV_AND_MOVIES")  # so August is full
    add(H, date(2024, 2, 3), "210.00", "KROGER", FOOD)
    add(N, date(2024, 2, 1), "-4000.00", "ACME PAYROLL", "INCOME_SALARY")
    add(N, date(2024, 2, 2), "1200.00", "LANDLORD", "RENT_AND_UTILITIES_RENT")
    add(T, date(2023, 12, 15), "-1000.00", "ACME PAYROLL", "INCOME_SALARY")
    add(T, date(2024, 1, 15), "-2000.00", "ACME PAYROLL", "INCOME_SALARY")
    add(T, date(2024, 2, 4), "100.00", "KROGER", FOOD)
    for day, amount in ((date(2023, 10, 28), "10.00"), (date(2023, 11, 9), "50.00"),
                        (date(2023, 12, 9), "100.00"), (date(2024, 1, 9), "100.00")):
        add(UMA, day, amount, "KROGER", FOOD)
        add(UMA, day, "500.00", "MYSTERY SHOP", None)
    add(UMA, date(2024, 2, 2), "50.00", "MYSTERY SHOP", None)
    return rows


@pytest.fixture
def budget_lake(spark, lake: Lake) -> Lake:
    write_table(lake, TRANSACTIONS, budget_history())
    write_table(lake, CATEGORIES, categories())
    return lake


def progress(lake: Lake) -> dict:
    return {(k[0], k[2]): r for k, r in rows_of(lake, BUDGET_PROGRESS).items()}


def feb(spark):
    return cells(spark, (H, "2024-02"), (N, "2024-02"), (T, "2024-02"), (UMA, "2024-02"))


def test_budgets_from_history_template_and_alerts_once(spark, budget_lake) -> None:
    result = refresh_gold(spark, budget_lake, feb(spark), date(2024, 2, 10))
    p = progress(budget_lake)
    food = p[(H, "FOOD_AND_DRINK")]  # median of 0,100,200,300,400,500 = 250
    assert (food["budget"], food["budget_source"], food["spent"]) == (D("250.00"), "history",
                                                                      D("210.00"))
    assert (food["state"], food["share"]) == ("approaching", pytest.approx(0.84))
    assert p[(H, "ENTERTAINMENT")]["budget"] == D("10.00")  # 9.99 rounded up to 10
    rent = p[(N, "RENT_AND_UTILITIES")]  # template: 30% of 4000
    assert (rent["budget"], rent["budget_source"], rent["state"]) == (D("1200.00"), "template",
                                                                      "exceeded")
    assert p[(N, "FOOD_AND_DRINK")]["budget"] == D("480.00")  # 12% of 4000, nothing spent
    assert p[(T, "FOOD_AND_DRINK")]["budget_source"] == "template"  # 2 months: not enough
    assert p[(T, "FOOD_AND_DRINK")]["budget"] == D("240.00")  # 12% of the best month, 2000
    uma = p[(UMA, "FOOD_AND_DRINK")]  # median of 50, 100, 100: partial October left out
    assert (uma["budget"], uma["budget_source"]) == (D("100.00"), "history")
    mystery = p[(UMA, "UNCATEGORIZED")]  # uncategorised spend is shown, never budgeted
    assert (mystery["budget"], mystery["state"], mystery["spent"]) == (None, "no_budget",
                                                                     D("50.00"))
    kinds = sorted((a["user_id"], a["kind"], a["subject"]) for a in result.alerts)
    assert kinds == [(H, "budget_approaching", "FOOD_AND_DRINK"),
                     (N, "budget_exceeded", "RENT_AND_UTILITIES")]
    stored = read_rows(budget_lake, ALERTS)
    assert len(stored) == 2
    assert "Food & drink: spent $210.00 of $250.00 (84%)" in {a["detail"] for a in stored
                                                                if a["user_id"] == H}.pop()

    again = refresh_gold(spark, budget_lake, feb(spark), date(2024, 2, 10))  # a re-run
    assert again.alerts == []
    assert len(read_rows(budget_lake, ALERTS)) == 2

    rows = budget_history() + [txn(H, 99, date(2024, 2, 12), "45.00", "KROGER", FOOD)]
    write_table(budget_lake, TRANSACTIONS, rows)  # 255 of 250: now exceeded
    refresh_gold(spark, budget_lake, cells(spark, (H, "2024-02")), date(2024, 2, 12))
    assert sorted(a["kind"] for a in read_rows(budget_lake, ALERTS) if a["user_id"] == H) == [
        "budget_approaching", "budget_exceeded"]


def test_a_manual_budget_overrides_the_recommendation(spark, budget_lake) -> None:
    from datetime import UTC, datetime

    upsert_rows(budget_lake, BUDGETS, [{"user_id": H, "category_primary": "FOOD_AND_DRINK",
                                        "amount": D("1000.00"), "set_by": "cli",
                                        "set_at": datetime.now(UTC)}])
    result = refresh_gold(spark, budget_lake, cells(spark, (H, "2024-02")), date(2024, 2, 10))
    food = progress(budget_lake)[(H, "FOOD_AND_DRINK")]
    assert (food["budget"], food["budget_source"], food["state"]) == (D("1000.00"), "manual",
                                                                      "ok")
    assert result.alerts == []


def test_approaching_threshold_is_configurable(spark, budget_lake) -> None:
    refresh_gold(spark, budget_lake, cells(spark, (H, "2024-02")), date(2024, 2, 10),
                 approaching=0.9)
    assert progress(budget_lake)[(H, "FOOD_AND_DRINK")]["state"] == "ok"  # 84% < 90%


# ---- unusual activity -------------------------------------------------------------------

def unusual_history() -> list[dict]:
    """Four ordinary months (coffee weekly ~5, groceries 100/month), then in May: a 150 coffee
    at the usual cafe, a first-ever 900 payment at a furniture shop, groceries of 250."""
    rows, n = [], 0

    def add(day, amount, desc, cat):
        nonlocal n
        n += 1
        rows.append(txn(U, n, day, amount, desc, cat))

    for m in range(1, 5):
        for d in (3, 10, 17, 24):
            add(date(2024, m, d), "5.00", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE")
        add(date(2024, m, 12), "100.00", "KROGER", FOOD)
    add(date(2024, 5, 3), "5.50", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE")
    add(date(2024, 5, 10), "150.00", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE")
    add(date(2024, 5, 11), "900.00", "FURNITURE BARN", "HOME_IMPROVEMENT_FURNITURE")
    add(date(2024, 5, 12), "250.00", "KROGER", FOOD)  # 2.5x usual: not an outlier alone
    return rows


def test_unusual_activity_flags_with_reasons(spark, lake) -> None:
    write_table(lake, TRANSACTIONS, unusual_history())
    write_table(lake, CATEGORIES, categories())
    all_months = [(U, f"2024-{m:02d}") for m in range(1, 6)]
    refresh_gold(spark, lake, cells(spark, *all_months), date(2024, 5, 31))
    flags = {(r["month"], r["kind"], r["merchant_key"] or r["subject"]): r
             for r in read_rows(lake, UNUSUAL_ACTIVITY)}
    assert set(flags) == {
        ("2024-05", "merchant_outlier", "blue bottle"),
        ("2024-05", "new_merchant_large", "furniture barn"),
        ("2024-05", "category_spike", "FOOD_AND_DRINK"),
    }  # the four ordinary months raise nothing
    assert flags[("2024-05", "merchant_outlier", "blue bottle")]["reason"] == (
        "$150.00 at Blue Bottle is 29.8x your usual $5.03 there")
    spike = flags[("2024-05", "category_spike", "FOOD_AND_DRINK")]
    assert (spike["amount"], spike["baseline"]) == (D("405.50"), D("120.00"))
    assert spike["reason"] == ("Food & drink spend $405.50 is 238% above its 3-month "
                               "average of $120.00")
    assert "first payment to Furniture Barn" in flags[
        ("2024-05", "new_merchant_large", "furniture barn")]["reason"]


def test_rebuild_equals_the_incremental_tables(spark, spend_lake) -> None:
    before = {t.name: rows_of(spend_lake, t) for t in
              (DAILY_SPEND, MONTHLY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS)}
    rebuild_gold(spark, spend_lake, date(2024, 3, 31))
    assert {t.name: rows_of(spend_lake, t) for t in
            (DAILY_SPEND, MONTHLY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS)} == before


def test_budget_set_and_clear_from_the_cli(spark, budget_lake, tmp_path, monkeypatch,
                                          capsys) -> None:
    from finlake.cli import main

    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    assert Lake(str(tmp_path / "lake")).root == budget_lake.root
    assert main(["budget", "set", "--user", H, "--category", "Food & drink",
                 "--amount", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["category_primary"], out["effective_budget"], out["source"], out["state"]) == (
        "FOOD_AND_DRINK", "200.00", "manual", "exceeded")  # 210 of 200
    assert [r["amount"] for r in read_rows(budget_lake, BUDGETS)] == [D("200.00")]
    assert main(["budget", "show", "--user", H]) == 0
    assert "manual" in capsys.readouterr().out
    assert main(["budget", "clear", "--user", H, "--category", "FOOD_AND_DRINK"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["budget"], out["source"], out["effective_budget"]) == ("cleared", "history",
                                                                       "250.00")
    assert read_rows(budget_lake, BUDGETS) == []


def test_a_flag_for_a_payee_the_partner_did_not_name_reads_the_statement_line(spark,
                                                                              lake) -> None:
    """Partners leave ``merchant`` empty for many lines; the demo's flags read "first
    payment to null in over a year"."""
    rows = unusual_history()
    for r in rows:
        if r["description"] == "FURNITURE BARN":
            r.update(merchant=None, description="POS DEBIT FURNITURE BARN #0042 AUSTIN TX")
    write_table(lake, TRANSACTIONS, rows)
    write_table(lake, CATEGORIES, categories())
    refresh_gold(spark, lake, cells(spark, (U, "2024-05")), date(2024, 5, 31))
    [new] = [r for r in read_rows(lake, UNUSUAL_ACTIVITY) if r["kind"] == "new_merchant_large"]
    assert new["reason"].startswith(
        "first payment to POS DEBIT FURNITURE BARN #0042 AUSTIN TX in over a year, $900.00")
    assert "null" not in " ".join(r["reason"] for r in read_rows(lake, UNUSUAL_ACTIVITY))


def test_a_baseline_on_a_half_cent_rounds_the_same_in_every_run(spark, lake) -> None:
    """Four payments of 62.19 and 62.20 average 62.195: a double's sum made that 62.19 in one
    run and 62.20 in a rebuild, depending on the order rows arrived in. Exact decimals round
    it half up, to 62.20, every time."""
    rows, n = [], 0
    for m, amount in zip(range(1, 5), ("62.19", "62.20", "62.19", "62.20"), strict=True):
        for day, amt, desc in ((3, amount, "CORNER GARAGE"), (12, "100.00", "KROGER")):
            n += 1
            rows.append(txn(U, n, date(2024, m, day), amt, desc, FOOD))
    rows.append(txn(U, n + 1, date(2024, 5, 8), "400.00", "CORNER GARAGE", FOOD))
    write_table(lake, TRANSACTIONS, rows)
    write_table(lake, CATEGORIES, categories())
    refresh_gold(spark, lake, cells(spark, (U, "2024-05")), date(2024, 5, 31))
    [flag] = [r for r in read_rows(lake, UNUSUAL_ACTIVITY) if r["kind"] == "merchant_outlier"]
    assert flag["baseline"] == D("62.20")
    assert flag["reason"] == "$400.00 at Corner Garage is 6.4x your usual $62.20 there"
