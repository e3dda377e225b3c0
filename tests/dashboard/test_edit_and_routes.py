"""Issue 25, defects 4 and 5: recategorising on the Transactions page starts from no category
(one careless click must not write one), and every page answers at its own address (``/`` is
the overview, and so is ``/overview``)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.commands import navigation as st_navigation
from streamlit.testing.v1 import AppTest, local_script_runner

from dashboard import actions, auth, ui
from dashboard.data import txns
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, CATEGORY_OVERRIDES, TRANSACTION_OVERRIDES
from tests.dashboard.test_dashboard import APP, TIMEOUT, _button, _open, _sign_in, who
from tests.support.lake_fixtures import ALICE, ANALYST, BOB

USER_URLS = ["overview", "spending", "budgets", "transactions", "recurring", "accounts",
             "rules"]
TITLES = {"": "Overview", "overview": "Overview", "spending": "Spending",
          "budgets": "Budgets", "transactions": "Transactions",
          "recurring": "Recurring payments", "accounts": "Accounts & sync",
          "analytics": "Analytics", "rules": "Rules"}
PLACEHOLDER = "Choose a category…"
SET_ONE = "Set for this transaction"
NOTHING_CHOSEN = "Choose a new category first: nothing was changed."


# --- defect 5: every page at its own address ---------------------------------------------------

@pytest.fixture
def navigations(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """The pages of every ``st.navigation`` the app builds, in order."""
    seen: list[list[Any]] = []
    real = st.navigation

    def spy(pages: list[Any], **kwargs: Any) -> Any:
        seen.append(list(pages))
        return real(pages, **kwargs)

    monkeypatch.setattr(st, "navigation", spy)
    return seen


def _addresses(pages: list[Any]) -> dict[str, Any]:
    """URL path -> page, as Streamlit serves them (``Page.url_path``, "" for the root)."""
    by_url: dict[str, Any] = {}
    for page in pages:
        assert page.url_path not in by_url, f"two pages at /{page.url_path}"
        by_url[page.url_path] = page
    return by_url


def _env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)


def _at_address(home: Path, monkeypatch: pytest.MonkeyPatch, url: str,
                signed_in: str | None = None) -> tuple[AppTest, list[str]]:
    """The app as a browser first opens ``/url``: the page is named by the address (no page
    hash yet). Also the list that records each "Page not found" Streamlit sends."""
    _env(home, monkeypatch)
    monkeypatch.setattr(local_script_runner, "RerunData",
                        functools.partial(local_script_runner.RerunData, page_name=url))
    not_found: list[str] = []
    real = st_navigation.send_page_not_found

    def spy(ctx: Any) -> None:
        not_found.append(url)
        real(ctx)

    monkeypatch.setattr(st_navigation, "send_page_not_found", spy)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if signed_in is not None:  # a session that signed in earlier
        at.session_state[ui.PRINCIPAL_KEY] = who(Lake(str(home / "lake")), signed_in)
    return at.run(), not_found


def test_every_page_has_its_own_url_and_the_root_is_the_home_page(
        home: Path, monkeypatch: pytest.MonkeyPatch, navigations: list[list[Any]]) -> None:
    _env(home, monkeypatch)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    before = _addresses(navigations[-1])  # the sign-in form, under every address
    assert sorted(before) == sorted(["", *USER_URLS, "analytics"])
    assert {p.title for p in before.values()} == {"Sign in"}

    _sign_in(at, ALICE)
    assert [t.value for t in at.title] == ["Overview"]  # "/" is the overview
    pages = _addresses(navigations[-1])
    assert sorted(pages) == sorted(["", *USER_URLS])
    assert [p.title for u, p in pages.items() if u] == [
        "Overview", "Spending", "Budgets", "Transactions", "Recurring", "Accounts & sync",
        "Rules"]
    assert pages[""].visibility == "hidden"  # the menu lists each page once
    assert all(p.visibility == "visible" for u, p in pages.items() if u)
    for url in USER_URLS[1:]:
        at.switch_page(f"views/{url}.py").run()
        assert [t.value for t in at.title] == [TITLES[url]]

    analyst = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    _sign_in(analyst, ANALYST)
    assert sorted(_addresses(navigations[-1])) == ["", "analytics"]
    assert [t.value for t in analyst.title] == ["Analytics"]


@pytest.mark.parametrize("url", ["", *USER_URLS])
def test_a_signed_in_person_opens_each_page_by_its_address(
        home: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    at, not_found = _at_address(home, monkeypatch, url, signed_in=ALICE)
    assert not at.exception, [e.message for e in at.exception]
    assert not_found == [], f"/{url} is 'Page not found'"
    assert [t.value for t in at.title] == [TITLES[url]]


def test_a_bookmarked_page_asks_for_sign_in_then_shows_that_page(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at, not_found = _at_address(home, monkeypatch, "overview")
    assert [t.value for t in at.title] == ["Sign in to finlake"]
    _sign_in(at, ALICE)
    assert not_found == [], "/overview is 'Page not found'"
    assert [t.value for t in at.title] == ["Overview"]


def test_an_analyst_at_a_persons_address_gets_the_analytics_page(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at, _ = _at_address(home, monkeypatch, "overview", signed_in=ANALYST)
    assert not at.exception, [e.message for e in at.exception]
    assert [t.value for t in at.title] == ["Analytics"]
    at, not_found = _at_address(home, monkeypatch, "analytics", signed_in=ANALYST)
    assert not_found == [] and [t.value for t in at.title] == ["Analytics"]


# --- defect 4: no category until the person picks one -------------------------------------------

def _category(at: AppTest) -> Any:
    return at.selectbox(key="txn_new_category")


def _pick(at: AppTest, description: str) -> AppTest:
    pick = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Transaction"))
    return pick.set_value(next(o for o in pick.options if f"· {description} ·" in o)).run()


def _overrides(lake: Lake) -> list[tuple[str, str, str]]:
    rows = read_rows(lake, TRANSACTION_OVERRIDES) if lake.exists(TRANSACTION_OVERRIDES) else []
    return sorted((r["user_id"], r["txn_id"], r["category"]) for r in rows)


def _audited(lake: Lake) -> list[tuple[str, dict[str, Any]]]:
    return [(r["action"], json.loads(r["detail"])) for r in read_rows(lake, AUDIT_LOG)
            if r["action"].startswith("override_")]


def _force_click(at: AppTest, label: str) -> AppTest:
    """Click a button even when it is disabled, as a tampered client could."""
    button = _button(at, label)
    button.proto.disabled = False
    return button.click().run()


def test_no_category_is_chosen_until_the_person_chooses_one(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    at = _open(writable_home, monkeypatch, "transactions", ALICE)
    category = _category(at)
    assert category.value is None and category.proto.placeholder == PLACEHOLDER

    _pick(at, "AMAZON")  # another row: still nothing chosen
    assert _category(at).value is None
    _category(at).set_value("ENTERTAINMENT_VIDEO_GAMES").run()
    _button(at, SET_ONE).click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert [s.value for s in at.success][0].startswith(
        "AMAZON is now Entertainment › Video games.")
    assert _overrides(lake) == [(ALICE, "alice-t4", "ENTERTAINMENT_VIDEO_GAMES")]
    assert _audited(lake) == [("override_transaction", {"category": "ENTERTAINMENT_VIDEO_GAMES"})]
    # after applying, back to the placeholder: the last category is not offered again
    assert _category(at).value is None

    _category(at).set_value("TRAVEL_FLIGHTS").run()  # chosen for AMAZON...
    _pick(at, "UBER")  # ...then another row ticked: its category is not carried over
    assert _category(at).value is None
    _category(at).set_value("TRAVEL_FLIGHTS").run()
    _button(at, "Always use it for Uber").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert [(r["merchant_key"], r["category"]) for r in read_rows(lake, CATEGORY_OVERRIDES)] == [
        ("uber", "TRAVEL_FLIGHTS")]
    assert _category(at).value is None
    assert _overrides(lake) == [(ALICE, "alice-t4", "ENTERTAINMENT_VIDEO_GAMES")]


def test_applying_with_no_category_writes_nothing(writable_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    at = _open(writable_home, monkeypatch, "transactions", ALICE)
    _pick(at, "AMAZON")
    for label in (SET_ONE, "Always use it for Amazon"):
        _force_click(at, label)
        assert not at.exception, [e.message for e in at.exception]
        assert [s.value for s in at.success] == [], label
        assert NOTHING_CHOSEN in [w.value for w in at.warning]
        assert _category(at).value is None
    assert _overrides(lake) == []
    assert not lake.exists(CATEGORY_OVERRIDES)
    assert _audited(lake) == []


def test_a_row_of_another_person_is_not_writable(writable_home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    bob = who(lake, BOB)
    real = txns.search_transactions

    def bobs_rows(the_lake: Lake, _who: auth.Principal, f: txns.TxnFilter, page: int = 0
                  ) -> Any:  # a listing gone wrong: alice's page shows bob's rows
        return real(the_lake, bob, f, page=page)

    at = _open(writable_home, monkeypatch, "transactions", ALICE)
    monkeypatch.setattr(txns, "search_transactions", bobs_rows)
    at.run()
    assert "NETFLIX" in set(at.dataframe[0].value["Description"])
    _pick(at, "NETFLIX")
    _category(at).set_value("TRAVEL_FLIGHTS").run()
    _button(at, SET_ONE).click().run()
    assert [e.value for e in at.error] == [
        "That transaction is not one of yours (or no longer exists)."]
    _category(at).set_value("TRAVEL_FLIGHTS").run()
    _button(at, "Always use it for Netflix").click().run()
    assert [e.value for e in at.error] == ["None of your transactions is at that merchant."]
    assert not at.success
    assert _overrides(lake) == [] and not lake.exists(CATEGORY_OVERRIDES)
    assert _audited(lake) == []
    alice = at.session_state[ui.PRINCIPAL_KEY]
    with pytest.raises(actions.ActionError, match="not one of yours"):
        actions.recategorise(lake, alice, "bob-t3", "TRAVEL_FLIGHTS")
    assert _overrides(lake) == []
