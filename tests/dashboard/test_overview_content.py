"""Issue 25, item 8: budget totals and the month's pace, upcoming bills and net worth by kind
of account, on the Overview and the Budgets page.

The lake is the small one (tests/support/lake_fixtures.py) with, for alice:

* budgets of February 2024 counted up to the 15th (15 of 29 days gone): food $150 of $400,
  shopping $620 of $1,000, transport $190 of $200 (close), travel $80 without a budget;
* subscriptions and bills around 29 February (her newest day): some due in the 14 days after
  it, one on the day, one on its last day, one a day too late, one already past;
* balances per account for 14 months (checking, savings, a brokerage account, a card and a
  loan) with the net worth they add up to.

Bob keeps the small lake's rows (his landlord and Netflix bills, his rent budget)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard import charts
from dashboard.data import money, plans
from lake.lake import Lake
from lake.tables import (
    BALANCES_DAILY,
    BUDGET_PROGRESS,
    NET_WORTH_DAILY,
    RECURRING_PAYMENTS,
    TRANSACTIONS,
)
from tests.dashboard.test_dashboard import _open, who
from tests.support.lake_fixtures import (
    ALICE,
    BOB,
    gold_rows,
    small_lake,
    transactions,
    txn,
    write_table,
)
from tests.support.page_html import blocks as _blocks
from tests.support.page_html import chart_layers as _charts
from tests.support.page_html import meters as _meters

D = Decimal
TODAY = date(2024, 2, 29)  # alice's newest day of net worth: "today" on her Overview
AS_OF = date(2024, 2, 15)  # her February budgets count spend up to here
FIRST = date(2023, 1, 1)  # her first day of balances
GREEN, ORANGE, RED = (charts.STATUS_COLORS[s] for s in ("ok", "approaching", "exceeded"))


# --- the lake --------------------------------------------------------------------------------

def _budget(prim: str, budget: str | None, spent: str, source: str) -> dict[str, Any]:
    b = D(budget) if budget else None
    share = float(D(spent) / b) if b else None
    state = ("no_budget" if share is None else "exceeded" if share >= 1
             else "approaching" if share >= 0.8 else "ok")
    return {"user_id": ALICE, "month": "2024-02", "category_primary": prim, "budget": b,
            "budget_source": source, "spent": D(spent), "share": share, "state": state,
            "as_of": AS_OF}


BUDGETS = [_budget("FOOD_AND_DRINK", "400.00", "150.00", "history"),
           _budget("GENERAL_MERCHANDISE", "1000.00", "620.00", "manual"),
           _budget("TRANSPORTATION", "200.00", "190.00", "history"),
           _budget("TRAVEL", None, "80.00", "none")]


def _bill(key: str, due: date, usual: str, last: str | None = None,
          cadence: str = "monthly", **extra: Any) -> dict[str, Any]:
    return {"user_id": ALICE, "merchant_key": key, "cadence": cadence, "occurrences": 6,
            "typical_amount": D(usual), "last_amount": D(last or usual),
            "last_date": due - timedelta(days=365 if cadence == "yearly" else 30),
            "next_expected_date": due, "price_increase": last is not None,
            "missed_payment": False, "detail": None, **extra}


BILLS = [
    _bill("gym", TODAY + timedelta(days=14), "45.00"),  # the window's last day
    _bill("water", TODAY + timedelta(days=15), "32.10"),  # a day too late
    _bill("spotify", date(2024, 3, 3), "9.99"),
    _bill("phone", date(2024, 2, 27), "60.00", missed_payment=True),  # already past
    _bill("insurance", date(2024, 3, 1), "600.00", "640.00", cadence="yearly"),  # went up
    _bill("newspaper", TODAY, "12.00"),  # due today; no charge in the window names it
]
LAST = {b["merchant_key"]: b["last_date"] for b in BILLS}
# The merchant names their last charges give (the insurance's: a year ago).
NAMES = [txn(ALICE, 40, LAST["spotify"], "9.99", "SPOTIFY P0123", "ENTERTAINMENT_MUSIC",
             merchant="Spotify", merchant_key="spotify"),
         txn(ALICE, 41, LAST["gym"], "45.00", "CITY GYM 22", "PERSONAL_CARE_GYMS",
             merchant="City Gym", merchant_key="gym"),
         txn(ALICE, 42, LAST["insurance"], "640.00", "ACME INS", "GENERAL_SERVICES_INSURANCE",
             merchant="Acme Insurance", merchant_key="insurance")]
# What alice's Overview lists, in order: (merchant, due, expected amount).
DUE = [("newspaper", TODAY, "$12.00"), ("Acme Insurance", date(2024, 3, 1), "$640.00"),
       ("Spotify", date(2024, 3, 3), "$9.99"), ("City Gym", date(2024, 3, 14), "$45.00")]


def _i(day: date) -> int:
    return (day - FIRST).days


# Each of alice's accounts on day i (the partner's sign: what a card or loan holds is owed).
ACCOUNTS = {"alice-checking": ("depository", lambda i: D(3000 + 10 * i)),
            "alice-savings": ("depository", lambda i: D(12000)),
            "alice-brokerage": ("investment", lambda i: D(20000 + 25 * i)),
            "alice-card": ("credit", lambda i: D(500 + (i % 30) * 10)),
            "alice-loan": ("loan", lambda i: D(15000 - 20 * i))}
KIND_OF = {"depository": "cash", "investment": "investments", "credit": "credit_cards",
           "loan": "loans"}


def _kinds(i: int) -> dict[str, float]:
    """What each kind of account adds to alice's net worth on day ``i`` (owed: negative)."""
    out = dict.fromkeys(KIND_OF.values(), 0.0)
    for typ, balance in ACCOUNTS.values():
        sign = -1 if typ in ("credit", "loan") else 1
        out[KIND_OF[typ]] += sign * float(balance(i))
    return out


def _wealth() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """alice's net_worth_daily and balances_daily rows, 1 Jan 2023 to 29 Feb 2024."""
    worth, balances = [], []
    for i in range(_i(TODAY) + 1):
        day = FIRST + timedelta(days=i)
        month = day.strftime("%Y-%m")
        for aid, (typ, balance) in ACCOUNTS.items():
            balances.append({"account_id": aid, "user_id": ALICE, "type": typ, "date": day,
                             "balance": balance(i).quantize(D("0.01")), "observed": True,
                             "month": month})
        assets = sum(b(i) for t, b in ACCOUNTS.values() if t in ("depository", "investment"))
        owed = sum(b(i) for t, b in ACCOUNTS.values() if t in ("credit", "loan"))
        worth.append({"user_id": ALICE, "date": day, "assets": D(assets).quantize(D("0.01")),
                      "liabilities": D(owed).quantize(D("0.01")),
                      "net_worth": D(assets - owed).quantize(D("0.01")), "accounts": 5,
                      "stale_accounts": 0, "month": month})
    return worth, balances


def content_lake(home: Path) -> Lake:
    lake = small_lake(home)
    gold = gold_rows(TODAY)  # bob's rows as the small lake has them
    write_table(lake, BUDGET_PROGRESS, BUDGETS + [r for r in gold[BUDGET_PROGRESS]
                                                  if r["user_id"] == BOB])
    write_table(lake, RECURRING_PAYMENTS, BILLS + gold[RECURRING_PAYMENTS])
    write_table(lake, TRANSACTIONS, transactions() + NAMES)
    worth, balances = _wealth()
    write_table(lake, NET_WORTH_DAILY, worth)
    write_table(lake, BALANCES_DAILY, balances)
    return lake


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("content_home")
    content_lake(home)
    return home


@pytest.fixture(scope="module")
def lake(home: Path) -> Lake:
    return Lake(str(home / "lake"))


# --- reading what the page shows ----------------------------------------------------------

def _net_worth_rows(at: Any) -> pd.DataFrame:
    [rows] = [r for s, r in _charts(at) if s.get("mark", {}).get("type") == "line"]
    return rows


def _money(text: str) -> float:
    return float(text.replace("$", "").replace(",", "").replace("+", ""))


def _ok(at: Any) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# --- a. budget totals and the month's pace -------------------------------------------------

@pytest.mark.parametrize(("month", "day", "gone"), [
    ("2024-02", date(2024, 2, 15), (15, 29)), ("2024-02", date(2024, 2, 29), (29, 29)),
    ("2023-02", date(2023, 2, 1), (1, 28)), ("2024-12", date(2024, 12, 31), (31, 31)),
    ("2024-03", date(2024, 2, 29), (0, 31)),  # not started
    ("2024-01", date(2024, 2, 10), (31, 31)),  # over: counted to its end
])
def test_days_gone_in_a_month(month: str, day: date, gone: tuple[int, int]) -> None:
    assert plans.month_days(month, day) == gone


def test_budget_totals_are_the_sum_of_the_budgets_and_pace_the_day(lake: Lake) -> None:
    progress = plans.budget_progress(lake, who(lake, ALICE), "2024-02")
    t = plans.budget_totals(progress)
    assert t is not None
    with_budget = progress[progress["state"] != "no_budget"]
    assert t.budgeted == with_budget["budget"].sum() == 1600.0
    assert t.spent == with_budget["spent"].sum() == 960.0
    assert t.left == 640.0 and t.unbudgeted == 80.0  # travel: spent without a budget
    assert (t.day, t.days) == (15, 29)  # spend counted up to 15 Feb
    assert t.elapsed == pytest.approx(15 / 29)
    assert t.expected == pytest.approx(1600 * 15 / 29)  # $827.59 by now at an even pace
    assert t.state == "ok" and t.pace == "ahead"  # 60% spent with 52% of the month gone


@pytest.mark.parametrize(("spent", "day", "pace", "state", "note"), [
    # a $700 budget: an even pace has spent $362.07 by the 15th (5% of $700 either side is on)
    ("400.00", 15, "ahead", "ok", "15 of 29 days gone (52%) · $37.93 ahead of pace"),
    ("350.00", 15, "on", "ok", "15 of 29 days gone (52%) · on pace"),
    ("200.00", 15, "under", "ok", "15 of 29 days gone (52%) · $162.07 under pace"),
    ("680.00", 29, "on", "approaching", "29 of 29 days gone (100%)"),  # the month is over
    ("900.00", 10, "over", "exceeded", "10 of 29 days gone (34%)"),
])
def test_the_pace_of_a_month(spent: str, day: int, pace: str, state: str, note: str) -> None:
    progress = pd.DataFrame({
        "month": ["2024-02"], "category_primary": ["FOOD_AND_DRINK"], "budget": [700.0],
        "spent": [float(spent)], "state": ["ok"], "as_of": [date(2024, 2, day)]})
    t = plans.budget_totals(progress)
    assert t is not None and (t.pace, t.state, t.day) == (pace, state, day)
    assert charts.pace_note(t) == note
    # the mark of an even pace sits at the share of the month gone, until the month is over
    assert charts.pace_mark(t) == (None if day == 29 else pytest.approx(day / 29))


def test_no_budget_no_totals() -> None:
    progress = pd.DataFrame({"month": ["2024-02"], "budget": [None], "spent": [5.0],
                             "state": ["no_budget"], "as_of": [date(2024, 2, 3)]})
    assert plans.budget_totals(progress) is None


def test_budgets_page_shows_totals_and_pace(home: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    at = _open(home, monkeypatch, "budgets", ALICE)
    _ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Budgeted": "$1,600.00", "Spent": "$960.00", "Left": "$640.00"}
    # the totals are those of the budgets listed below them
    listed = [m.value.split(": ", 1)[1].split(" (")[0] for m in at.markdown
              if m.value.startswith("**") and " of " in m.value]
    assert sorted(listed) == ["$150.00 of $400.00", "$190.00 of $200.00",
                              "$620.00 of $1,000.00"]
    assert sum(_money(x.split(" of ")[0]) for x in listed) == _money(metrics["Spent"])
    assert sum(_money(x.split(" of ")[1]) for x in listed) == _money(metrics["Budgeted"])
    [total] = _meters(at)
    assert total["amounts"] == "$960.00 of $1,600.00"
    assert total["note"] == ("$640.00 left · 15 of 29 days gone (52%) · $132.41 ahead of "
                             "pace")  # 960 - 1,600 x 15/29
    assert total["state"] == "ok" and total["colour"] == GREEN and total["filled"] == "60.00%"
    assert total["tick"] == "calc(51.72% - 1px)"  # 15/29 of the bar: an even pace
    assert f"color:{ORANGE}" in total["note_style"]  # ahead of pace: a warning colour
    captions = [c.value for c in at.caption]
    assert "To stay within your budgets: $45.71 a day for the 14 days left in Feb 2024." \
        in captions  # 640 / 14
    assert "Also $80.00 spent in categories without a budget." in captions
    # the chart marks the month's pace on the bars, coloured by status
    [(_, pace)] = [(s, r) for s, r in _charts(at) if s["mark"]["type"] == "rule"]
    assert list(pace["Month gone"]) == [pytest.approx(15 / 29)]
    [(_, bars)] = [(s, r) for s, r in _charts(at) if s["mark"]["type"] == "bar"]
    assert dict(zip(bars["Category"], bars["Status"], strict=True)) == {
        "Food & drink": "On track", "Shopping": "On track",
        "Transportation": "Approaching limit"}


def test_overview_budgets_are_status_coloured_meters_with_totals(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _overview(home, monkeypatch)
    assert not at.get("progress")  # no blue progress bars left
    assert "Budgets for Feb 2024" in [s.value for s in at.subheader]
    total, *each = _meters(at)
    assert (total["name"], total["amounts"]) == ("All budgets", "$960.00 of $1,600.00")
    assert total["note"] == ("$640.00 left · 15 of 29 days gone (52%) · $132.41 ahead of "
                             "pace")
    assert [(m["name"], m["amounts"], m["note"], m["state"], m["colour"]) for m in each] == [
        ("Food & drink", "$150.00 of $400.00", "On track · $250.00 left", "ok", GREEN),
        ("Shopping", "$620.00 of $1,000.00", "On track · $380.00 left", "ok", GREEN),
        ("Transportation", "$190.00 of $200.00", "Approaching limit · $10.00 left",
         "approaching", ORANGE)]
    assert {m["tick"] for m in [total, *each]} == {"calc(51.72% - 1px)"}
    assert sum(_money(m["amounts"].split(" of ")[1]) for m in each) == 1600.0


def test_an_over_budget_meter_is_red_and_full(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lake = content_lake(tmp_path)
    write_table(lake, BUDGET_PROGRESS, [
        _budget("FOOD_AND_DRINK", "400.00", "150.00", "history"),
        _budget("GENERAL_MERCHANDISE", "1000.00", "1334.56", "manual")])
    at = _overview(tmp_path, monkeypatch)
    total, food, shopping = _meters(at)
    assert (shopping["state"], shopping["colour"], shopping["filled"]) == (
        "exceeded", RED, "100.00%")
    assert shopping["note"] == "Over budget · $334.56 over"
    assert (total["state"], total["colour"]) == ("exceeded", RED)
    assert total["note"] == "$84.56 over · 15 of 29 days gone (52%)"
    assert food["colour"] == GREEN


# --- b. upcoming bills -----------------------------------------------------------------------

def test_upcoming_bills_are_the_next_two_weeks_soonest_first(lake: Lake) -> None:
    alice = who(lake, ALICE)
    due = plans.upcoming_bills(lake, alice, TODAY)
    days = [pd.Timestamp(d).date() for d in due["next_expected_date"]]
    assert list(zip(due["merchant"], days, due["amount"], strict=True)) == [
        (name, day, _money(amount)) for name, day, amount in DUE]
    assert all(TODAY <= d <= TODAY + timedelta(days=14) for d in days)
    assert days == sorted(days)
    # a shorter window, and another day
    assert list(plans.upcoming_bills(lake, alice, TODAY, days=3)["merchant"]) == [
        "newspaper", "Acme Insurance", "Spotify"]
    assert list(plans.upcoming_bills(lake, alice, date(2024, 3, 2))["merchant"]) == [
        "Spotify", "City Gym", "water"]
    bob = plans.upcoming_bills(lake, who(lake, BOB), TODAY)
    assert list(bob["merchant"]) == ["Landlord", "Netflix"]
    assert list(bob["amount"]) == [1500.0, 15.49]  # Netflix went up: its new price


def test_overview_lists_upcoming_bills(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _overview(home, monkeypatch)
    bills = _blocks(at, "fl-bill")
    shown = [(b["text"][0], b["attrs"]["data-due"], b["text"][-1]) for b in bills]
    assert shown == [(name, day.isoformat(), amount) for name, day, amount in DUE]
    assert [b["text"][1] for b in bills] == [
        "29 Feb 2024 · today", "01 Mar 2024 · tomorrow · price went up",
        "03 Mar 2024 · in 3 days", "14 Mar 2024 · in 14 days"]
    assert ("Expected in the 14 days after 29 Feb 2024, $706.99 in all; the Recurring page "
            "lists every one.") in [c.value for c in at.caption]
    bodies = " ".join(h.proto.body for h in at.get("html"))
    for absent in ("water", "phone", "Landlord", "Netflix", "$1,500.00"):  # late, past, bob's
        assert absent not in bodies, absent
    subheaders = [s.value for s in at.subheader]
    assert subheaders.index("Upcoming bills") < subheaders.index("Alerts")


def test_no_upcoming_bills_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = content_lake(tmp_path)
    write_table(lake, RECURRING_PAYMENTS, [b for b in BILLS if b["merchant_key"] == "water"])
    at = _overview(tmp_path, monkeypatch)
    assert not _blocks(at, "fl-bill")
    assert "No bills expected in the 14 days after 29 Feb 2024." in [
        m.value for m in at.markdown]


def test_names_people_and_partners_chose_are_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    bills = pd.DataFrame({"merchant": [evil], "next_expected_date": [TODAY],
                          "amount": [1.0], "price_increase": [False]})
    html = charts.upcoming_bills(bills, TODAY)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    meter = charts.meter(evil, 1.0, 2.0, "ok", "note")
    assert "<img" not in meter and "&lt;img" in meter


# --- c. net worth by kind of account, over 1M / YTD / 1Y -----------------------------------

SOME_DAYS = [date(2023, 1, 1), date(2023, 2, 28), date(2023, 7, 14), date(2023, 12, 31),
             date(2024, 1, 1), date(2024, 1, 29), date(2024, 2, 28), TODAY]


def test_net_worth_by_kind_of_account_adds_up_to_net_worth(lake: Lake) -> None:
    alice = who(lake, ALICE)
    nw = money.net_worth(lake, alice).set_index("date")
    assert nw.index.min() == pd.Timestamp("2023-02-01")  # 13 months: a year back and more
    kinds = money.net_worth_by_kind(lake, alice, SOME_DAYS)
    assert [d.date() for d in kinds["date"]] == SOME_DAYS
    columns = [c for c, _ in money.ACCOUNT_KINDS]
    for row in kinds.itertuples():
        day = row.date.date()
        assert {c: getattr(row, c) for c in columns} == pytest.approx(_kinds(_i(day)))
        if row.date in nw.index:  # the kinds add up to the day's net worth
            assert sum(getattr(row, c) for c in columns) == pytest.approx(
                nw.loc[row.date, "net_worth"])
    assert (kinds["credit_cards"] < 0).all() and (kinds["loans"] < 0).all()  # owed
    # bob has no balances; nobody's days read anybody else's
    assert money.net_worth_by_kind(lake, who(lake, BOB), SOME_DAYS).empty
    assert money.net_worth_by_kind(lake, alice).empty  # no days asked for


def test_small_lakes_breakdown_matches_its_net_worth(tmp_path: Path) -> None:
    lake = small_lake(tmp_path)
    alice = who(lake, ALICE)
    nw = money.net_worth(lake, alice)
    kinds = money.net_worth_by_kind(lake, alice, list(nw["date"].iloc[::9]))
    assert len(kinds) == 7
    merged = kinds.merge(nw, on="date")
    assert ((merged["cash"] + merged["credit_cards"]).round(2) == merged["net_worth"]).all()
    assert kinds["investments"].isna().all() and kinds["loans"].isna().all()  # she has none


def _expected_kinds(first: date) -> list[tuple[str, str, str, str]]:
    """(data-kind, name, balance on 29 Feb, change since ``first``) as the page shows them."""
    now, then = _kinds(_i(TODAY)), _kinds(_i(first))
    names = dict(money.ACCOUNT_KINDS)
    rows = [(k, names[k], now[k], now[k] - then[k]) for k in names]
    rows.append(("net_worth", "Net worth", sum(now.values()),
                 sum(now.values()) - sum(then.values())))

    def fmt(v: float, signed: bool = False) -> str:
        text = f"${abs(v):,.2f}"
        return ("-" + text if v < 0 else ("+" + text if signed and v > 0 else text))
    return [(k, n, fmt(v), fmt(c, signed=True)) for k, n, v, c in rows]


@pytest.mark.parametrize(("span", "first", "days"), [
    ("1M", date(2024, 1, 29), 32), ("YTD", date(2024, 1, 1), 60),
    ("1Y", date(2023, 2, 28), 367),
])
def test_overview_net_worth_over_a_range_by_kind(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                 span: str, first: date, days: int) -> None:
    at = _overview(home, monkeypatch)
    [ranges] = at.segmented_control
    assert list(ranges.options) == ["1M", "YTD", "1Y"] and ranges.value == "1Y"
    if span != "1Y":
        ranges.set_value(span).run()
        _ok(at)
    rows = _net_worth_rows(at)
    assert len(rows) == days
    assert pd.Timestamp(rows["date"].min()).date() == first
    assert pd.Timestamp(rows["date"].max()).date() == TODAY
    worth = rows.set_index(pd.to_datetime(rows["date"]).dt.date)["Net worth"]
    [table] = _blocks(at, "fl-kinds")
    assert table["text"][:3] == ["Account type", "29 Feb 2024",
                                 f"Since {first.strftime('%d %b %Y')}"]
    shown = [(kind, *text) for kind, text in _kind_rows(at)]
    assert shown == _expected_kinds(first)
    assert sum(_money(r[2]) for r in shown[:-1]) == pytest.approx(_money(shown[-1][2]))
    # the table's net worth and its change are the chart's, first and last day
    assert _money(shown[-1][2]) == pytest.approx(worth[TODAY])
    assert _money(shown[-1][3]) == pytest.approx(worth[TODAY] - worth[first])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Net worth"] == shown[-1][2]


def _kind_rows(at: Any) -> list[tuple[str, list[str]]]:
    """(data-kind, [name, balance, change]) of each row of the breakdown."""
    [table] = _blocks(at, "fl-kinds")
    rows = [attrs["data-kind"] for attrs in table["inner"] if "data-kind" in attrs]
    texts = table["text"][3:]
    return [(kind, texts[3 * i:3 * i + 3]) for i, kind in enumerate(rows)]


def _overview(home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    at = _open(home, monkeypatch, "overview", ALICE)
    _ok(at)
    return at
