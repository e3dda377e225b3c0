"""Issue 25, item 8 on the Transactions page: a category edited right in the table, one
category for several ticked transactions at once, and the "To review" queue (no category, an
unsure one, sent twice by the bank), where choosing a category or ticking "Looks right" takes a
transaction off the list for good."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import actions
from dashboard.data import txns
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, TRANSACTION_OVERRIDES, TRANSACTIONS
from tests.dashboard.test_dashboard import _button, _open, who
from tests.support.lake_fixtures import ALICE, BOB, transactions, txn, write_table

NOTHING_CHOSEN = "Choose a new category first: nothing was changed."
REFRESH = "Totals and budgets include {} after the next refresh."
# What each of alice's rows to review is, newest first, and why it is there.
ALICE_QUEUE = [("alice-t7", "CORNER SHOP 42", "No category (the model was 41% sure)"),
               ("alice-t8", "ZELLE PAYMENT JOHN", "Unsure category (52% sure)"),
               ("alice-t10", "HILTON HOTELS", "Your bank sent it twice, with other details")]
ZELLE_CATEGORY = "GENERAL_SERVICES_OTHER_GENERAL_SERVICES"


def _to_review() -> list[dict[str, Any]]:
    """Rows the categoriser was unsure of (the nightly's threshold is 0.6), beside the small
    lake's sure ones, for alice and bob."""
    return [
        txn(ALICE, 7, date(2024, 2, 22), "23.10", "CORNER SHOP 42", None,
            category_source="none", category_confidence=0.41),  # below the threshold
        txn(ALICE, 8, date(2024, 2, 18), "60.00", "ZELLE PAYMENT JOHN", ZELLE_CATEGORY,
            category_source="model", category_confidence=0.52),  # a category, unsure
        txn(ALICE, 9, date(2024, 2, 17), "31.99", "ETSY",
            "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", category_source="model",
            category_confidence=0.81),  # sure enough
        txn(ALICE, 10, date(2024, 2, 15), "212.40", "HILTON HOTELS", "TRAVEL_LODGING",
            category_source="rule", category_confidence=0.95, partner_duplicate=True),
        txn(ALICE, 11, date(2024, 2, 14), "9.10", "GREEN GROCER", "FOOD_AND_DRINK_GROCERIES",
            category_source="model", category_confidence=0.45,
            user_category="FOOD_AND_DRINK_GROCERIES"),  # unsure, but confirmed before
        txn(ALICE, 12, date(2024, 2, 13), "7.00", "LOST CHARGE", None, status="removed",
            category_source="none"),  # not live: nothing to review
        txn(BOB, 6, date(2024, 2, 19), "44.00", "MYSTERY MART",
            "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", category_source="model",
            category_confidence=0.3),
    ]


@pytest.fixture
def lake(writable_home: Path) -> Lake:
    lake = Lake(str(writable_home / "lake"))
    write_table(lake, TRANSACTIONS, transactions() + _to_review())
    return lake


def _page(lake: Lake, monkeypatch: pytest.MonkeyPatch, login: str = ALICE) -> AppTest:
    return _open(Path(lake.root).parent, monkeypatch, "transactions", login)


def _shown(lake: Lake, login: str = ALICE) -> dict[str, str | None]:
    """Description -> the category the Transactions page shows, read through the data layer."""
    rows, _ = txns.search_transactions(lake, who(lake, login))
    return dict(zip(rows["description"], rows["category"], strict=True))


def _overrides(lake: Lake) -> list[tuple[str, str, str, str]]:
    if not lake.exists(TRANSACTION_OVERRIDES):
        return []
    return sorted((r["user_id"], r["txn_id"], r["category"], r["source"])
                  for r in read_rows(lake, TRANSACTION_OVERRIDES))


def _audited(lake: Lake) -> list[dict[str, Any]]:
    if not lake.exists(AUDIT_LOG):
        return []
    return sorted((json.loads(r["detail"]) for r in read_rows(lake, AUDIT_LOG)
                   if r["action"] == "override_transaction"), key=json.dumps)


def _edit(at: AppTest, edits: dict[int, dict[str, Any]]) -> AppTest:
    """Edit cells of the page's table as a person does in the browser (row -> column ->
    value), then let the page run."""
    [grid] = at.data_editor
    at.session_state[grid.key] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    return at.run()


def _row(at: AppTest, description: str) -> int:
    return list(at.dataframe[0].value["Description"]).index(description)


def _successes(at: AppTest) -> list[str]:
    assert not at.exception, [e.message for e in at.exception]
    return [s.value for s in at.success]


# --- a category edited in the table ----------------------------------------------------------

def test_a_category_edited_in_the_table_changes_that_transaction_only(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _shown(lake)
    at = _page(lake, monkeypatch)
    [grid] = at.data_editor  # only the category can be edited
    assert list(grid.value.columns) == ["Date", "Amount", "Category", "Description",
                                        "Merchant", "Pending"]
    _edit(at, {_row(at, "AMAZON"): {"Category": "Video games"}})
    assert _successes(at) == [
        "1 transaction recategorised: AMAZON → Entertainment › Video games. "
        + REFRESH.format("it")]
    assert _shown(lake) == {**before, "AMAZON": "ENTERTAINMENT_VIDEO_GAMES"}
    assert _overrides(lake) == [(ALICE, "alice-t4", "ENTERTAINMENT_VIDEO_GAMES", "dashboard")]
    assert _audited(lake) == [{"category": "ENTERTAINMENT_VIDEO_GAMES"}]
    # a fresh table showing the change: the edit is not applied a second time
    table = at.dataframe[0].value
    assert table["Category"][_row(at, "AMAZON")] == "Video games (updating)"
    at.run()
    assert _successes(at) == [] and len(_overrides(lake)) == 1 and len(_audited(lake)) == 1


def test_editing_nothing_changes_nothing(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _shown(lake)
    at = _page(lake, monkeypatch)
    at.run()  # nothing edited
    amazon = _row(at, "AMAZON")
    _edit(at, {amazon: {"Category": "Online marketplaces"}})  # the category it has
    assert _successes(at) == [] and not at.info
    _edit(at, {amazon: {"Category": "Uncategorised"}})  # a category nobody can give
    assert _successes(at) == []
    assert [i.value for i in at.info] == [
        "Nothing changed: each edited transaction already has that category."]
    assert _shown(lake) == before
    assert _overrides(lake) == [] and _audited(lake) == []


def test_one_category_for_three_ticked_transactions(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _shown(lake)
    at = _page(lake, monkeypatch)
    at.toggle(key="txn_bulk").set_value(True).run()
    picked = ["ETSY", "AMAZON", "WHOLE FOODS"]
    at.session_state[at.dataframe[0].key] = {"selection": {
        "rows": [_row(at, d) for d in picked], "columns": [], "cells": []}}
    at.run()
    category = at.selectbox(key="txn_new_category")
    assert category.value is None and category.proto.placeholder == "Choose a category…"
    _button(at, "Set for the 3 ticked transactions").click().run()  # no category yet
    assert NOTHING_CHOSEN in [w.value for w in at.warning] and _overrides(lake) == []

    at.selectbox(key="txn_new_category").set_value("TRAVEL_FLIGHTS").run()
    _button(at, "Set for the 3 ticked transactions").click().run()
    assert _successes(at) == [
        "3 transactions recategorised: ETSY → Travel › Flights, AMAZON → Travel › Flights, "
        "WHOLE FOODS → Travel › Flights. " + REFRESH.format("them")]
    assert _shown(lake) == {**before, **dict.fromkeys(picked, "TRAVEL_FLIGHTS")}
    assert _overrides(lake) == [(ALICE, t, "TRAVEL_FLIGHTS", "dashboard")
                                for t in ("alice-t1", "alice-t4", "alice-t9")]
    assert lake.delta(TRANSACTION_OVERRIDES).version() == 0  # one change, one commit
    assert _audited(lake) == [{"category": "TRAVEL_FLIGHTS"}] * 3
    assert not at.data_editor and not [c for c in at.caption if "ticked:" in c.value]
    _button(at, "Set for this transaction").click().run()  # nor a category chosen
    assert NOTHING_CHOSEN in [w.value for w in at.warning] and len(_overrides(lake)) == 3


def test_several_at_once_is_all_or_nothing(lake: Lake) -> None:
    alice = who(lake, ALICE)
    with pytest.raises(actions.ActionError, match="not one of yours"):
        actions.recategorise_many(lake, alice, {"alice-t4": "TRAVEL_FLIGHTS",
                                                "bob-t3": "TRAVEL_FLIGHTS"})
    with pytest.raises(actions.ActionError, match="Unknown category"):
        actions.recategorise_many(lake, alice, {"alice-t4": "TRAVEL_FLIGHTS",
                                                "alice-t1": "NOT_A_CATEGORY"})
    with pytest.raises(actions.ActionError, match="not one of yours"):
        actions.confirm_categories(lake, alice, ["alice-t8", "bob-t6"])
    with pytest.raises(actions.ActionError, match="nothing to confirm"):
        actions.confirm_categories(lake, alice, ["alice-t8", "alice-t7"])
    assert _overrides(lake) == [] and _audited(lake) == []


# --- the review queue ------------------------------------------------------------------------

def _review(at: AppTest) -> AppTest:
    return at.segmented_control(key="txn_view").set_value("review").run()


def _queue_shown(at: AppTest) -> list[tuple[str, str]]:
    table = at.data_editor[0].value
    assert list(table.columns) == ["Date", "Amount", "Category", "Description", "Looks right",
                                   "Why"]
    return list(zip(table["Description"], table["Why"], strict=True))


def _label(at: AppTest) -> str:
    """The review queue's label, as shown at the top of the page."""
    return at.segmented_control(key="txn_view").options[1]


def test_the_queue_holds_what_the_person_should_look_at_and_why(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(lake, monkeypatch)
    assert _label(at) == "To review (3)"
    _review(at)
    assert _queue_shown(at) == [(d, why) for _, d, why in ALICE_QUEUE]
    assert not any(d in str(at.data_editor[0].value) for d in ("MYSTERY", "NETFLIX"))
    queue, waiting = txns.review_queue(lake, who(lake, ALICE))
    assert list(queue["txn_id"]) == [t for t, _, _ in ALICE_QUEUE] and waiting == 3
    assert [list(r) for r in queue["reasons"]] == [
        ["uncategorised"], ["low_confidence"], ["sent_twice"]]
    queue, waiting = txns.review_queue(lake, who(lake, BOB))
    assert sorted(queue["txn_id"]) == ["bob-t5", "bob-t6"] and waiting == 2

    bob = _page(lake, monkeypatch, BOB)
    assert _label(bob) == "To review (2)"
    assert [d for d, _ in _queue_shown(_review(bob))] == ["MYSTERY MART", "NETFLIX REFUND"]


def test_the_queue_reads_the_newest_months_only(lake: Lake,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Older months are out of the queue (and are never read: 3 month partitions, not a
    person's whole history)."""
    full, waiting = txns.review_queue(lake, who(lake, ALICE))
    assert set(full["posted_month"]) == {"2024-02"} and waiting == 3
    monkeypatch.setattr(txns, "newest_month", lambda *_: "2024-04")  # Feb is 3 months back
    assert txns.review_queue(lake, who(lake, ALICE))[1] == 3
    monkeypatch.setattr(txns, "REVIEW_MONTHS", 2)  # March and April only
    queue, waiting = txns.review_queue(lake, who(lake, ALICE))
    assert queue.empty and waiting == 0


def test_confirming_takes_a_row_off_the_queue_for_good(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _review(_page(lake, monkeypatch))
    _edit(at, {1: {"Looks right": True}})  # ZELLE PAYMENT JOHN
    assert _successes(at) == ["1 transaction confirmed as it is."]
    assert _overrides(lake) == [(ALICE, "alice-t8", ZELLE_CATEGORY, "dashboard")]
    assert _audited(lake) == [{"category": ZELLE_CATEGORY, "confirmed": True}]
    assert _label(at) == "To review (2)"
    assert [d for d, _ in _queue_shown(at)] == ["CORNER SHOP 42", "HILTON HOTELS"]
    assert _shown(lake)["ZELLE PAYMENT JOHN"] == ZELLE_CATEGORY  # the category it had
    assert "(updating)" not in str(at.dataframe[0].value)  # nothing for the totals to redo

    again = _review(_page(lake, monkeypatch))  # reloaded: a new session
    assert [d for d, _ in _queue_shown(again)] == ["CORNER SHOP 42", "HILTON HOTELS"]
    # the next nightly copies the confirmation to silver (user_category): still off the list
    write_table(lake, TRANSACTIONS, [
        {**r, "user_category": ZELLE_CATEGORY} if r["txn_id"] == "alice-t8" else r
        for r in transactions() + _to_review()])
    queue, waiting = txns.review_queue(lake, who(lake, ALICE))
    assert list(queue["txn_id"]) == ["alice-t7", "alice-t10"] and waiting == 2


def test_a_category_chosen_in_the_queue_takes_the_row_off(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _review(_page(lake, monkeypatch))
    _edit(at, {0: {"Category": "Groceries"}, 2: {"Looks right": True}})
    assert _successes(at) == [
        "1 transaction recategorised: CORNER SHOP 42 → Food & drink › Groceries. "
        "1 transaction confirmed as it is."]
    assert _overrides(lake) == [
        (ALICE, "alice-t10", "TRAVEL_LODGING", "dashboard"),
        (ALICE, "alice-t7", "FOOD_AND_DRINK_GROCERIES", "dashboard")]
    assert _queue_shown(at) == [(d, why) for _, d, why in ALICE_QUEUE[1:2]]


def test_a_row_without_a_category_cannot_be_confirmed(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _review(_page(lake, monkeypatch))
    _edit(at, {0: {"Looks right": True}})  # CORNER SHOP 42: no category to keep
    assert _successes(at) == []
    assert ("A transaction without a category has nothing to confirm: choose its category in "
            "the Category column instead. Nothing was changed.") in [w.value for w in at.warning]
    assert _overrides(lake) == [] and _label(at) == "To review (3)"
