"""The Streamlit dashboard: every page in AppTest over a small lake with known contents
(tests/support/lake_fixtures.py), signed in through the form; the writes people make from it;
and its data access layer, which shows a session only its own person's rows."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

import dashboard.data
from dashboard import actions, auth, ui
from dashboard.data import aggregates, money, plans, queries, txns
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import (
    AUDIT_LOG,
    BUDGETS,
    CATEGORY_OVERRIDES,
    LOGINS,
    TRANSACTION_OVERRIDES,
    TRANSACTIONS,
)
from tests.support.lake_fixtures import (
    ALICE,
    ANALYST,
    BOB,
    LOGIN_PASSWORDS,
    small_lake,
    transactions,
    txn,
    write_table,
)
from tests.support.page_html import meters

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TIMEOUT = 60  # the first run imports pandas, altair, delta-rs...
PAGES = ["overview", "spending", "budgets", "transactions", "recurring", "accounts"]
TITLES = {"overview": "Overview", "spending": "Spending", "budgets": "Budgets",
          "transactions": "Transactions", "recurring": "Recurring payments",
          "accounts": "Accounts & sync"}
CODE = re.compile(r"\b[A-Z]{3,}(?:_[A-Z]+)+\b")  # a taxonomy code such as FOOD_AND_DRINK


def who(lake: Lake, login: str) -> auth.Principal:
    """The principal of one of the small lake's logins, as signing in makes it."""
    principal = auth.verify(lake, login, LOGIN_PASSWORDS[login])
    assert principal is not None
    return principal


def _app(home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def _sign_in(at: AppTest, login: str, password: str | None = None) -> AppTest:
    """Fill in and submit the sign-in form (the page must be showing it)."""
    at.text_input(key="sign_in_login").input(login)
    at.text_input(key="sign_in_password").input(
        LOGIN_PASSWORDS[login] if password is None else password)
    _button(at, "Sign in").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _open(home: Path, monkeypatch: pytest.MonkeyPatch, page: str = "overview",
          login: str = ALICE) -> AppTest:
    """The app signed in as ``login`` (through the form), showing ``page``."""
    at = _app(home, monkeypatch).run()
    _sign_in(at, login)
    assert ui.PRINCIPAL_KEY in at.session_state, [e.value for e in at.error]
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
    assert not at.sidebar.selectbox and not at.sidebar.text_input  # no user picker
    assert [c.value for c in at.sidebar.caption] == [f"Signed in as **{user}**"]
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
    assert [(m["name"], m["amounts"], m["note"]) for m in meters(at)] == [
        ("All budgets", "$1,239.31 of $1,100.00", "$139.31 over · 29 of 29 days gone (100%)"),
        ("Food & drink", "$4.75 of $100.00", "On track · $95.25 left"),
        ("Shopping", "$1,234.56 of $1,000.00", "Over budget · $234.56 over")]
    alerts = [m.value for m in at.markdown if m.value.startswith("- ")]
    # the alert's text is escaped (dashboard/plain.py): Streamlit shows "\$" as "$"
    assert alerts[0].startswith(r"- **Over budget** — Shopping: spent \$1,234.56 of \$1,000.00")
    assert alerts[1] == r"- **Unusual amount** — \$1,234.56 at Amazon is 30.9x your usual " \
                        r"\$40.00 there"


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
    assert list(table.columns) == ["Date", "Amount", "Category", "Description", "Merchant",
                                   "Pending"]
    assert list(table["Description"]) == ["UBER", "AMAZON", "BLUE BOTTLE", "ACME PAYROLL",
                                          "WHOLE FOODS"]  # removed rows are not shown
    # shown as people read them: money in positive (green), money out negative; the lake
    # keeps the partner's sign (the pay is -2,500.00 there)
    assert list(table["Amount"]) == ["-$18.20", "-$1,234.56", "-$4.75", "+$2,500.00", "-$82.40"]
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert "color: #1a7f37" in styles and styles.count("color:") == 1, styles  # the pay only
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
    bob = txns.search_transactions(lake, who(lake, BOB))[0]
    assert "Video games" not in set(bob["category_name"])  # alice's choices stay hers
    audited = [(r["action"], json.loads(r["detail"])) for r in read_rows(lake, AUDIT_LOG)
               if r["action"].startswith("override_")]
    assert sorted(audited, key=lambda a: a[0]) == [
        ("override_merchant", {"category": "TRAVEL_FLIGHTS"}),
        ("override_transaction", {"category": "ENTERTAINMENT_VIDEO_GAMES"})]


def test_recurring(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "recurring", BOB)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Per month, all together": "$1,513.99", "Subscriptions and bills": "2",
                       "Price increases": "1"}
    [warning] = [w.value for w in at.warning if "went up" in w.value]
    assert warning == r"**Netflix** went up to $15.49 (was \$13.99)."  # the old price escaped
    table = _table(at, "Merchant")
    assert table["Landlord"]["How often"] == "Monthly"
    assert table["Netflix"]["Next expected"] == "12 Mar 2024"
    alice = _open(home, monkeypatch, "recurring", ALICE)
    assert "No subscriptions or regular bills found yet" in alice.markdown[0].value


def test_accounts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "accounts", ALICE)
    assert [s.value for s in at.subheader] == ["First Platypus Bank", "Gingham Credit Union"]
    platypus, gingham = (d.value for d in at.dataframe)
    assert list(platypus["Account"]) == ["••4242 Platinum Card", "••0001 Everyday Checking"]
    assert list(platypus["Type"]) == ["Credit card", "Bank account"]
    card, checking = platypus["Balance"]
    assert card.startswith("-$") and not checking.startswith("-")  # a card's balance is owed
    assert list(platypus["Status"]) == ["Up to date", "Up to date"]
    assert list(gingham["Status"]) == ["Sign in again"]
    assert list(gingham["Balance"]) == ["$12,000.00"]
    bob = _open(home, monkeypatch, "accounts", BOB)
    statuses = [s for d in bob.dataframe for s in d.value["Status"]]
    assert statuses == ["Not updated recently", "Bank having problems"]


# --- signing in --------------------------------------------------------------------------------

def _when(row: dict) -> object:
    """When an audit row was written."""
    return row["occurred_at"]


def _everything(at: AppTest) -> str:
    """All a browser could be sent for the page: every element's text, options, table cells
    and chart data, main area and sidebar."""
    out = _texts(at)
    for kind in ("selectbox", "multiselect", "radio", "text_input", "number_input"):
        for el in getattr(at, kind):
            out.append(str(el.label))
            out += [str(o) for o in getattr(el, "options", [])]
            out.append(str(el.value))
    for el in at.sidebar:
        out.append(str(getattr(el, "value", "")))
    for chart in at.get("vega_lite_chart"):
        out.append(chart.proto.spec)
        for dataset in chart.proto.datasets:
            table = pa.ipc.open_stream(dataset.data.data).read_all()
            out += [str(v) for col in table.columns for v in col.to_pylist()]
    for progress in at.get("progress"):
        out.append(progress.proto.text)
    return "\n".join(out)


def test_only_the_sign_in_form_shows_before_signing_in(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(home, monkeypatch)
    at.query_params["user"] = BOB  # a URL cannot pick anybody
    at.session_state["user_id"] = BOB
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to finlake"]
    assert [(t.label, t.value) for t in at.text_input] == [("Login", ""), ("Password", "")]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.metric and not at.get("vega_lite_chart")
    assert not at.sidebar.children or not list(at.sidebar)
    assert ui.PRINCIPAL_KEY not in at.session_state
    for page in PAGES:  # no other page is registered: its URL reaches the sign-in form only
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"views/{page}.py")


def test_wrong_password_is_refused_and_audited(writable_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    at = _app(writable_home, monkeypatch).run()
    _sign_in(at, ALICE, "not-alice-s-password")
    assert [e.value for e in at.error] == [ui.SIGN_IN_FAILED]
    assert ui.PRINCIPAL_KEY not in at.session_state
    assert [t.value for t in at.title] == ["Sign in to finlake"]
    _sign_in(at, "mallory", "whatever-it-is-1")
    assert [e.value for e in at.error] == [ui.SIGN_IN_FAILED]  # same answer: no login probing
    _sign_in(at, ALICE)
    assert [t.value for t in at.title] == ["Overview"]
    rows = sorted(read_rows(lake, AUDIT_LOG), key=_when)
    assert [(r["action"], r["actor"], json.loads(r["detail"])) for r in rows] == [
        ("sign_in_failed", "dashboard", {"reason": "bad_password"}),
        ("sign_in_failed", "dashboard", {"reason": "unknown"}),
        ("sign_in", "dashboard", {"method": "password", "role": "user"})]
    assert [r["subject"] is None for r in rows] == [True, True, False]  # a pseudonym only
    assert not [r for r in rows if re.search(r"alice|mallory|bob", str(r).lower())]


def test_disabled_login_is_refused(writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    assert auth.disable_login(lake, BOB)
    assert not auth.disable_login(lake, "nobody")
    at = _app(writable_home, monkeypatch).run()
    _sign_in(at, BOB)
    assert [e.value for e in at.error] == [ui.SIGN_IN_FAILED]
    assert ui.PRINCIPAL_KEY not in at.session_state
    assert auth.check(lake, BOB, LOGIN_PASSWORDS[BOB]) == (None, "disabled")


def test_sign_out_forgets_the_session(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "transactions", ALICE)
    at.text_input(key="txn_text").input("blue").run()
    _button(at.sidebar, "Sign out").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to finlake"]
    assert ui.PRINCIPAL_KEY not in at.session_state and "txn_text" not in at.session_state
    _sign_in(at, BOB)
    at.switch_page("views/transactions.py").run()
    assert list(at.dataframe[0].value["Description"])[0] == "NETFLIX REFUND"


# Values only bob's data holds (descriptions, merchants, amounts, accounts, institution).
BOB_TEXTS = ["LANDLORD", "Landlord", "NETFLIX", "Netflix", "SAVINGS TRANSFER", "$1,500.00",
             "$15.49", "$13.99", "$830.55", "$8,400.00", "$1,495.49", "$1,513.99", "$1,600.00",
             "••1234", "••9090", "Car Loan", "Tartan Bank", "bob-"]
BOB_NUMBERS = {1500.0, 15.49, 13.99, 830.55, 8400.0, 1495.49, 1513.99, 1600.0}
ALICE_TEXTS = ["WHOLE FOODS", "BLUE BOTTLE", "AMAZON", "ACME PAYROLL", "UBER", "$1,234.56",
               "$82.40", "$4.75", "$2,500.00", "$5,230.10", "$12,000.00", "••4242", "••0001",
               "••7777", "Platinum Card", "Rainy Day Savings", "Gingham Credit Union",
               "alice-"]
ALICE_NUMBERS = {1234.56, 82.4, 4.75, 2500.0, 5230.1, 12000.0, 1250.0}


def _numbers(text: str) -> set[float]:
    found = set()
    for n in re.findall(r"-?\d[\d,]*\.?\d*", text):
        try:
            found.add(abs(float(n.replace(",", ""))))
        except ValueError:
            continue
    return found


@pytest.mark.parametrize(("viewer", "other", "texts", "numbers"), [
    (ALICE, BOB, BOB_TEXTS, BOB_NUMBERS), (BOB, ALICE, ALICE_TEXTS, ALICE_NUMBERS)])
def test_nobody_sees_another_person_through_any_page(
        home: Path, monkeypatch: pytest.MonkeyPatch, viewer: str, other: str,
        texts: list[str], numbers: set[float]) -> None:
    at = _app(home, monkeypatch)
    at.query_params["user"] = other
    at.query_params["user_id"] = other
    at.run()
    _sign_in(at, viewer)
    for page in PAGES:
        at.session_state["user_id"] = other  # what the old user picker read: ignored now
        at.query_params["user"] = other
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, [e.message for e in at.exception]
        assert at.title[0].value == TITLES[page]
        shown = _everything(at)
        assert [t for t in texts if t in shown] == [], page
        assert not (_numbers(shown) & numbers), page
        assert at.session_state[ui.PRINCIPAL_KEY].user_id == viewer
    at.switch_page("views/transactions.py").run()
    for text in ("landlord", "netflix", "amazon", "blue bottle"):  # search the other's
        at.text_input(key="txn_text").input(text).run()
        assert set(at.dataframe[0].value["Description"]) <= _descriptions(viewer), text
        assert not [t for t in texts if t in _everything(at)], text


def _descriptions(user: str) -> set[str]:
    return {r["description"] for r in transactions()
            if r["user_id"] == user and r["status"] == "live"}


def test_a_tampered_or_forged_principal_is_not_accepted(home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    at = _app(home, monkeypatch)
    at.session_state[ui.PRINCIPAL_KEY] = SimpleNamespace(login=BOB, user_id=BOB, role="user")
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to finlake"]  # not a Principal: ignored
    with pytest.raises(TypeError, match="only by dashboard.auth"):
        auth.Principal(BOB, BOB, "user")
    alice = who(Lake(str(home / "lake")), ALICE)
    import dataclasses

    with pytest.raises(TypeError, match="only by dashboard.auth"):
        dataclasses.replace(alice, user_id=BOB)
    with pytest.raises(dataclasses.FrozenInstanceError):
        alice.user_id = BOB  # type: ignore[misc]


# --- the analyst ---------------------------------------------------------------------------------

def _crowd_lake(home: Path) -> Lake:
    """The small lake plus three more people who all bought food in February 2024."""
    from lake.tables import ACCOUNTS, MONTHLY_SPEND
    from tests.support.lake_fixtures import accounts, spend_rows

    lake = small_lake(home)
    extra = [txn(u, 1, date(2024, 2, 5), amount, f"{u.upper()} DELI", "FOOD_AND_DRINK_GROCERIES")
             for u, amount in (("carol", "11.11"), ("dave", "22.22"), ("erin", "33.33"))]
    write_table(lake, MONTHLY_SPEND, spend_rows(transactions() + extra))
    base = accounts(datetime.now(UTC))
    more = [{**base[0], "account_id": f"{u}-checking", "user_id": u, "item_id": f"{u}-item",
             "name": f"{u} checking"} for u in ("carol", "dave", "erin")]
    write_table(lake, ACCOUNTS, base + more)
    return lake


def test_analyst_sees_only_aggregates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _crowd_lake(tmp_path)
    monkeypatch.setenv("FINLAKE_K_ANONYMITY", "3")
    at = _app(tmp_path, monkeypatch)
    at.query_params["user"] = ALICE
    at.run()
    _sign_in(at, ANALYST)
    assert [t.value for t in at.title] == ["Analytics"]
    assert [c.value for c in at.sidebar.caption] == ["Signed in as **ana** (analyst)"]
    for page in PAGES:  # per-user pages are not registered for an analyst
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"views/{page}.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["People with linked accounts"] == "5"
    spend = _table(at, "Month")
    # Only food in February has 3+ people (alice, carol, dave, erin); every other cell
    # describes one person and is hidden, and there is no total to work it out from.
    assert spend == {"Feb 2024": {"Month": "Feb 2024", "Category": "Food & drink",
                                  "Spend": "$71.41", "Transactions": "4", "People": "4"}}
    assert any("cells with fewer than 3 people are hidden" in c.value for c in at.caption)
    health = _table(at, "Institution")
    assert set(health) == {"First Platypus Bank", "Gingham Credit Union", "Tartan Bank"}
    shown = _everything(at)
    for private in [ALICE, BOB, "carol", "DELI", *ALICE_TEXTS[:5], *BOB_TEXTS[:5],
                    "Everyday Checking", "Car Loan", "ana@"]:
        assert private not in shown, private
    assert not (_numbers(shown) & {1234.56, 82.4, 1500.0, 15.49, 11.11, 22.22, 33.33})


def test_analyst_with_too_few_people_sees_nothing_small(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "overview", ANALYST)  # the analyst's only page
    assert [t.value for t in at.title] == ["Analytics"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["People with linked accounts"] == "fewer than 3"
    assert "No month and category has enough people to show yet." in [
        m.value for m in at.markdown]


def test_empty_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch).run()
    assert [i.value for i in at.info] == [f"{ui.EMPTY_MESSAGE} {ui.NO_LOGINS}"]
    assert [t.value for t in at.title] == ["Sign in to finlake"]
    _sign_in(at, ALICE)
    assert [e.value for e in at.error] == [ui.SIGN_IN_FAILED]


def test_a_user_with_no_data_yet_sees_empty_pages(writable_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    write_table(lake, TRANSACTIONS, [r for r in transactions() if r["user_id"] != BOB])
    at = _open(writable_home, monkeypatch, "overview", BOB)
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, page
        assert "LANDLORD" not in _everything(at)
    at.switch_page("views/transactions.py").run()
    assert at.dataframe[0].value.empty
    assert any(c.value.startswith("0 transactions") for c in at.caption)


def test_bad_configuration_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINLAKE_ENV", "nonsense")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("finlake is not configured:")
    assert not at.text_input


# --- logins --------------------------------------------------------------------------------------

def test_create_login_checks_what_it_is_given(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    with pytest.raises(auth.LoginError, match="too short: use at least 12"):
        auth.create_login(lake, "alice2", "short", ALICE, "user")
    with pytest.raises(auth.LoginError, match="Unknown role 'admin'"):
        auth.create_login(lake, "alice2", "long enough password", ALICE, "admin")
    with pytest.raises(auth.LoginError, match="No user 'mallory' in this lake"):
        auth.create_login(lake, "mallory", "long enough password", "mallory", "user")
    with pytest.raises(auth.LoginError, match="exists already"):
        auth.create_login(lake, "Alice", "long enough password", ALICE, "user")
    with pytest.raises(auth.LoginError, match="analyst login belongs to nobody"):
        auth.create_login(lake, "ana2", "long enough password", ALICE, "analyst")
    with pytest.raises(auth.LoginError, match="not a valid login"):
        auth.create_login(lake, "a b", "long enough password", ALICE, "user")
    row = auth.create_login(lake, ALICE, "a brand new password", ALICE, "user", replace=True)
    assert row["login"] == ALICE and "password_hash" not in row
    assert auth.verify(lake, ALICE, LOGIN_PASSWORDS[ALICE]) is None
    assert auth.verify(lake, "ALICE ", "a brand new password").user_id == ALICE
    [stored] = [r for r in read_rows(lake, LOGINS) if r["login"] == ALICE]
    assert stored["password_hash"].startswith("$argon2id$")
    assert "a brand new password" not in str(stored)
    [created] = [json.loads(r["detail"]) for r in read_rows(lake, AUDIT_LOG)
                 if r["action"] == "create_login"]
    assert created == {"password": True, "replaced": True, "role": "user"}


def test_unknown_logins_cost_a_hash_check(writable_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    lake = Lake(str(writable_home / "lake"))
    checked = []

    class Counting(PasswordHasher):
        def verify(self, hash: str, password: str) -> bool:  # noqa: A002
            checked.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(auth, "HASHER", Counting())
    auth._dummy_verify("warm up")  # the dummy hash is made once per process
    checked.clear()
    assert auth.check(lake, "nobody", "some password 1") == (None, "unknown")
    assert auth.check(lake, BOB, "some password 1") == (None, "bad_password")
    assert len(checked) == 2  # one argon2 check each: unknown and known logins cost the same


def test_failed_sign_ins_are_throttled(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    now = [1000.0]
    monkeypatch_clock = auth.THROTTLE.clock
    auth.THROTTLE.clock = lambda: now[0]
    try:
        for _ in range(auth.MAX_FAILURES):
            assert auth.check(lake, ALICE, "wrong password!")[1] == "bad_password"
        assert auth.check(lake, ALICE, LOGIN_PASSWORDS[ALICE]) == (None, "throttled")
        assert auth.verify(lake, BOB, LOGIN_PASSWORDS[BOB]) is not None  # per login
        now[0] += auth.FAILURE_WINDOW + 1
        assert auth.verify(lake, ALICE, LOGIN_PASSWORDS[ALICE]) is not None
    finally:
        auth.THROTTLE.clock = monkeypatch_clock


def test_old_hash_parameters_are_upgraded_at_sign_in(writable_home: Path) -> None:
    from argon2 import PasswordHasher

    lake = Lake(str(writable_home / "lake"))
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("an old password")
    from lake.small_tables import upsert_rows

    [row] = [r for r in read_rows(lake, LOGINS) if r["login"] == BOB]
    upsert_rows(lake, LOGINS, [{**row, "password_hash": weak}])
    assert auth.verify(lake, BOB, "an old password").user_id == BOB
    [row] = [r for r in read_rows(lake, LOGINS) if r["login"] == BOB]
    assert row["password_hash"] != weak
    assert not auth.HASHER.check_needs_rehash(row["password_hash"])
    assert auth.verify(lake, BOB, "an old password") is not None


def test_oidc_email_maps_to_a_login(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    auth.create_login(lake, "Alice@Example.com", None, ALICE, "user")
    auth.create_login(lake, "ana@example.com", None, None, "analyst")
    alice = auth.oidc_principal(lake, "alice@example.COM", True)
    assert (alice.login, alice.user_id, alice.role) == ("alice@example.com", ALICE, "user")
    assert auth.oidc_principal(lake, "ana@example.com").is_analyst
    assert auth.oidc_principal(lake, "alice@example.com", email_verified=False) is None
    assert auth.oidc_principal(lake, "mallory@example.com", True) is None
    assert auth.oidc_principal(lake, None) is None
    assert auth.verify(lake, "alice@example.com", "") is None  # no password: OIDC only
    assert auth.check(lake, "alice@example.com", "any password 12") == (None, "no_password")
    auth.disable_login(lake, "alice@example.com")
    assert auth.oidc_principal(lake, "alice@example.com", True) is None
    reasons = [json.loads(r["detail"]).get("reason") for r in read_rows(lake, AUDIT_LOG)
               if r["action"] == "sign_in_failed"]
    assert sorted(reasons) == ["disabled", "invalid", "unknown", "unverified"]


def test_oidc_sign_in_page(writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an [auth] section the page offers the provider; a provider account whose e-mail
    has a login is signed in as that login, one without is refused."""
    lake = Lake(str(writable_home / "lake"))
    auth.create_login(lake, "alice@example.com", None, ALICE, "user")
    monkeypatch.setattr(ui, "oidc_configured", lambda: True)
    at = _app(writable_home, monkeypatch).run()
    assert "Sign in with your organisation's account" in [b.label for b in at.button]
    assert [b.label for b in at.button][-1] == "Sign in"  # passwords still work
    for email, signed_in in (("mallory@example.com", False), ("alice@example.com", True)):
        class FakeUser(dict):
            is_logged_in = True

        monkeypatch.setattr(ui.st, "user", FakeUser(email=email, email_verified=True))
        at = _app(writable_home, monkeypatch).run()
        assert not at.exception, [e.message for e in at.exception]
        if signed_in:
            assert [t.value for t in at.title] == ["Overview"]
            assert at.session_state[ui.PRINCIPAL_KEY].login == email
        else:
            assert "has no finlake login" in at.error[0].value
            assert ui.PRINCIPAL_KEY not in at.session_state


# --- the data layer --------------------------------------------------------------------------

# The data layer's modules (dashboard/data/), and the per-user functions each one lists.
DATA_MODULES = [importlib.import_module(f"dashboard.data.{m.name}")
                for m in pkgutil.iter_modules(dashboard.data.__path__)]
PER_USER_FUNCTIONS = tuple(fn for module in DATA_MODULES
                           for fn in getattr(module, "PER_USER_FUNCTIONS", ()))

def _bob_extras(lake: Lake) -> None:
    """Rows of bob's that would change alice's results if a query read them: his own
    category names, a merchant rule and a transaction override on alice's ids, a budget
    for alice's category, an alert."""
    from lake.small_tables import append_rows
    from lake.tables import ALERTS, CUSTOM_CATEGORIES

    now = datetime.now(UTC)
    append_rows(lake, CUSTOM_CATEGORIES, [{
        "user_id": BOB, "category": "CUSTOM_BOB_STASH", "category_primary": "FOOD_AND_DRINK",
        "display_name": "Bob's stash", "created_at": now}])
    append_rows(lake, CATEGORY_OVERRIDES, [{
        "user_id": BOB, "merchant_key": "amazon", "category": "CUSTOM_BOB_STASH",
        "source": "dashboard", "created_at": now}])
    append_rows(lake, TRANSACTION_OVERRIDES, [{
        "user_id": BOB, "txn_id": "alice-t1", "category": "CUSTOM_BOB_STASH",
        "source": "dashboard", "created_at": now, "posted_month": "2024-01"}])
    append_rows(lake, BUDGETS, [{
        "user_id": BOB, "category_primary": "FOOD_AND_DRINK", "amount": Decimal("7.77"),
        "set_by": "dashboard", "set_at": now}])
    append_rows(lake, ALERTS, [{
        "alert_key": "b1", "kind": "budget_exceeded", "user_id": BOB, "subject": "RENT",
        "detail": "Rent: bob's alert", "period": "2024-02", "created_at": now}])


def _without(home: Path, source: Lake, user: str) -> Lake:
    """A copy of ``source`` with every per-user table's rows of ``user`` removed."""
    from lake.tables import REGISTRY

    lake = Lake(str(home / "lake"))
    for name in sorted(queries.PER_USER_TABLES):
        rows = read_rows(source, REGISTRY[name])
        if rows:
            write_table(lake, REGISTRY[name], [r for r in rows if r["user_id"] != user])
    for name in ("categories", "institutions", "institution_health"):
        rows = read_rows(source, REGISTRY[name])
        if rows:
            write_table(lake, REGISTRY[name], rows)
    return lake


def _calls(lake: Lake, principal: auth.Principal) -> dict[str, object]:
    """Every public per-user function of the data layer, with arguments that could reach
    the other person's rows."""
    import inspect

    public = {name for module in DATA_MODULES for name, fn in vars(module).items()
              if inspect.isfunction(fn) and not name.startswith("_")
              and fn.__module__ == module.__name__
              and list(inspect.signature(fn).parameters)[1:2] == ["who"]}
    listed = {fn.__name__ for fn in PER_USER_FUNCTIONS}
    analyst = {fn.__name__ for fn in aggregates.ANALYST_FUNCTIONS}
    assert public - {"frame"} == listed | analyst, "PER_USER_FUNCTIONS is missing a function"
    out: dict[str, object] = {}
    for fn in PER_USER_FUNCTIONS:
        name = fn.__name__
        if name == "trends":
            out[name] = fn(lake, principal, "2024-02")
        elif name == "search_transactions":
            for f in (txns.TxnFilter(), txns.TxnFilter(category="FOOD_AND_DRINK"),
                      txns.TxnFilter(text="e"), txns.TxnFilter(month="2024-02")):
                out[f"{name}{f}"] = fn(lake, principal, f)
        elif name == "transaction_month":
            out[name] = [fn(lake, principal, t) for t in ("alice-t4", "bob-t1", "alice-t1")]
        elif name == "has_merchant":
            out[name] = [fn(lake, principal, m) for m in ("amazon", "netflix", "landlord")]
        elif name == "alert_kind":  # alice's a1, bob's b1 (_bob_extras), nobody's
            out[name] = [fn(lake, principal, k) for k in ("a1", "b1", "zz")]
        elif name == "budget_progress":
            out[name] = fn(lake, principal, "2024-02")
        else:
            out[name] = fn(lake, principal)
    return out


def _same(a: object, b: object) -> bool:
    import pandas as pd

    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, pd.DataFrame):
        return a.reset_index(drop=True).equals(b.reset_index(drop=True))
    return a == b


@pytest.mark.parametrize(("viewer", "other"), [(ALICE, BOB), (BOB, ALICE)])
def test_every_per_user_function_sees_only_the_principals_rows(
        tmp_path: Path, viewer: str, other: str) -> None:
    both = small_lake(tmp_path / "both")
    _bob_extras(both)
    alone = _without(tmp_path / "alone", both, other)
    principal = who(both, viewer)
    mixed, own = _calls(both, principal), _calls(alone, principal)
    for name, result in mixed.items():
        # what the lake holding both people returns equals the lake without the other
        assert _same(result, own[name]), name
        assert other not in str(result), name
        if viewer == ALICE:  # bob's own category, rule and override never reach alice
            assert "stash" not in str(result).lower(), name
    if viewer == ALICE:
        assert mixed["transaction_month"] == ["2024-02", None, "2024-01"]
        assert mixed["has_merchant"] == [True, False, False]
        assert mixed["alert_kind"] == ["budget_exceeded", None, None]
    else:
        assert mixed["alert_kind"] == [None, "budget_exceeded", None]


def test_an_unfiltered_query_through_the_scoped_helper_sees_one_person(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    alice = who(lake, ALICE)
    for name in sorted(queries.PER_USER_TABLES):
        df = queries.frame(lake, alice, f"SELECT DISTINCT user_id FROM {name}")
        assert set(df["user_id"]) <= {ALICE}, name
    everyone = queries.frame(lake, alice, "SELECT t.description FROM transactions t "
                                          "JOIN accounts a USING (account_id) "
                                          "WHERE t.txn_id IN (SELECT txn_id FROM transactions)")
    assert set(everyone["description"]) == {
        "WHOLE FOODS", "ACME PAYROLL", "BLUE BOTTLE", "AMAZON", "DUPLICATE CHARGE", "UBER"}
    with_cte = queries.frame(lake, alice, "WITH mine AS (SELECT * FROM monthly_cashflow) "
                                          "SELECT count(*) AS n FROM mine")
    assert with_cte["n"].iloc[0] == 2
    # the caller's parameters cannot name somebody else
    assert set(queries.frame(lake, alice, "SELECT DISTINCT user_id FROM transactions "
                                          "WHERE user_id = $user", {"user": BOB})["user_id"]) \
        == {ALICE}
    for escape in ("SELECT * FROM temp.main.transactions",
                   "SELECT * FROM main.transactions",
                   "SELECT * FROM read_parquet('x.parquet')",
                   "SELECT * FROM query_table('transactions')",
                   "WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r, transactions"):
        with pytest.raises(ValueError, match="may not use"):
            queries.frame(lake, alice, escape)


def test_per_user_functions_take_only_a_principal(home: Path) -> None:
    from types import SimpleNamespace

    lake = Lake(str(home / "lake"))
    analyst = who(lake, ANALYST)
    fake = SimpleNamespace(login=BOB, user_id=BOB, role="user", is_analyst=False)
    for fn in PER_USER_FUNCTIONS:
        for bad in (BOB, None, {"user_id": BOB}, fake):
            with pytest.raises(TypeError, match="signed-in Principal"):
                fn(lake, bad, *(["x"] if fn.__name__ in ("trends", "transaction_month",
                                                         "has_merchant", "alert_kind") else []))
        with pytest.raises(PermissionError, match="aggregate"):
            fn(lake, analyst, *(["x"] if fn.__name__ in ("trends", "transaction_month",
                                                         "has_merchant", "alert_kind") else []))
    with pytest.raises(TypeError):
        queries.frame(lake, BOB, "SELECT 1")
    for fn in aggregates.ANALYST_FUNCTIONS:
        with pytest.raises(PermissionError, match="analyst logins"):
            fn(lake, who(lake, ALICE))
        with pytest.raises(TypeError):
            fn(lake, "ana")


def test_queries_are_per_user(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    nobody = auth._mint("nobody", "nobody", "user")  # a login whose person has no rows
    for fn in (money.monthly_spend, money.cashflow, money.net_worth, plans.budget_progress,
               money.alerts, plans.recurring, money.accounts):
        assert fn(lake, nobody).empty, fn.__name__
    assert set(money.accounts(lake, who(lake, BOB))["account_id"]) == {"bob-checking",
                                                                       "bob-loan"}
    rows, total = txns.search_transactions(lake, nobody)
    assert rows.empty and total == 0
    injected = txns.search_transactions(lake, who(lake, ALICE),
                                        txns.TxnFilter(text="%' OR 1=1 --"))
    assert injected[1] == 0


def test_search_paginates(tmp_path: Path) -> None:
    lake = small_lake(tmp_path)
    alice = who(lake, ALICE)
    many = [txn(ALICE, 100 + i, date(2023, 1, 1 + i % 28), f"{i}.00", f"SHOP {i:03d}",
                "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
                posted_month="2023-01") for i in range(120)]
    write_table(lake, TRANSACTIONS, transactions() + many)
    rows, total = txns.search_transactions(lake, alice, page=0)
    assert total == 125 and len(rows) == txns.PAGE_SIZE
    seen = []
    for page in range(3):
        rows, _ = txns.search_transactions(lake, alice, page=page)
        seen += list(rows["txn_id"])
    assert len(seen) == 125 == len(set(seen))
    rows, total = txns.search_transactions(lake, alice, page=3)
    assert rows.empty and total == 125
    shop = txns.search_transactions(lake, alice, txns.TxnFilter(text="shop 01"))[0]
    assert sorted(shop["description"]) == [f"SHOP {i:03d}" for i in range(10, 20)]
    under = txns.search_transactions(lake, alice, txns.TxnFilter(text="_"))[0]
    assert under.empty  # LIKE wildcards in the search text are literal


def test_cache_sees_new_versions_and_missing_tables(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lake = small_lake(tmp_path)
    alice = who(lake, ALICE)
    monkeypatch.setattr(queries, "RECHECK_SECONDS", 0.0)
    first = money.monthly_spend(lake, alice)
    first["amount"] = 0.0  # callers get copies
    assert money.monthly_spend(lake, alice)["amount"].sum() > 0
    write_table(lake, TRANSACTIONS, [r for r in transactions() if r["user_id"] == BOB])
    assert txns.search_transactions(lake, alice)[1] == 0
    assert plans.recurring(lake, alice).empty
    assert txns.search_transactions(Lake(str(tmp_path / "elsewhere")), alice)[1] == 0


def test_actions_refuse_bad_changes(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    alice = who(lake, ALICE)
    with pytest.raises(actions.ActionError, match="Unknown category"):
        actions.recategorise(lake, alice, "alice-t4", "NOT_A_CATEGORY")
    with pytest.raises(actions.ActionError, match="not one of yours"):
        actions.recategorise(lake, alice, "bob-t1", "TRAVEL_FLIGHTS")
    with pytest.raises(actions.ActionError, match="not a budget category"):
        actions.set_budget(lake, alice, "FOOD_AND_DRINK_COFFEE", "10")
    for bad in ("0", "-5", "1e13", "NaN", ""):
        with pytest.raises(actions.ActionError, match="not a positive amount"):
            actions.set_budget(lake, alice, "FOOD_AND_DRINK", bad)
    assert not lake.exists(TRANSACTION_OVERRIDES)
    assert len(read_rows(lake, BUDGETS)) == 1


def test_actions_touch_only_the_principals_rows(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    alice, bob, analyst = who(lake, ALICE), who(lake, BOB), who(lake, ANALYST)
    for txn_id in ("bob-t1", "bob-t3", "nope"):  # bob's transactions do not exist for alice
        with pytest.raises(actions.ActionError, match="not one of yours"):
            actions.recategorise(lake, alice, txn_id, "TRAVEL_FLIGHTS")
    with pytest.raises(actions.ActionError, match="None of your transactions"):
        actions.categorise_merchant(lake, alice, "netflix", "TRAVEL_FLIGHTS")
    for bad in (BOB, None):
        with pytest.raises(TypeError):
            actions.recategorise(lake, bad, "bob-t1", "TRAVEL_FLIGHTS")
        with pytest.raises(TypeError):
            actions.set_budget(lake, bad, "FOOD_AND_DRINK", "10")
    with pytest.raises(PermissionError):
        actions.set_budget(lake, analyst, "FOOD_AND_DRINK", "10")
    assert not lake.exists(TRANSACTION_OVERRIDES) and not lake.exists(CATEGORY_OVERRIDES)
    actions.set_budget(lake, bob, "GENERAL_MERCHANDISE", "50")
    actions.clear_budget(lake, alice, "GENERAL_MERCHANDISE")  # alice's only
    assert [(r["user_id"], r["amount"]) for r in read_rows(lake, BUDGETS)] == [
        (BOB, Decimal("50.00"))]
    audited = [(r["action"], json.loads(r["detail"])) for r in read_rows(lake, AUDIT_LOG)]
    assert sorted(audited, key=lambda a: a[0]) == [
        ("clear_budget", {"category": "GENERAL_MERCHANDISE"}),
        ("set_budget", {"amount": "50.00", "category": "GENERAL_MERCHANDISE"})]
