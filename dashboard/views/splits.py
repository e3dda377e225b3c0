"""Split a transaction on the Transactions page: pick one of the page's transactions, share
its amount between categories, or remove its split (called by dashboard/views/transactions.py).

Amounts are typed in the transaction's direction (a $50.00 purchase: 30 and 20; a refund
inside it: a negative part); the parts must add up to the transaction's amount exactly. Totals
and budgets count the parts after the next refresh, as they do a new category.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import splits, ui
from dashboard.actions import ActionError
from dashboard.auth import Principal
from dashboard.data import taxonomy
from dashboard.plain import plain
from pipelines.corrections.split_parts import MAX_PARTS, MIN_PARTS, money

if TYPE_CHECKING:
    from lake.lake import Lake

PICK_KEY = "txn_split_pick"
PARTS_KEY = "txn_split_parts"
CATEGORY_KEY, AMOUNT_KEY = "txn_split_category", "txn_split_amount"
SAVE, REMOVE = "Save split", "Remove split"
EDITS_KEY = "txn_split_edits"  # a new form after each save: it shows what was stored


def _label(r: Any) -> str:
    return f"{ui.format_day(r.date)} · {r.description} · {ui.format_money(r.amount)}"


def editor(lake: Lake, who: Principal, rows: pd.DataFrame, page: int) -> None:
    """Pick one of the page's posted transactions; see, set or remove its split."""
    posted = rows[~rows["pending"]] if "pending" in rows else rows
    if posted.empty:
        return
    st.subheader("Split this transaction")
    labels = {_label(r): str(r.txn_id) for r in posted.itertuples(index=False)}
    choice = st.selectbox("Transaction to split", list(labels), key=f"{PICK_KEY}_{page}")
    txn_id = labels[choice]
    shown = splits.current(lake, who, txn_id)
    codes = dict(taxonomy.category_choices(lake, who))
    if shown is not None:
        said = ", ".join(f"{codes.get(c, c)} {money(a)}" for c, a in shown.parts)
        (st.warning if shown.stale else st.caption)(
            ("Your bank changed this transaction after you split it, so it counts whole: "
             "split it again or remove the split. Was: " if shown.stale else "Split: ")
            + plain(said))
    form = f"{txn_id}_{st.session_state.get(EDITS_KEY, 0)}"
    before = shown.parts if shown is not None else []
    n = int(st.number_input("Parts", min_value=MIN_PARTS, max_value=MAX_PARTS,
                            value=max(MIN_PARTS, len(before)), step=1,
                            key=f"{PARTS_KEY}_{form}"))
    st.caption("Amounts in the transaction's direction (a refund inside a purchase is "
               "negative); they must add up to its amount.")
    options = list(codes)
    parts = []
    for i in range(n):
        code, amount = before[i] if i < len(before) else (None, None)
        left, right = st.columns([3, 1])
        category = left.selectbox(f"Category {i + 1}", options, format_func=codes.get,
                                  index=options.index(code) if code in codes else None,
                                  placeholder="Choose a category",
                                  key=f"{CATEGORY_KEY}_{form}_{i}")
        typed = right.text_input(f"Amount {i + 1}", value="" if amount is None else
                                 str(amount), key=f"{AMOUNT_KEY}_{form}_{i}")
        parts.append((category, typed))
    save, remove = st.columns(2)
    if save.button(SAVE, key="txn_split_save"):
        _save(lake, who, posted, txn_id, parts)
    elif shown is not None and remove.button(REMOVE, key="txn_split_remove"):
        _remove(lake, who, posted, txn_id)


def _description(rows: pd.DataFrame, txn_id: str) -> str:
    return str(rows.loc[rows["txn_id"].astype(str) == txn_id, "description"].iloc[0])


def _save(lake: Lake, who: Principal, rows: pd.DataFrame, txn_id: str,
          parts: list[tuple[str | None, str]]) -> None:
    try:
        saved = splits.save(lake, who, txn_id, parts)
    except ActionError as error:
        st.error(plain(error))
        return
    st.session_state[EDITS_KEY] = int(st.session_state.get(EDITS_KEY, 0)) + 1
    ui.flash_and_rerun(f"{plain(_description(rows, txn_id))} is split in {len(saved.parts)} "
                       "parts. Totals and budgets count them after the next refresh.")


def _remove(lake: Lake, who: Principal, rows: pd.DataFrame, txn_id: str) -> None:
    try:
        splits.clear(lake, who, txn_id)
    except ActionError as error:
        st.error(plain(error))
        return
    st.session_state[EDITS_KEY] = int(st.session_state.get(EDITS_KEY, 0)) + 1
    ui.flash_and_rerun(f"{plain(_description(rows, txn_id))} is no longer split: it counts "
                       "whole in its category after the next refresh.")
