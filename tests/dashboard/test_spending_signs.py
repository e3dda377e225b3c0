"""Issue 25: money coming in is never spending (and is shown positive), and the spending
drill-down counts what it lists (pending rows shown, marked, and not counted twice with
their posted version).

Alice's December is built as silver rows and run through the real gold pipeline
(pipelines/gold/refresh.py on the session's Sail engine), so the pages read what the nightly
run would write. The lake keeps Plaid's sign (positive is money out, negative money in);
the pages show money in positive and green, money out negative.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, ui
from dashboard.data import money, plans, txns
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import (
    ALERTS,
    BUDGET_PROGRESS,
    BUDGETS,
    DAILY_SPEND,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    SPEND_TRENDS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
)
from pipelines.gold import spend
from pipelines.gold.refresh import reconcile_cells, refresh_gold
from tests.support.lake_fixtures import ALICE, LOGIN_PASSWORDS, small_lake, txn, write_table

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TIMEOUT = 60
DEC = "2024-12"
D = Decimal
HUGE = "-9999999999.99"  # a wire of ten billion dollars, in: must not move "spent"


def december() -> list[dict]:
    """Alice's December: payroll, an uncategorised ACH deposit, groceries with a card refund,
    coffee, a lunch that was pending and has posted, two lunches still pending, a $0 card
    check, an uncategorised purchase, a loan disbursement, a transfer in, and a huge wire."""
    card = {"account_id": f"{ALICE}-card"}
    return [
        txn(ALICE, 1, date(2024, 12, 2), "-2500.00", "ACME PAYROLL", "INCOME_SALARY"),
        txn(ALICE, 2, date(2024, 12, 3), "-450.00", "ACH DEPOSIT VENMO CASHOUT", None),
        txn(ALICE, 3, date(2024, 12, 4), "120.00", "WHOLE FOODS", "FOOD_AND_DRINK_GROCERIES",
            **card),
        txn(ALICE, 4, date(2024, 12, 6), "-20.00", "WHOLE FOODS REFUND",
            "FOOD_AND_DRINK_GROCERIES", **card),
        txn(ALICE, 5, date(2024, 12, 8), "5.50", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE", **card),
        # the pending lunch, superseded by its posted version (silver keeps it for audit)
        txn(ALICE, 6, date(2024, 12, 10), "14.25", "CHIPOTLE", "FOOD_AND_DRINK_FAST_FOOD",
            pending=True, status="superseded", superseded_by=f"p-{ALICE}-7",
            supersede_method="link", **card),
        txn(ALICE, 7, date(2024, 12, 11), "14.25", "CHIPOTLE", "FOOD_AND_DRINK_FAST_FOOD",
            pending_partner_txn_id=f"p-{ALICE}-6", **card),
        txn(ALICE, 8, date(2024, 12, 18), "16.80", "SWEETGREEN", "FOOD_AND_DRINK_RESTAURANT",
            pending=True, **card),
        txn(ALICE, 9, date(2024, 12, 19), "6.40", "STARBUCKS", "FOOD_AND_DRINK_COFFEE",
            pending=True, **card),
        txn(ALICE, 10, date(2024, 12, 12), "0.00", "CARD VERIFICATION", None, **card),
        txn(ALICE, 11, date(2024, 12, 13), "35.00", "SQ *MYSTERY", None, **card),
        txn(ALICE, 12, date(2024, 12, 14), "-8500.00", "UPSTART LOAN DISB",
            "LOAN_DISBURSEMENTS_PERSONAL"),
        txn(ALICE, 13, date(2024, 12, 15), "-300.00", "FROM SAVINGS",
            "TRANSFER_IN_ACCOUNT_TRANSFER"),
        txn(ALICE, 14, date(2024, 12, 16), HUGE, "INCOMING WIRE", None),
    ]


# What December must show (worked by hand): food nets the refund, the pending lunches are not
# in the totals, the $0 check and the $35 purchase are the uncategorised spend.
FOOD = D("100.00") + D("5.50") + D("14.25")  # 119.75, 4 posted transactions
UNCATEGORISED = D("35.00")  # $0 check + $35 purchase, 2 transactions
SPENT = FOOD + UNCATEGORISED  # 154.75
INCOME = D("2500.00") + D("450.00") - D(HUGE)  # payroll, the ACH deposit, the wire


@pytest.fixture(scope="module")
def home(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small lake's logins and accounts, with alice's silver replaced by December and
    every gold table she is shown rebuilt by the pipeline from it."""
    home = tmp_path_factory.mktemp("signs")
    lake = small_lake(home, now=datetime(2024, 12, 20, 12, tzinfo=UTC))
    for t in (MONTHLY_SPEND, DAILY_SPEND, MONTHLY_CASHFLOW, BUDGET_PROGRESS, BUDGETS,
              SPEND_TRENDS, UNUSUAL_ACTIVITY, ALERTS):
        shutil.rmtree(lake.uri(t), ignore_errors=True)  # the fixture's hand-made gold
    write_table(lake, TRANSACTIONS, december())
    cells = spark.createDataFrame([(ALICE, DEC)], "user_id string, month string")
    refresh_gold(spark, lake, cells, date(2024, 12, 20))
    return home


@pytest.fixture(autouse=True)
def fresh_throttle() -> None:
    auth.THROTTLE.clear()


def _lake(home: Path) -> Lake:
    return Lake(str(home / "lake"))


def _alice(lake: Lake) -> auth.Principal:
    principal = auth.verify(lake, ALICE, LOGIN_PASSWORDS[ALICE])
    assert principal is not None
    return principal


def _open(home: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    """The app signed in as alice through the form, showing ``page``."""
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.text_input(key="sign_in_login").input(ALICE)
    at.text_input(key="sign_in_password").input(LOGIN_PASSWORDS[ALICE])
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert ui.PRINCIPAL_KEY in at.session_state, [e.value for e in at.error]
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _table(at: AppTest, *columns: str):  # noqa: ANN202
    """The page's table that has ``columns``."""
    for df in at.dataframe:
        if all(c in df.value.columns for c in columns):
            return df.value
    raise AssertionError(f"no table with {columns}: "
                         f"{[list(df.value.columns) for df in at.dataframe]}")


def _money(text: str) -> Decimal:
    """``$1,234.50`` / ``-$20.00`` -> Decimal."""
    return D(text.replace("$", "").replace(",", ""))


# --- gold: where spending is computed -----------------------------------------------------------

def test_classify_money_in_is_never_an_expense(spark) -> None:
    """The pure transform: each realistic and hostile row's flow (expense | income | transfer)."""
    from pipelines.categories.reference import categories

    rows = december() + [
        txn(ALICE, 20, date(2024, 12, 21), "-12.00", "PLAID OTHER CREDIT", "OTHER_OTHER"),
        txn(ALICE, 21, date(2024, 12, 21), "-5.00", "MY OWN CATEGORY REFUND", "ALICE_PETS"),
    ]
    columns = ("txn_id", "user_id", "amount", "category", "user_category", "pending", "status",
               "posted_date", "posted_month")
    silver = spark.createDataFrame(
        [tuple(r.get(c) for c in columns) for r in rows],
        "txn_id string, user_id string, amount decimal(18,2), category string, "
        "user_category string, pending boolean, status string, posted_date date, "
        "posted_month string")
    cats = spark.createDataFrame(categories())
    custom = spark.createDataFrame([(ALICE, "ALICE_PETS", "GENERAL_MERCHANDISE")],
                                   "user_id string, category string, category_primary string")
    flows = {r["txn_id"].split("-")[1]: (r["flow"], r["category_primary"])
             for r in spend.classify(silver, cats, custom).collect()}
    assert flows == {
        "t1": ("income", "INCOME"),  # payroll credit
        "t2": ("income", "UNCATEGORIZED"),  # the ACH deposit: money in, no category
        "t3": ("expense", "FOOD_AND_DRINK"),
        "t4": ("expense", "FOOD_AND_DRINK"),  # a card refund nets against groceries
        "t5": ("expense", "FOOD_AND_DRINK"),
        "t7": ("expense", "FOOD_AND_DRINK"),  # pending rows (t6, t8, t9) never count
        "t10": ("expense", "UNCATEGORIZED"),  # $0: nothing in, counted where it is
        "t11": ("expense", "UNCATEGORIZED"),  # money out without a category is spending
        "t12": ("transfer", "LOAN_DISBURSEMENTS"),  # borrowed money: neither income nor spend
        "t13": ("transfer", "TRANSFER_IN"),
        "t14": ("income", "UNCATEGORIZED"),  # the huge wire
        "t20": ("income", "OTHER"),  # Plaid's "other" is no category either
        "t21": ("expense", "GENERAL_MERCHANDISE"),  # a refund in the person's own category
    }


def test_gold_spend_cashflow_and_budgets_leave_money_in_out(home: Path, spark) -> None:
    lake = _lake(home)
    monthly = {(r["category_primary"], r["category"]): (r["amount"], r["txn_count"])
               for r in read_rows(lake, MONTHLY_SPEND) if r["user_id"] == ALICE}
    assert monthly == {
        ("FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES"): (D("100.00"), 2),  # refund netted
        ("FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"): (D("5.50"), 1),
        ("FOOD_AND_DRINK", "FOOD_AND_DRINK_FAST_FOOD"): (D("14.25"), 1),  # posted once
        ("UNCATEGORIZED", "UNCATEGORIZED"): (UNCATEGORISED, 2),
    }
    [flow] = [r for r in read_rows(lake, MONTHLY_CASHFLOW) if r["user_id"] == ALICE]
    assert (flow["expense"], flow["income"]) == (SPENT, INCOME)
    assert flow["net"] == INCOME - SPENT
    assert flow["transfers_in"] == D("8800.00")  # the loan and the transfer from savings
    progress = {r["category_primary"]: r["spent"] for r in read_rows(lake, BUDGET_PROGRESS)
                if r["user_id"] == ALICE}
    assert progress["UNCATEGORIZED"] == UNCATEGORISED
    assert progress["FOOD_AND_DRINK"] == FOOD
    assert "LOAN_DISBURSEMENTS" not in progress
    assert reconcile_cells(spark, lake, spark.createDataFrame(
        [(ALICE, DEC)], "user_id string, month string")) == []  # gold agrees with silver


# --- the data layer -------------------------------------------------------------------------------

def test_data_functions_never_report_negative_spending(home: Path) -> None:
    lake = _lake(home)
    alice = _alice(lake)
    spend_rows = money.monthly_spend(lake, alice)
    assert (spend_rows["amount"] >= 0).all(), spend_rows
    assert spend_rows.groupby("primary_name")["amount"].sum().to_dict() == {
        "Food & drink": float(FOOD), "Uncategorised": float(UNCATEGORISED)}
    flow = money.cashflow(lake, alice)
    assert list(flow["expense"]) == [float(SPENT)]
    budgets = plans.budget_progress(lake, alice)
    assert (budgets["spent"] >= 0).all(), budgets


def test_drill_down_data_counts_what_it_lists(home: Path) -> None:
    lake = _lake(home)
    alice = _alice(lake)
    food = txns.TxnFilter(category="FOOD_AND_DRINK", month=DEC, spending=True)
    rows, total = txns.search_transactions(lake, alice, food)
    assert total == len(rows) == 6  # 4 posted + 2 pending
    assert sorted(rows.loc[rows["pending"], "description"]) == ["STARBUCKS", "SWEETGREEN"]
    assert list(rows["description"]).count("CHIPOTLE") == 1  # superseded pending left out
    assert txns.pending_counts(lake, alice, food) == {"FOOD_AND_DRINK_COFFEE": 1,
                                                      "FOOD_AND_DRINK_RESTAURANT": 1}
    mystery = txns.TxnFilter(category="UNCATEGORIZED", month=DEC, spending=True)
    rows, total = txns.search_transactions(lake, alice, mystery)
    # money in (the ACH deposit, the wire) is not uncategorised spending; NULL categories are
    assert sorted(rows["description"]) == ["CARD VERIFICATION", "SQ *MYSTERY"]
    assert total == 2 and txns.pending_counts(lake, alice, mystery) == {}
    # without ``spending`` the same category lists money in too (the Transactions page)
    rows, _ = txns.search_transactions(lake, alice, txns.TxnFilter(category="UNCATEGORIZED"))
    assert sorted(rows["description"]) == ["ACH DEPOSIT VENMO CASHOUT", "CARD VERIFICATION",
                                           "INCOMING WIRE", "SQ *MYSTERY"]
    assert txns.search_transactions(lake, alice, txns.TxnFilter(
        category="TRANSFER_IN", spending=True))[1] == 0  # never spending
    with pytest.raises(ValueError, match="give the category"):
        txns.search_transactions(lake, alice, txns.TxnFilter(spending=True))


# --- the pages ------------------------------------------------------------------------------------

def test_spending_page_shows_no_negative_spending(home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "spending")
    bars = next(c for c in at.get("vega_lite_chart")
                if json.loads(c.proto.spec)["mark"]["type"] == "bar")
    shown = pa.ipc.open_stream(bars.proto.datasets[0].data.data).read_all().to_pandas()
    assert dict(zip(shown["Category"], shown["Spend"], strict=True)) == {
        "Food & drink": float(FOOD), "Uncategorised": float(UNCATEGORISED)}
    totals = _table(at, "Category", "Spend", "Transactions")
    assert {r["Category"]: (r["Spend"], r["Transactions"]) for r in totals.to_dict("records")
            } == {"Food & drink": ("$119.75", 4), "Uncategorised": ("$35.00", 2)}


def test_overview_spent_in_december_counts_no_money_in(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spent in Dec 2024"] == "$154.75"
    assert metrics["Income in Dec 2024"] == "$10,000,002,949.99"


def test_budgets_page_never_says_negative_spent(home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "budgets")
    lines = [m.value for m in at.markdown]
    assert "**Uncategorised**: spent $35.00 :gray-badge[No budget]" in lines, lines
    assert not [line for line in lines if "-$" in line or "−$" in line], lines


def test_food_drill_down_summary_caption_and_list_agree(home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "spending")
    at.selectbox(key="spending_drill").set_value("FOOD_AND_DRINK").run()
    assert not at.exception, [e.message for e in at.exception]
    totals = _table(at, "Category", "Spend", "Transactions")
    listed = _table(at, "Description", "Amount")
    [caption] = [c.value for c in at.caption if "in Food & drink" in c.value]
    food_total = int(totals.set_index("Category").loc["Food & drink", "Transactions"])
    marked = list(listed.get("Pending", [])).count("Pending")
    # the caption's count is the category's posted count plus the rows marked pending
    assert (int(caption.split()[0]), food_total, marked) == (6, 4, 2), caption
    summary = _table(at, "Category", "Spend", "Transactions", "Pending")
    posted = int(summary["Transactions"].sum())
    pending = int(summary["Pending"].sum())
    assert (posted, pending) == (food_total, 2) == (4, 2)
    assert caption.startswith(f"{posted + pending} transactions in Food & drink, Dec 2024"), \
        caption
    assert "2 pending" in caption, caption
    assert len(listed) == posted + pending
    marks = dict(zip(listed["Description"], listed["Pending"], strict=True))
    assert marks == {"WHOLE FOODS REFUND": "", "WHOLE FOODS": "", "BLUE BOTTLE": "",
                     "CHIPOTLE": "", "SWEETGREEN": "Pending", "STARBUCKS": "Pending"}
    # the posted rows add up to the category's spend (shown money out is negative)
    assert -sum(_money(a) for a, p in zip(listed["Amount"], listed["Pending"], strict=True)
                if not p) == FOOD


def test_uncategorised_drill_down_lists_its_spending_only(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "spending")
    at.selectbox(key="spending_drill").set_value("UNCATEGORIZED").run()
    assert not at.exception, [e.message for e in at.exception]
    [caption] = [c.value for c in at.caption if "in Uncategorised" in c.value]
    assert caption.startswith("2 transactions in Uncategorised, Dec 2024"), caption
    listed = _table(at, "Description", "Amount")
    assert dict(zip(listed["Description"], listed["Amount"], strict=True)) == {
        "SQ *MYSTERY": "-$35.00", "CARD VERIFICATION": "$0.00"}


@pytest.mark.parametrize(("partner", "currency", "shown"), [
    (-2500, "USD", "+$2,500.00"),      # pay: money in, positive
    (12.345, "USD", "-$12.35"),        # a purchase: money out, negative (rounded half up)
    (Decimal("0.004"), "USD", "$0.00"),  # nothing either way: no sign
    (0, "USD", "$0.00"),
    (-19.99, "EUR", "+€19.99"),
    (7, "CHF", "-7.00 CHF"),           # a currency without a symbol: by its code
    (None, "USD", ""),
])
def test_amounts_are_shown_the_way_people_read_them(partner, currency, shown) -> None:
    assert ui.format_flow(partner, currency) == shown
