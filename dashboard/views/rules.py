"""Rules: a person's own categorisation rules, in the order they are checked; add one (its
preview, the transactions it would change, shown before it can be saved), move one up or
down, remove one.

The preview runs the rules in plain Python over the person's transactions
(:func:`pipelines.categories.user_rules.preview`: no Spark in the dashboard); the nightly run
(or ``finlake nightly --replay``) applies a saved rule to past transactions. What people typed
is shown as typed: in widgets and table cells, and through :func:`~dashboard.plain.plain` in
messages.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.auth import DASHBOARD, Principal
from dashboard.data import money, queries, taxonomy
from dashboard.plain import plain
from lake.audit_log import audit
from lake.tables import TRANSACTIONS
from pipelines.categories import rule_checks
from pipelines.categories.rule_book import live_rules
from pipelines.categories.rule_checks import RuleError
from pipelines.categories.user_rules import compiled_rows, preview
from pipelines.corrections import rules as edits

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [TRANSACTIONS]
PENDING_KEY = "rule_pending"  # the previewed rule and its preview, until saved or discarded
OPS = {"": "—", "contains": "contains", "starts_with": "starts with",
       "matches": "matches (* and ? wildcards)"}
DIRECTIONS = {"": "Either way", "out": "Money out", "in": "Money in"}
APPLIED = "Your past transactions follow it after the next refresh."
FORM_KEYS = ("rule_description_op", "rule_description_text", "rule_merchant_op",
             "rule_merchant_text", "rule_amount_min", "rule_amount_max", "rule_account",
             "rule_direction", "rule_category", "rule_transfer", "rule_hide",
             "rule_merchant_name", "rule_position")


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    accounts = money.accounts(lake, who)
    return {"rules": live_rules(lake, str(who.user_id)),
            "names": taxonomy.category_names(lake, who),
            "choices": taxonomy.category_choices(lake, who),
            "accounts": {a: f"{n} ••{m}" if m else str(n) for a, n, m in zip(
                accounts["account_id"], accounts["name"], accounts["mask"], strict=True)}}


def render() -> None:
    ui.show_page("Rules", TABLES, load, _show)


def words(rule: dict[str, Any], names: dict[str, str], accounts: dict[str, str]) -> str:
    """A rule as a person reads it (category and account names, amounts in dollars)."""
    said, does = rule_checks.phrases(
        json.loads(rule["conditions"]), json.loads(rule["actions"]),
        money=lambda a: ui.format_money(float(a)),
        category=lambda c: names.get(c, "no longer known"),
        account=lambda a: accounts.get(a, "no longer linked"))
    return f"When {' and '.join(said)}: {', '.join(does)}"


def _show(lake: Lake, who: Principal, d: dict[str, Any]) -> None:
    st.caption("Your rules are checked in this order; the first one that matches decides "
               "the category (or that it is a transfer). A category you set for one "
               "transaction, or for a merchant, always wins over a rule. Showing another "
               "name and hiding from budgets are kept with a rule but not applied yet.")
    rules = d["rules"]
    if not rules:
        st.write("No rules yet: add one below.")
    for i, rule in enumerate(rules):
        c1, c2, c3, c4 = st.columns([8, 1, 1, 2])
        c1.text(f"{i + 1}. {words(rule, d['names'], d['accounts'])}")
        if c2.button("↑", key=f"rule_up_{rule['rule_id']}", disabled=i == 0):
            _edit(lake, who, rule["rule_id"], "move", i)
        if c3.button("↓", key=f"rule_down_{rule['rule_id']}", disabled=i == len(rules) - 1):
            _edit(lake, who, rule["rule_id"], "move", i + 2)
        if c4.button("Remove", key=f"rule_remove_{rule['rule_id']}"):
            _edit(lake, who, rule["rule_id"], "remove")
    st.subheader("Add a rule")
    _form(lake, who, d)
    pending = st.session_state.get(PENDING_KEY)
    if pending is not None:
        _pending(lake, who, d, pending)


def _edit(lake: Lake, who: Principal, rule_id: str, what: str, to: int | None = None) -> None:
    user = str(who.user_id)
    try:
        before = live_rules(lake, user)
        rule = edits.find_rule(before, rule_id)
        if what == "remove":
            after = edits.placed(before, remove=rule_id)
            edits.store(lake, edits.changed_rows(before, after, removed=rule))
        else:
            after = edits.placed(before, move=(rule_id, int(to or 1)))
            edits.store(lake, edits.changed_rows(before, after))
    except RuleError as error:
        st.error(plain(f"{error}. Nothing was changed."))
        return
    audit(lake, DASHBOARD, f"{what}_rule", user_id=user, rules=len(after))
    ui.flash_and_rerun("Rule removed. " + APPLIED if what == "remove" else "Rule moved. " + APPLIED)


def _form(lake: Lake, who: Principal, d: dict[str, Any]) -> None:
    choices = dict(d["choices"])
    with st.form("rule_form", clear_on_submit=False):
        conditions: dict[str, Any] = {}
        for field in ("description", "merchant"):
            c1, c2 = st.columns([1, 2])
            ops: list[str] = list(OPS)
            op = c1.selectbox(field.capitalize(), ops, format_func=lambda o: OPS[o],
                              key=f"rule_{field}_op")
            text = c2.text_input(f"{field.capitalize()} text", key=f"rule_{field}_text")
            if op:
                conditions[field] = {"op": op, "value": text}
        c1, c2 = st.columns(2)
        conditions["amount_min"] = c1.text_input("Amount from ($)", key="rule_amount_min") or None
        conditions["amount_max"] = c2.text_input("Amount to ($)", key="rule_amount_max") or None
        c1, c2 = st.columns(2)
        conditions["account_id"] = c1.selectbox(
            "Account", [None, *d["accounts"]], key="rule_account",
            format_func=lambda a: "Any account" if a is None else d["accounts"][a])
        ways: list[str] = list(DIRECTIONS)
        conditions["direction"] = c2.selectbox("Direction", ways,
                                               format_func=lambda w: DIRECTIONS[w],
                                               key="rule_direction") or None
        category = st.selectbox("Set the category", [None, *choices], key="rule_category",
                                format_func=lambda c: "Leave the category" if c is None
                                else choices[c])
        c1, c2 = st.columns(2)
        transfer = c1.checkbox("Mark as a transfer", key="rule_transfer")
        hide = c2.checkbox("Hide from budgets", key="rule_hide")
        name = st.text_input("Show the merchant as", key="rule_merchant_name")
        position = st.number_input("Place in the order (1 = checked first)", min_value=1,
                                   max_value=len(d["rules"]) + 1, value=len(d["rules"]) + 1,
                                   step=1, key="rule_position")
        go = st.form_submit_button("Preview", type="primary")
    if not go:
        return
    actions = {"category": category, "transfer": transfer, "merchant_name": name,
               "hide_from_budgets": hide}
    try:
        rule = edits.new_rule(lake, str(who.user_id), conditions, actions, int(position),
                              "dashboard", d["rules"])
    except RuleError as error:
        st.session_state.pop(PENDING_KEY, None)
        st.error(plain(f"{error}. Nothing was saved."))
        return
    after = edits.placed(d["rules"], rule)
    st.session_state[PENDING_KEY] = {"rule": rule, "changes": _preview(lake, who, d["rules"],
                                                                        after)}


def _preview(lake: Lake, who: Principal, now: list[dict[str, Any]], then: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    rows = queries.frame(lake, who, """
        SELECT txn_id, posted_date, description, merchant, merchant_key, amount, account_id,
               category, category_source, user_category
        FROM transactions WHERE user_id = $user AND status = 'live'
        ORDER BY posted_date DESC NULLS LAST, txn_id""")
    own = queries.frame(lake, who, "SELECT merchant_key FROM category_overrides "
                                   "WHERE user_id = $user")
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return preview(records, compiled_rows(now), compiled_rows(then), set(own["merchant_key"]))


def _pending(lake: Lake, who: Principal, d: dict[str, Any], pending: dict[str, Any]) -> None:
    names, changes = d["names"], pending["changes"]
    st.markdown(f"**Preview** · {plain(words(pending['rule'], names, d['accounts']))}")
    act = json.loads(pending["rule"]["actions"])
    if "merchant_name" in act or act.get("hide_from_budgets"):
        st.caption("The merchant's new name and hiding from budgets are kept with the rule; "
                   "the transaction list and budgets do not use them yet.")
    if not changes:
        st.info("This rule changes none of your past transactions (it applies to new ones).")
    else:
        st.write(f"This rule would change {len(changes)} of your past transactions:")
        st.dataframe(pd.DataFrame({
            "Date": [ui.format_day(c["posted_date"]) for c in changes],
            "Description": [c["description"] for c in changes],
            "Amount": [ui.format_money(float(c["amount"])) for c in changes],
            "Category now": [names.get(c["user_category"] or c["category"], "None")
                             for c in changes],
            "Category after": [names.get(c["user_category"], "") + " (yours, kept)"
                               if c["user_category"] else
                               names.get(c["category_after"], "Automatic")
                               if c["category_after"] else "Automatic" for c in changes],
            "Shown as": [c["merchant_after"] or "" for c in changes],
            "Hidden from budgets": ["yes" if c["hidden_after"] else "" for c in changes],
        }), hide_index=True)
    c1, c2 = st.columns(2)
    if c1.button("Save rule", type="primary", key="rule_save"):
        _save(lake, who, pending["rule"])
    if c2.button("Discard", key="rule_discard"):
        st.session_state.pop(PENDING_KEY, None)
        st.rerun()


def _save(lake: Lake, who: Principal, rule: dict[str, Any]) -> None:
    """Store the previewed rule where it was previewed (checked again against the rules as
    they are now: another tab may have changed them)."""
    user = str(who.user_id)
    before = live_rules(lake, user)
    try:
        again = edits.new_rule(lake, user, json.loads(rule["conditions"]),
                               json.loads(rule["actions"]), min(rule["position"],
                                                                len(before) + 1),
                               "dashboard", before)
    except RuleError as error:
        st.error(plain(f"{error}. Nothing was saved."))
        return
    after = edits.placed(before, again)
    edits.store(lake, edits.changed_rows(before, after))
    audit(lake, DASHBOARD, "add_rule", user_id=user, position=again["position"],
          actions=sorted(json.loads(again["actions"])), rules=len(after))
    st.session_state.pop(PENDING_KEY, None)
    for key in FORM_KEYS:  # an empty form for the next rule
        st.session_state.pop(key, None)
    ui.flash_and_rerun(f"Rule saved as number {again['position']}. {APPLIED}")


if __name__ == "__main__":
    render()
