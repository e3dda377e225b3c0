"""The dashboard's charts as the browser gets them (their Vega-Lite specs): one colour per
category in every chart, legends that show every entry, budget bars coloured by status, a
net-worth chart that shows its changes, and money owed shown as owed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard.data import money
from lake.lake import Lake
from tests.dashboard.test_dashboard import _open, _texts, who
from tests.support.lake_fixtures import ALICE, BOB
from tests.support.page_html import chart_layers as _specs


def _mark(spec: dict[str, Any]) -> str:
    mark = spec["mark"]
    return mark if isinstance(mark, str) else mark["type"]


def _colours(spec: dict[str, Any]) -> dict[str, str]:
    """The colour each value of the chart's colour field is drawn in (its explicit scale)."""
    scale = spec["encoding"]["color"]["scale"]
    return dict(zip(scale["domain"], scale["range"], strict=True))


def _by_category(at: Any) -> list[dict[str, Any]]:
    return [s for s, _ in _specs(at)
            if s.get("encoding", {}).get("color", {}).get("field") == "Category"]


# --- a. one colour per category ------------------------------------------------------------------

def test_a_category_has_the_same_colour_in_every_chart(home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "spending", ALICE)
    drawn = _by_category(at)
    assert sorted(_mark(s) for s in drawn) == ["arc", "bar"]  # per month, and the donut
    bars, donut = sorted(drawn, key=_mark, reverse=True)
    assert _colours(bars) == _colours(donut)
    from dashboard import charts

    food, shopping = (charts.CATEGORY_COLORS["FOOD_AND_DRINK"],
                      charts.CATEGORY_COLORS["GENERAL_MERCHANDISE"])
    assert _colours(bars) == {"Food & drink": food, "Shopping": shopping}
    # January has food only: the donut keeps food's colour rather than the palette's first
    at.selectbox(key="spending_month").set_value("2024-01").run()
    [donut] = [s for s in _by_category(at) if _mark(s) == "arc"]
    assert _colours(donut) == {"Food & drink": food}


def test_the_palette_gives_every_primary_its_own_colour() -> None:
    from dashboard import charts
    from pipelines.categories.reference import categories

    primaries = {c["category_primary"] for c in categories()}
    assert primaries <= set(charts.CATEGORY_COLORS)
    shown = [charts.CATEGORY_COLORS[p] for p in primaries]
    assert len(set(shown)) == len(shown)
    assert charts.OTHER_COLOR not in shown
    # the same category keeps its colour whatever else is drawn next to it
    one = charts.category_scale([("FOOD_AND_DRINK", "Food & drink")])
    two = charts.category_scale([("TRAVEL", "Travel"), ("FOOD_AND_DRINK", "Food & drink")])
    assert one.range[0] == two.range[1] == charts.CATEGORY_COLORS["FOOD_AND_DRINK"]


# --- b. the bar chart's legend -------------------------------------------------------------------

def test_the_bar_legend_wraps_into_columns_and_shows_every_entry(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "spending", ALICE)
    [bars] = [s for s in _by_category(at) if _mark(s) == "bar"]
    legend = bars["encoding"]["color"]["legend"]
    assert legend["orient"] == "bottom"
    assert legend["columns"] >= 2  # wraps instead of running off the chart's right edge
    assert legend["symbolLimit"] == 0 and legend["labelLimit"] == 0  # nothing truncated


def test_many_categories_show_the_largest_and_other() -> None:
    from dashboard import charts
    from pipelines.categories.reference import categories

    primaries = sorted({c["category_primary"] for c in categories()})
    df = pd.DataFrame({"Month": "Jan 2024", "category_primary": primaries,
                       "Category": primaries, "Spend": [float(i + 1) for i in
                                                        range(len(primaries))]})
    spec = charts.category_bars(df, "Month", "Spend", ["Jan 2024"]).to_dict()
    domain = spec["encoding"]["color"]["scale"]["domain"]
    assert len(domain) == charts.TOP_CATEGORIES + 1 and domain[-1] == "Other"
    assert domain[0] == primaries[-1]  # the largest first
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert data["Spend"].sum() == df["Spend"].sum()  # "Other" holds the rest


# --- c. budget bars by status --------------------------------------------------------------------

def test_budget_bars_are_coloured_by_status(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "budgets", ALICE)
    [(spec, rows)] = [(s, r) for s, r in _specs(at) if _mark(s) == "bar"]
    assert spec["encoding"]["color"]["field"] == "Status"
    colours = _colours(spec)
    assert colours["Over budget"] != colours["On track"]
    assert {colours["On track"], colours["Approaching limit"], colours["Over budget"]} == {
        "#2e7d32", "#ef6c00", "#c62828"}
    status = dict(zip(rows["Category"], rows["Status"], strict=True))
    assert status == {"Shopping": "Over budget", "Food & drink": "On track"}
    bob = _open(home, monkeypatch, "budgets", BOB)
    [(_, rows)] = [(s, r) for s, r in _specs(bob) if _mark(s) == "bar"]
    assert dict(zip(rows["Category"], rows["Status"], strict=True)) == {
        "Rent & utilities": "Approaching limit"}


# --- d. the net-worth chart ----------------------------------------------------------------------

def test_net_worth_chart_scales_to_its_values_and_labels_each_date_once(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "overview", ALICE)
    [spec] = [s for s, _ in _specs(at) if _mark(s) == "line"]
    y, x = spec["encoding"]["y"], spec["encoding"]["x"]
    assert y["scale"]["zero"] is False and y["scale"]["nice"] is True
    assert x["type"] == "temporal"
    # 60 days: a label a week, each a different day ("%d %b"), never two in one day
    assert x["axis"]["format"] == "%d %b"
    assert x["axis"]["tickCount"] == {"interval": "week", "step": 1}


@pytest.mark.parametrize(("days", "fmt", "interval"),
                         [(6, "%d %b", "day"), (60, "%d %b", "week"),
                          (400, "%b %Y", "month")])
def test_the_date_axis_ticks_never_finer_than_its_labels(days: int, fmt: str,
                                                         interval: str) -> None:
    from dashboard import charts

    dates = pd.date_range("2024-01-01", periods=days + 1, freq="D")
    nw = pd.DataFrame({"date": dates, "assets": 100.0, "liabilities": 10.0,
                       "net_worth": 90.0})
    axis = charts.net_worth_chart(nw).to_dict()["encoding"]["x"]["axis"]
    assert (axis["format"], axis["tickCount"]["interval"]) == (fmt, interval)


# --- f. money owed -------------------------------------------------------------------------------

def test_overview_shows_card_and_loan_balances_as_owed(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(home, monkeypatch, "overview", ALICE)
    shown = _texts(at)
    # 29 Feb: assets 15,000 + 59 x 20; the card's 1,250 is owed; net worth the difference
    assert ("As of 29 Feb 2024: assets $16,180.00 · owed -$1,250.00 (credit cards and "
            "loans) · net worth $14,930.00") in shown
    [(_, rows)] = [(s, r) for s, r in _specs(at) if _mark(s) == "line"]
    assert (rows["Owed"] < 0).all() and (rows["Owed"] == -1250.0).all()
    assert ((rows["Assets"] + rows["Owed"]).round(2) == rows["Net worth"]).all()


def test_account_balances_of_cards_and_loans_read_as_owed(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    alice = money.accounts(lake, who(lake, ALICE)).set_index("account_id")
    assert alice.loc["alice-card", "balance_shown"] == -1250.0  # a credit card: owed
    assert alice.loc["alice-checking", "balance_shown"] == 5230.10
    assert list(alice.loc[["alice-card", "alice-checking"], "owed"]) == [True, False]
    bob = money.accounts(lake, who(lake, BOB)).set_index("account_id")
    assert bob.loc["bob-loan", "balance_shown"] == -8400.0
    assert bob.loc["bob-loan", "balance_current"] == 8400.0  # the bank's figure, unchanged


def test_budget_bars_mark_the_months_pace_and_their_legend_fits_a_phone() -> None:
    from dashboard import charts

    progress = pd.DataFrame({"category_name": ["Food & drink", "Shopping"],
                             "state": ["ok", "exceeded"], "share": [0.4, 1.2],
                             "spent": [40.0, 120.0], "budget": [100.0, 100.0]})
    spec = charts.budget_bars(progress, 15 / 29).to_dict()
    bars, rule = spec["layer"]
    assert bars["mark"]["type"] == "bar" and rule["mark"]["type"] == "rule"
    [pace] = spec["datasets"][rule["data"]["name"]]
    assert pace == {"Month gone": pytest.approx(15 / 29)}  # where an even pace would be
    # three statuses in two columns: one row of three ran off a 390 px screen
    assert bars["encoding"]["color"]["legend"]["columns"] == 2
    assert len(charts.budget_bars(progress).to_dict()["layer"]) == 1  # a month gone: no mark
