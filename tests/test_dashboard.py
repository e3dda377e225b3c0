"""The Streamlit dashboard: every page in AppTest over a small lake with known contents
(tests/lake_fixtures.py), the writes people make from it, and its data access layer."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from lake_fixtures import ALICE, BOB, small_lake, transactions, txn, write_table
from streamlit.testing.v1 import AppTest

from dashboard import actions, data
from lake.catalog import Lake
from lake.small_tables import read_rows
from lake.tables import BUDGETS, CATEGORY_OVERRIDES, TRANSACTION_OVERRIDES, TRANSACTIONS

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TIMEOUT = 60  # the first run imports pandas, altair, delta-rs...
PAGES = ["overview", "spending", "budgets", "transactions", "recurring", "accounts"]
TITLES = {"overview": "Overview", "spending": "Spending", "budgets": "Budgets",
          "transactions": "Transactions", "recurring": "Recurring payments",
          "accounts": "Accounts & sync"}
CODE = re.compile(r"\b[A-Z]{3,}(?:_[A-Z]+)+\b")  # a taxonomy code such as FOOD_AND_DRINK


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    small_lake(home)
    return home


@pytest.fixture
def writable_home(tmp_path: Path) -> Path:
    small_lake(tmp_path)
    return tmp_path


def _open(home: Path, monkeypatch: pytest.MonkeyPatch, page: str = "overview",
          user: str | None = None) -> AppTest:
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if user:
        at.session_state["user_id"] = user
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _texts(at: AppTest) -> list[str]:
    """Everything a person reads on the page (text elements and table cells)."""
    out: list[str] = []
    for kind in ("title", "subheader", "markdown", "caption", "warning", "info", "success",
                 "error", "metric"):
        for el in getattr(at, kind):
            out.append(str(el.value))
            if kind == "metric":
                out.append(str(el.label))
    for df in at.dataframe:
        out += [str(v) for v in df.value.astype(str).to_numpy().ravel()]
        out += [str(c) for c in df.value.columns]
    return out


def _table(at: AppTest, first_column: str) -> dict[str, dict[str, str]]:
    """The page's table whose first column is ``first_column``, as {first cell: row}."""
    for df in at.dataframe:
        v = df.value
        if list(v.columns)[0] == first_column:
            return {str(r[first_column]): {k: str(x) for k, x in r.items()}
                    for r in v.to_dict("records")}
    raise AssertionError(f"no table starting with {first_column!r}")


def _button(at: AppTest, label: str):  # noqa: ANN202
    return next(b for b in at.button if b.label == label)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("user", [ALICE, BOB])
def test_every_page_renders_readably(home: Path, monkeypatch: pytest.MonkeyPatch, page: str,
                                     user: str) -> None:
    at = _open(home, monkeypatch, page, user)
    assert [t.value for t in at.title] == [TITLES[page]]
    assert at.sidebar.selectbox[0].options == [ALICE, BOB]
    assert at.sidebar.selectbox[0].value == user
    caption = at.caption[0].value
    assert caption.startswith("Data refreshed ") and "accounts last synced" in caption
    shown = _texts(at)
    assert not [t for t in shown if CODE.search(t)], "raw category codes on screen"
    assert not [t for t in shown if "nan" in t.split() or "None" in t.split()]


def test_freshness_banners_follow_the_user(home: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    alice = _open(home, monkeypatch, "spending", ALICE)
    [relink] = [w.value for w in alice.warning]
    assert "Gingham Credit Union" in relink and "sign in again" in relink
    assert "Rainy Day Savings ••7777" in relink
    assert not alice.info
    bob = _open(home, monkeypatch, "spending", BOB)
    [down] = [w.value for w in bob.warning]
    assert "Tartan Bank" in down and "having problems" in down and "Car Loan" in down
    [stale] = [i.value for i in bob.info]
    assert stale.startswith("Not updated recently: Checking ••1234 at First Platypus Bank")
    assert "5 days ago" in stale


def test_overview(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "overview", ALICE)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Net worth"] == "$14,930.00"  # 15,000 + 59 x 20 - 1,250
    assert [m.delta for m in at.metric if m.label == "Net worth"] == ["$600.00"]
    assert metrics["Spent in Feb 2024"] == "$1,239.31"
    [chart, *_] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["mark"]["type"] == "line"
    progress = [p.proto.text for p in at.get("progress")]
    assert progress == [
        "Food & drink: $4.75 of $100.00 · On track",
        "Shopping: $1,234.56 of $1,000.00 · Over budget"]
    alerts = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert alerts[0].startswith("- **Over budget** — Shopping: spent $1,234.56 of $1,000.00")
    assert alerts[1] == "- **Unusual amount** — $1,234.56 at Amazon is 30.9x your usual " \
                        "$40.00 there"


def test_spending(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "spending", ALICE)
    bars = next(c for c in at.get("vega_lite_chart")
                if json.loads(c.proto.spec)["mark"]["type"] == "bar")
    [dataset] = bars.proto.datasets
    shown = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
    assert set(shown["Month"]) == {"Jan 2024", "Feb 2024"}
    assert set(shown["Category"]) == {"Food & drink", "Shopping"}  # no income, no codes
    assert sorted(shown["Spend"]) == [4.75, 82.40, 1234.56]
    month = at.selectbox(key="spending_month")
    assert month.value == "2024-02" and month.options == ["Feb 2024", "Jan 2024"]
    totals = _table(at, "Category")
    assert totals["Shopping"] == {"Category": "Shopping", "Spend": "$1,234.56",
                                  "Transactions": "1"}
    drill = at.selectbox(key="spending_drill")
    drill.set_value("FOOD_AND_DRINK").run()
    assert not at.exception
    rows = next(d.value for d in at.dataframe if "Description" in d.value.columns)
    assert list(rows["Description"]) == ["BLUE BOTTLE"]
    assert list(rows["Category"]) == ["Restaurant"]  # the person's own category
    month.set_value("2024-01").run()
    assert not at.exception
    assert "By category in Jan 2024" in [s.value for s in at.subheader]


def test_spending_month_over_month(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "spending", ALICE)
    mom = next(d.value for d in at.dataframe if "Last month" in d.value.columns)
    rows = {r["Category"]: r for r in mom.to_dict("records")}
    assert rows["Food & drink"]["This month"] == "$4.75"
    assert rows["Food & drink"]["Last month"] == "$82.40"
    assert rows["Food & drink"]["Change"] == "-$77.65"
    assert rows["Food & drink"]["Change %"] == "-94%"
    assert rows["Shopping"]["Change %"] == "new"


def test_budgets_page_and_setting_a_budget(writable_home: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(writable_home, monkeypatch, "budgets", ALICE)
    lines = [m.value for m in at.markdown]
    assert ("**Shopping**: $1,234.56 of $1,000.00 (123%) :red-badge[Over budget] · budget set "
            "by you") in lines
    assert ("**Food & drink**: $4.75 of $100.00 (5%) :green-badge[On track] · budget from your "
            "history") in lines
    at.selectbox(key="budget_category").set_value("GENERAL_MERCHANDISE")
    at.text_input(key="budget_amount").input("abc")
    _button(at, "Save budget").click().run()
    assert [e.value for e in at.error] == ["'abc' is not a positive amount, e.g. 400 or 250.50."]
    assert [r["amount"] for r in read_rows(Lake(str(writable_home / "lake")), BUDGETS)] == [
        Decimal("1000.00")]

    at.text_input(key="budget_amount").input("1,300")
    _button(at, "Save budget").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Budget for Shopping set to $1,300.00 a month."]
    [row] = read_rows(Lake(str(writable_home / "lake")), BUDGETS)
    assert (row["amount"], row["set_by"]) == (Decimal("1300.00"), "dashboard")
    lines = [m.value for m in at.markdown]
    assert ("**Shopping**: $1,234.56 of $1,300.00 (95%) :orange-badge[Approaching limit] · "
            "budget set by you") in lines

    at.selectbox(key="budget_category").set_value("FOOD_AND_DRINK")
    at.text_input(key="budget_amount").input("4")
    _button(at, "Save budget").click().run()
    assert ("**Food & drink**: $4.75 of $4.00 (119%) :red-badge[Over budget] · budget set "
            "by you") in [m.value for m in at.markdown]

    at.selectbox(key="budget_category").set_value("GENERAL_MERCHANDISE")
    _button(at, "Use the suggestion instead").click().run()
    assert not at.exception
    assert [r["category_primary"] for r in read_rows(Lake(str(writable_home / "lake")),
                                                     BUDGETS)] == ["FOOD_AND_DRINK"]
    assert "**Shopping**: spent $1,234.56 :gray-badge[No budget]" in [m.value for m in at.markdown]


def test_transactions_page_search(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "transactions", ALICE)
    table = at.dataframe[0].value
    assert list(table.columns) == ["Date", "Description", "Merchant", "Category", "Amount",
                                   "Pending"]
    assert list(table["Description"]) == ["UBER", "AMAZON", "BLUE BOTTLE", "ACME PAYROLL",
                                          "WHOLE FOODS"]  # removed rows are not shown
    assert list(table["Amount"]) == ["$18.20", "$1,234.56", "$4.75", "-$2,500.00", "$82.40"]
    assert list(table["Pending"]) == ["Pending", "", "", "", ""]
    assert list(table["Date"])[0] == "20 Feb 2024"
    at.text_input(key="txn_text").input("blue").run()
    assert list(at.dataframe[0].value["Description"]) == ["BLUE BOTTLE"]
    at.text_input(key="txn_text").input("").run()
    at.number_input(key="txn_min").set_value(50.0).run()
    assert list(at.dataframe[0].value["Description"]) == ["AMAZON", "ACME PAYROLL",
                                                          "WHOLE FOODS"]
    at.number_input(key="txn_max").set_value(100.0).run()
    assert list(at.dataframe[0].value["Description"]) == ["WHOLE FOODS"]
    at.number_input(key="txn_min").set_value(None)
    at.number_input(key="txn_max").set_value(None)
    at.selectbox(key="txn_category").set_value("FOOD_AND_DRINK").run()
    assert list(at.dataframe[0].value["Description"]) == ["BLUE BOTTLE", "WHOLE FOODS"]
    at.selectbox(key="txn_category").set_value(None)
    at.date_input(key="txn_dates").set_value((date(2024, 2, 1), date(2024, 2, 15))).run()
    assert not at.exception
    assert list(at.dataframe[0].value["Description"]) == ["AMAZON", "BLUE BOTTLE"]


def test_recategorise_from_the_transactions_page(writable_home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    at = _open(writable_home, monkeypatch, "transactions", ALICE)
    pick = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Transaction"))
    pick.set_value(next(o for o in pick.options if "AMAZON" in o)).run()
    at.selectbox(key="txn_new_category").set_value("ENTERTAINMENT_VIDEO_GAMES")
    _button(at, "Set for this transaction").click().run()
    assert not at.exception
    [saved] = [s.value for s in at.success]
    assert saved.startswith("AMAZON is now Entertainment › Video games.")
    [row] = read_rows(lake, TRANSACTION_OVERRIDES)
    assert (row["user_id"], row["txn_id"], row["category"], row["source"]) == (
        ALICE, "alice-t4", "ENTERTAINMENT_VIDEO_GAMES", "dashboard")
    table = at.dataframe[0].value
    categories = dict(zip(table["Description"], table["Category"], strict=True))
    assert categories["AMAZON"] == "Video games (updating)"

    pick = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Transaction"))
    pick.set_value(next(o for o in pick.options if "UBER" in o)).run()
    at.selectbox(key="txn_new_category").set_value("TRAVEL_FLIGHTS")
    _button(at, "Always use it for Uber").click().run()
    assert not at.exception
    [rule] = read_rows(lake, CATEGORY_OVERRIDES)
    assert (rule["user_id"], rule["merchant_key"], rule["category"], rule["source"]) == (
        ALICE, "uber", "TRAVEL_FLIGHTS", "dashboard")
    silver = {r["txn_id"]: r for r in read_rows(lake, TRANSACTIONS)}
    assert silver["alice-t4"]["user_category"] is None  # silver waits for the nightly run
    bob = data.search_transactions(lake, BOB)[0]
    assert "Video games" not in set(bob["category_name"])  # alice's choices stay hers


def test_recurring(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "recurring", BOB)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Per month, all together": "$1,513.99", "Subscriptions and bills": "2",
                       "Price increases": "1"}
    [warning] = [w.value for w in at.warning if "went up" in w.value]
    assert warning == "**Netflix** went up to $15.49 (was $13.99)."
    table = _table(at, "Merchant")
    assert table["Landlord"]["How often"] == "Monthly"
    assert table["Netflix"]["Next expected"] == "12 Mar 2024"
    alice = _open(home, monkeypatch, "recurring", ALICE)
    assert "No subscriptions or regular bills found yet" in alice.markdown[0].value


def test_accounts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "accounts", ALICE)
    assert [s.value for s in at.subheader] == ["First Platypus Bank", "Gingham Credit Union"]
    platypus, gingham = (d.value for d in at.dataframe)
    assert list(platypus["Account"]) == ["Platinum Card ••4242", "Everyday Checking ••0001"]
    assert list(platypus["Type"]) == ["Credit card", "Bank account"]
    assert list(platypus["Status"]) == ["Up to date", "Up to date"]
    assert list(gingham["Status"]) == ["Sign in again"]
    assert list(gingham["Balance"]) == ["$12,000.00"]
    bob = _open(home, monkeypatch, "accounts", BOB)
    statuses = [s for d in bob.dataframe for s in d.value["Status"]]
    assert statuses == ["Not updated recently", "Bank having problems"]


def test_switching_user_switches_every_figure(home: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    at = _open(home, monkeypatch, "transactions", ALICE)
    at.sidebar.selectbox[0].set_value(BOB).run()
    assert not at.exception
    assert at.session_state["user_id"] == BOB
    assert list(at.dataframe[0].value["Description"]) == [
        "NETFLIX REFUND", "SAVINGS TRANSFER", "NETFLIX", "LANDLORD", "LANDLORD"]
    at.switch_page("views/overview.py").run()
    assert at.session_state["user_id"] == BOB
    assert {m.label for m in at.metric} >= {"Spent in Feb 2024"}
    assert [m.value for m in at.metric if m.label == "Spent in Feb 2024"] == ["$1,495.49"]


@pytest.mark.parametrize("page", PAGES)
def test_empty_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    at = _open(tmp_path, monkeypatch, page)
    assert [i.value for i in at.info] == [
        "No data yet: run `./dev demo` (or the nightly job) to fill the lake."]
    assert not at.sidebar.selectbox


def test_bad_configuration_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINLAKE_ENV", "nonsense")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("finlake is not configured:")


# --- the data layer --------------------------------------------------------------------------

def test_queries_are_per_user(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    assert data.users(lake) == [ALICE, BOB]
    for fn in (data.monthly_spend, data.cashflow, data.net_worth, data.budget_progress,
               data.alerts, data.recurring, data.accounts):
        assert fn(lake, "nobody").empty, fn.__name__
    assert set(data.accounts(lake, BOB)["account_id"]) == {"bob-checking", "bob-loan"}
    rows, total = data.search_transactions(lake, "nobody")
    assert rows.empty and total == 0
    injected = data.search_transactions(lake, ALICE, data.TxnFilter(text="%' OR 1=1 --"))
    assert injected[1] == 0


def test_search_paginates(tmp_path: Path) -> None:
    lake = small_lake(tmp_path)
    many = [txn(ALICE, 100 + i, date(2023, 1, 1 + i % 28), f"{i}.00", f"SHOP {i:03d}",
                "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
                posted_month="2023-01") for i in range(120)]
    write_table(lake, TRANSACTIONS, transactions() + many)
    rows, total = data.search_transactions(lake, ALICE, page=0)
    assert total == 125 and len(rows) == data.PAGE_SIZE
    seen = []
    for page in range(3):
        rows, _ = data.search_transactions(lake, ALICE, page=page)
        seen += list(rows["txn_id"])
    assert len(seen) == 125 == len(set(seen))
    rows, total = data.search_transactions(lake, ALICE, page=3)
    assert rows.empty and total == 125
    shop = data.search_transactions(lake, ALICE, data.TxnFilter(text="shop 01"))[0]
    assert sorted(shop["description"]) == [f"SHOP {i:03d}" for i in range(10, 20)]
    under = data.search_transactions(lake, ALICE, data.TxnFilter(text="_"))[0]
    assert under.empty  # LIKE wildcards in the search text are literal


def test_cache_sees_new_versions_and_missing_tables(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lake = small_lake(tmp_path)
    monkeypatch.setattr(data, "RECHECK_SECONDS", 0.0)
    assert data.users(lake) == [ALICE, BOB]
    first = data.monthly_spend(lake, ALICE)
    first["amount"] = 0.0  # callers get copies
    assert data.monthly_spend(lake, ALICE)["amount"].sum() > 0
    write_table(lake, TRANSACTIONS, [r for r in transactions() if r["user_id"] == BOB])
    assert data.search_transactions(lake, ALICE)[1] == 0
    assert data.recurring(lake, ALICE).empty
    assert data.search_transactions(Lake(str(tmp_path / "elsewhere")), ALICE)[1] == 0


def test_actions_refuse_bad_changes(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    with pytest.raises(actions.ActionError, match="Unknown category"):
        actions.recategorise(lake, ALICE, "alice-t4", "NOT_A_CATEGORY")
    with pytest.raises(actions.ActionError, match="not one of yours"):
        actions.recategorise(lake, ALICE, "bob-t1", "TRAVEL_FLIGHTS")
    with pytest.raises(actions.ActionError, match="not a budget category"):
        actions.set_budget(lake, ALICE, "FOOD_AND_DRINK_COFFEE", "10")
    for bad in ("0", "-5", "1e13", "NaN", ""):
        with pytest.raises(actions.ActionError, match="not a positive amount"):
            actions.set_budget(lake, ALICE, "FOOD_AND_DRINK", bad)
    assert not lake.exists(TRANSACTION_OVERRIDES)
    assert len(read_rows(lake, BUDGETS)) == 1


def test_many_users_are_asked_for_not_listed(home: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    from dashboard import ui

    monkeypatch.setattr(ui, "LIST_USERS_UP_TO", 1)
    at = _open(home, monkeypatch, "accounts", BOB)
    assert not at.sidebar.selectbox
    [box] = at.sidebar.text_input
    assert box.value == BOB and at.title[0].value == "Accounts & sync"
    box.input("mallory").run()
    assert [e.value for e in at.sidebar.error] == ["No user 'mallory' in this lake."]
    assert [i.value for i in at.info] == [ui.EMPTY_MESSAGE]
    at.sidebar.text_input[0].input(ALICE).run()
    assert at.session_state["user_id"] == ALICE
    assert [s.value for s in at.subheader][0] == "First Platypus Bank"
