"""The Rules page: a rule is previewed (the transactions it would change, before and after)
before it can be saved; rules are listed in order, moved and removed; a hostile rule is
refused with a message and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, USER_RULES
from pipelines.categories.rule_book import live_rules
from tests.dashboard.test_dashboard import CODE, _button, _open, _texts
from tests.support.lake_fixtures import ALICE


@pytest.fixture
def page(writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return _open(writable_home, monkeypatch, "rules", ALICE)


def _lake(home: Path) -> Lake:
    return Lake(str(home / "lake"))


def _fill(at: AppTest, **fields: object) -> AppTest:
    for key, value in fields.items():
        widget = at.selectbox(key=f"rule_{key}") if key.endswith(("_op", "category")) \
            else at.checkbox(key=f"rule_{key}") if isinstance(value, bool) \
            else at.text_input(key=f"rule_{key}")
        widget.set_value(value)
    _button(at, "Preview").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_rule_is_previewed_then_saved(page: AppTest, writable_home: Path) -> None:
    lake = _lake(writable_home)
    assert "No rules yet: add one below." in _texts(page)
    _fill(page, description_op="contains", description_text="whole",
          category="FOOD_AND_DRINK_RESTAURANT")
    [table] = page.dataframe
    shown = table.value.to_dict("records")
    assert [(r["Description"], r["Category now"], r["Category after"]) for r in shown] == [
        ("WHOLE FOODS", "Groceries", "Restaurant")]
    assert "This rule would change 1 of your past transactions:" in _texts(page)
    assert lake.delta(USER_RULES) is None  # a preview writes nothing
    assert not [t for t in _texts(page) if CODE.search(t)], "raw category codes on screen"
    _button(page, "Save rule").click().run()
    assert [s.value for s in page.success] == [
        "Rule saved as number 1. Your past transactions follow it after the next refresh."]
    [rule] = live_rules(lake, ALICE)
    assert json.loads(rule["conditions"]) == {"description": {"op": "contains",
                                                              "value": "whole"}}
    assert json.loads(rule["actions"]) == {"category": "FOOD_AND_DRINK_RESTAURANT"}
    assert rule["source"] == "dashboard"
    assert '1. When description contains "whole": category Restaurant' in \
        [t.value for t in page.text]


def test_rules_are_reordered_and_removed(page: AppTest, writable_home: Path) -> None:
    lake = _lake(writable_home)
    _fill(page, description_op="contains", description_text="uber", transfer=True)
    _button(page, "Save rule").click().run()
    _fill(page, merchant_op="starts_with", merchant_text="amaz", hide=True,
          merchant_name="Amazon (household)")
    assert [r["Shown as"] for r in page.dataframe[0].value.to_dict("records")] == [
        "Amazon (household)"]
    _button(page, "Save rule").click().run()
    first, second = (r["rule_id"] for r in live_rules(lake, ALICE))
    page.button(key=f"rule_up_{second}").click().run()
    assert [r["rule_id"] for r in live_rules(lake, ALICE)] == [second, first]
    assert page.text[0].value.startswith('1. When merchant starts with "amaz"')
    page.button(key=f"rule_remove_{first}").click().run()
    assert [r["rule_id"] for r in live_rules(lake, ALICE)] == [second]
    assert [s.value for s in page.success] == [
        "Rule removed. Your past transactions follow it after the next refresh."]
    audited = sorted(r["action"] for r in read_rows(lake, AUDIT_LOG)
                     if r["action"].endswith("_rule"))
    assert audited == ["add_rule", "add_rule", "move_rule", "remove_rule"]


@pytest.mark.parametrize(("fields", "says"), [
    ({"description_op": "matches", "description_text": "(a+)+$", "transfer": True},
     "looks like a regular expression"),
    ({"description_op": "contains", "description_text": "x" * 10_240, "transfer": True},
     "10,240 characters"),
    ({"amount_min": "50", "amount_max": "5", "hide": True}, "is above the maximum"),
    ({"description_op": "contains", "description_text": "uber"}, "needs an action"),
])
def test_hostile_rules_are_refused(home: Path, monkeypatch: pytest.MonkeyPatch, fields: dict,
                                   says: str) -> None:
    page = _fill(_open(home, monkeypatch, "rules", ALICE), **fields)
    [error] = [e.value for e in page.error]
    assert says in error and error.endswith("Nothing was saved.")
    assert not page.dataframe and not [b for b in page.button if b.label == "Save rule"]
    assert _lake(home).delta(USER_RULES) is None
