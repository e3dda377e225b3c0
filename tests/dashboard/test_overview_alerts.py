"""Issue 25, defect 1: the Overview's alerts.

The Overview showed last month's "over budget" as this month's (next to this month's budget
on track), kept a superseded "close to budget" beside the "over" of the same budget, and an
alert could be neither opened nor dismissed. These tests build a small lake with budgets and
alerts in two months (January closed, February current) and check, through the page (AppTest,
signed in through the form) and the data functions, that:

* only this month's alerts are shown as this month's; older ones are in an "Earlier alerts"
  group, labelled with their month (also an old row whose text says "this month's budget");
* for one budget (person, category, month) only the most severe alert shows;
* an alert opens on the budget and the category's transactions of its month;
* a dismissal is stored per person and alert, survives a reload and a nightly re-raising the
  same alerts, never reaches another person's alert, and is forgotten with the person.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import actions, auth, ui
from dashboard.data import money, queries
from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import ALERT_DISMISSALS, ALERTS, AUDIT_LOG, BUDGET_PROGRESS
from pipelines.gold.budgets import budget_alerts
from pipelines.health.institutions import alert_key
from tests.support.lake_fixtures import (
    ALICE,
    ANALYST,
    BOB,
    LOGIN_PASSWORDS,
    small_lake,
    write_table,
)
from tests.support.page_html import meters

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TIMEOUT = 60
CODE = re.compile(r"\b[A-Z]{3,}(?:_[A-Z]+)+\b")  # a taxonomy code such as FOOD_AND_DRINK
LAST, CURRENT = "2024-01", "2024-02"  # the small lake's newest month is February 2024
D = Decimal


def _progress(user: str, month: str, prim: str, budget: str, spent: str, source: str,
              as_of: date) -> dict[str, Any]:
    share = float(D(spent) / D(budget))
    state = "exceeded" if share >= 1 else "approaching" if share >= 0.8 else "ok"
    return {"user_id": user, "month": month, "category_primary": prim, "budget": D(budget),
            "budget_source": source, "spent": D(spent), "share": share, "state": state,
            "as_of": as_of}


JAN_FOOD = _progress(ALICE, LAST, "FOOD_AND_DRINK", "80.00", "82.40", "history",
                     date(2024, 1, 31))
FEB_FOOD = _progress(ALICE, CURRENT, "FOOD_AND_DRINK", "100.00", "4.75", "history",
                     date(2024, 2, 29))
FEB_SHOP_CLOSE = _progress(ALICE, CURRENT, "GENERAL_MERCHANDISE", "1000.00", "850.00",
                           "manual", date(2024, 2, 5))
FEB_SHOP = _progress(ALICE, CURRENT, "GENERAL_MERCHANDISE", "1000.00", "1234.56", "manual",
                     date(2024, 2, 29))
BOB_RENT = _progress(BOB, CURRENT, "RENT_AND_UTILITIES", "1600.00", "1500.00", "template",
                     date(2024, 2, 29))

# January's alert as an earlier release stored it ("this month's budget" in its text).
JAN_KEY = alert_key("budget", ALICE, "FOOD_AND_DRINK", LAST, "exceeded_100")
JAN_ALERT = {"alert_key": JAN_KEY, "kind": "budget_exceeded", "user_id": ALICE,
             "subject": "FOOD_AND_DRINK",
             "detail": "Food & drink: spent $82.40 of $80.00 (103%), over this month's budget",
             "period": LAST, "created_at": datetime(2024, 1, 28, 2, tzinfo=UTC),
             "sent_at": None, "sent_to": None}


def _raised(row: dict[str, Any], day: int) -> dict[str, Any]:
    """The alert the nightly raises for a budget_progress row (pipelines/gold/budgets.py)."""
    [alert] = budget_alerts([row], 0.8, datetime(2024, 2, day, 2, tzinfo=UTC))
    return alert


CLOSE = _raised(FEB_SHOP_CLOSE, 5)  # "close to" on the 5th ...
OVER = _raised(FEB_SHOP, 10)  # ... then "over" for the same budget on the 10th
BOB_CLOSE = _raised(BOB_RENT, 12)


def alerts_lake(home: Path) -> Lake:
    """The small lake with budgets in January and February, and alerts in both."""
    lake = small_lake(home)
    write_table(lake, BUDGET_PROGRESS, [JAN_FOOD, FEB_FOOD, FEB_SHOP, BOB_RENT])
    write_table(lake, ALERTS, [JAN_ALERT, CLOSE, OVER, BOB_CLOSE])
    return lake


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("alerts_home")
    alerts_lake(home)
    return home


@pytest.fixture
def writable_home(tmp_path: Path) -> Path:
    alerts_lake(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read sees the lake's newest version (a write made here shows at once, so a test
    cannot pass on a cached result); sign-ins are unthrottled by conftest's fixture."""
    monkeypatch.setattr(queries, "RECHECK_SECONDS", 0.0)


def _who(lake: Lake, login: str) -> auth.Principal:
    principal = auth.verify(lake, login, LOGIN_PASSWORDS[login])
    assert principal is not None
    return principal


def _overview(home: Path, monkeypatch: pytest.MonkeyPatch, login: str = ALICE) -> AppTest:
    """The app signed in as ``login`` through the form, showing the Overview."""
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.text_input(key="sign_in_login").input(login)
    at.text_input(key="sign_in_password").input(LOGIN_PASSWORDS[login])
    next(b for b in at.button if b.label == "Sign in").click().run()
    _ok(at)
    assert [t.value for t in at.title] == ["Overview"]
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _lines(at: AppTest) -> list[str]:
    """The alert and unusual-activity lines, in page order (markdown list items)."""
    return [m.value for m in at.markdown if m.value.startswith("- ")]


def _shown(at: AppTest) -> list[str]:
    out = [str(el.value) for kind in ("subheader", "markdown", "caption", "info", "success",
                                      "warning", "error") for el in getattr(at, kind)]
    out += [p.proto.text for p in at.get("progress")]
    for df in at.dataframe:
        out += [str(v) for v in df.value.astype(str).to_numpy().ravel()]
    return out


def _descriptions(at: AppTest) -> list[str]:
    return [d for df in at.dataframe if "Description" in df.value.columns
            for d in df.value["Description"]]


# --- the page -------------------------------------------------------------------------------

def test_overview_shows_this_months_alerts_as_this_months_and_earlier_ones_by_month(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _overview(home, monkeypatch)
    lines = _lines(at)
    # February: the Shopping budget is over; January's Food & drink alert is not February's
    assert lines[0].startswith(r"- **Over budget** — Shopping: spent \$1,234.56 of \$1,000.00")
    assert lines[1].startswith(r"- **Unusual amount** — \$1,234.56 at Amazon")
    subheaders = [s.value for s in at.subheader]
    assert subheaders[-2:] == ["Alerts", "Earlier alerts"]
    # last month's alert: labelled with its month, in the earlier group, never "this month's"
    assert lines[2:] == [r"- **Jan 2024: Over budget** — Food & drink: spent \$82.40 of "
                         r"\$80.00 (103%), over the Jan 2024 budget "
                         "<span style='color:gray'>(28 Jan 2024)</span>"]
    # "over" superseded "close to" for the same budget: one line, not two
    assert not [line for line in lines if "Close to budget" in line]
    # what the alerts say agrees with the budgets shown beside them
    assert [(m["name"], m["amounts"], m["note"]) for m in meters(at)] == [
        ("All budgets", "$1,239.31 of $1,100.00", "$139.31 over · 29 of 29 days gone (100%)"),
        ("Food & drink", "$4.75 of $100.00", "On track · $95.25 left"),
        ("Shopping", "$1,234.56 of $1,000.00", "Over budget · $234.56 over")]
    assert not [t for t in _shown(at) if CODE.search(t)], "raw category codes on screen"


def test_an_alert_opens_on_its_budget_and_its_months_transactions(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _overview(home, monkeypatch)
    assert not at.dataframe  # nothing open yet
    at.button(key=f"alert_open_{OVER['alert_key']}").click().run()
    _ok(at)
    shown = _shown(at)
    assert _opened(at) == ("Shopping in Feb 2024", "$1,234.56 of $1,000.00",
                           "Over budget · $234.56 over")
    assert _descriptions(at) == ["AMAZON"]  # February's Shopping, not January's groceries
    assert not [t for t in shown if CODE.search(t)], "raw category codes on screen"

    at.button(key=f"alert_open_{JAN_KEY}").click().run()  # one open at a time
    _ok(at)
    assert _opened(at) == ("Food & drink in Jan 2024", "$82.40 of $80.00",
                           "Over budget · $2.40 over")
    assert _descriptions(at) == ["WHOLE FOODS"]
    at.button(key=f"alert_open_{JAN_KEY}").click().run()  # and closed again
    _ok(at)
    assert not at.dataframe


def test_dismissing_an_alert_lasts_across_reloads_and_nightly_runs(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    at = _overview(writable_home, monkeypatch)
    at.button(key=f"alert_dismiss_{OVER['alert_key']}").click().run()
    _ok(at)
    assert [s.value for s in at.success] == ["Alert dismissed."]
    lines = _lines(at)
    assert not [line for line in lines if "Shopping" in line and "budget" in line]
    assert not [line for line in lines if "Close to budget" in line]  # superseded stays hidden
    assert len(lines) == 2  # the unusual payment and January's alert

    [stored] = read_rows(lake, ALERT_DISMISSALS)
    assert (stored["user_id"], stored["alert_key"]) == (ALICE, OVER["alert_key"])
    [event] = [r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "dismiss_alert"]
    assert json.loads(event["detail"]) == {"kind": "budget_exceeded"}  # no ids, no text

    # the nightly raises the same budget states again: same keys, nothing new to show
    upsert_rows(lake, ALERTS, [_raised(FEB_SHOP_CLOSE, 20), _raised(FEB_SHOP, 20)],
                update=False)
    reloaded = _overview(writable_home, monkeypatch)
    assert _lines(reloaded) == lines
    # bob's alerts are his own: alice's dismissal hides nothing of his
    bob = _overview(writable_home, monkeypatch, BOB)
    assert [line for line in _lines(bob) if "Close to budget" in line] == [
        r"- **Close to budget** — Rent & utilities: spent \$1,500.00 of \$1,600.00 (94%), "
        "close to the Feb 2024 budget <span style='color:gray'>(12 Feb 2024)</span>"]


def test_an_alert_whose_budget_was_deleted_still_opens_and_dismisses(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    actions.clear_budget(lake, _who(lake, ALICE), "GENERAL_MERCHANDISE")
    gone = {**OVER, "alert_key": "gone-category", "subject": "NO_LONGER_A_CATEGORY",
            "detail": "Old: spent $5.00 of $1.00 (500%), over the Feb 2024 budget"}
    upsert_rows(lake, ALERTS, [gone])
    at = _overview(writable_home, monkeypatch)
    at.button(key=f"alert_open_{OVER['alert_key']}").click().run()
    _ok(at)
    assert r"You have no budget for Shopping now; \$1,234.56 spent in Feb 2024." in _shown(at)
    assert _descriptions(at) == ["AMAZON"]
    at.button(key="alert_open_gone-category").click().run()
    _ok(at)
    shown = _shown(at)
    assert not [t for t in shown if CODE.search(t)], "raw category codes on screen"
    assert any(t.startswith("You have no budget for ") for t in shown)
    assert _descriptions(at) == []
    at.button(key="alert_dismiss_gone-category").click().run()
    _ok(at)
    assert not [line for line in _lines(at) if "Old:" in line]


# --- the data functions -----------------------------------------------------------------------

def test_alerts_are_the_current_months_then_earlier_one_per_budget(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    df = money.alerts(lake, _who(lake, ALICE))
    assert list(zip(df["alert_key"], df["month"], df["current"], strict=True)) == [
        (OVER["alert_key"], CURRENT, True), (JAN_KEY, LAST, False)]
    bob = money.alerts(lake, _who(lake, BOB))
    assert list(bob["alert_key"]) == [BOB_CLOSE["alert_key"]]
    # asked about January, January's alert is that month's and nothing is "earlier" than it
    jan = money.alerts(lake, _who(lake, ALICE), month=LAST)
    assert dict(zip(jan["alert_key"], jan["current"], strict=True)) == {
        OVER["alert_key"]: True, JAN_KEY: True}


def test_over_supersedes_close_to_whichever_came_first(tmp_path: Path) -> None:
    lake = alerts_lake(tmp_path)
    alice = _who(lake, ALICE)
    # the budget was raised after the "over": a later "close to" for the same month
    later_close = {**CLOSE, "created_at": datetime(2024, 2, 25, tzinfo=UTC)}
    write_table(lake, ALERTS, [JAN_ALERT, later_close, OVER, BOB_CLOSE])
    assert list(money.alerts(lake, alice)["alert_key"]) == [OVER["alert_key"], JAN_KEY]
    # January's over and February's close to the same category are two budgets: both show
    feb_food = _raised(_progress(ALICE, CURRENT, "FOOD_AND_DRINK", "100.00", "90.00",
                                 "history", date(2024, 2, 20)), 20)
    upsert_rows(lake, ALERTS, [feb_food])
    assert list(money.alerts(lake, alice)["alert_key"]) == [
        feb_food["alert_key"], OVER["alert_key"], JAN_KEY]
    assert list(money.alerts(lake, alice, limit=1)["alert_key"]) == [feb_food["alert_key"]]


def test_dismissing_the_over_does_not_bring_back_the_close_to(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    alice = _who(lake, ALICE)
    actions.dismiss_alert(lake, alice, OVER["alert_key"])
    actions.dismiss_alert(lake, alice, OVER["alert_key"])  # twice: one row
    assert list(money.alerts(lake, alice)["alert_key"]) == [JAN_KEY]
    actions.dismiss_alert(lake, alice, CLOSE["alert_key"])  # a superseded one of hers: fine
    assert sorted(r["alert_key"] for r in read_rows(lake, ALERT_DISMISSALS)) == sorted(
        [OVER["alert_key"], CLOSE["alert_key"]])


def test_nobody_dismisses_another_persons_alert(writable_home: Path) -> None:
    lake = Lake(str(writable_home / "lake"))
    alice, bob, analyst = _who(lake, ALICE), _who(lake, BOB), _who(lake, ANALYST)
    for key in (BOB_CLOSE["alert_key"], "no-such-alert", "", "' OR 1=1 --"):
        with pytest.raises(actions.ActionError, match="not one of yours"):
            actions.dismiss_alert(lake, alice, key)
    with pytest.raises(PermissionError):
        actions.dismiss_alert(lake, analyst, BOB_CLOSE["alert_key"])
    for bad in (ALICE, None, {"user_id": ALICE}):
        with pytest.raises(TypeError):
            actions.dismiss_alert(lake, bad, OVER["alert_key"])
    assert not lake.exists(ALERT_DISMISSALS)
    assert list(money.alerts(lake, bob)["alert_key"]) == [BOB_CLOSE["alert_key"]]
    assert money.alert_kind(lake, alice, BOB_CLOSE["alert_key"]) is None
    assert money.alert_kind(lake, bob, BOB_CLOSE["alert_key"]) == "budget_approaching"
    # a dismissal row of alice's naming bob's alert (written past the action) hides nothing
    upsert_rows(lake, ALERT_DISMISSALS, [{"user_id": ALICE, "alert_key": BOB_CLOSE["alert_key"],
                                          "dismissed_at": datetime.now(UTC)}])
    assert list(money.alerts(lake, bob)["alert_key"]) == [BOB_CLOSE["alert_key"]]


def test_dismissals_are_a_registered_per_user_table_that_forget_user_empties(
        writable_home: Path) -> None:
    from lake.duck import analyst_tables
    from lake.forget import forget, user_tables, verify
    from lake.tables import REGISTRY

    assert REGISTRY["alert_dismissals"] is ALERT_DISMISSALS
    assert ALERT_DISMISSALS in user_tables()
    assert ALERT_DISMISSALS in analyst_tables()  # user_id pseudonymised like every table's
    lake = Lake(str(writable_home / "lake"))
    actions.dismiss_alert(lake, _who(lake, ALICE), OVER["alert_key"])
    actions.dismiss_alert(lake, _who(lake, BOB), BOB_CLOSE["alert_key"])
    deletion = forget(lake, ALICE, revoke=None, say=lambda _line: None)
    assert deletion.tables["alert_dismissals"]["rows_deleted"] == 1
    assert [r["user_id"] for r in read_rows(lake, ALERT_DISMISSALS)] == [BOB]
    assert verify(lake, deletion.identifiers).clean


def test_a_budget_alert_names_its_month() -> None:
    """What the nightly stores (and sends) stays true after the month ends."""
    assert OVER["detail"] == ("Shopping: spent $1,234.56 of $1,000.00 (123%), over the "
                              "Feb 2024 budget")
    assert CLOSE["detail"].endswith("close to the Feb 2024 budget")
    assert ui.month_label(OVER["period"]) == "Feb 2024"


def _opened(at: Any) -> tuple[str, str, str]:
    """The meter of the budget an opened alert is about (one; named with its month)."""
    [opened] = [(m["name"], m["amounts"], m["note"]) for m in meters(at) if " in " in m["name"]]
    return opened
