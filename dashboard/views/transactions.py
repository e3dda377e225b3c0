"""Transactions: search by text, amount, date and category; page through; recategorise one
transaction or always categorise a merchant."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import actions, ui
from dashboard.auth import Principal
from dashboard.data import taxonomy, txns
from dashboard.plain import plain
from lake.tables import TRANSACTIONS
from pipelines.categories.reference import categories

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [TRANSACTIONS]
PAGE_KEY = "txn_page"
CATEGORY_KEY = "txn_new_category"
CHOSEN_FOR_KEY = "txn_category_for"  # the transaction the chosen new category is for
PLACEHOLDER = "Choose a category…"
NOTHING_CHOSEN = "Choose a new category first: nothing was changed."


def load(lake: Lake, who: Principal, f: txns.TxnFilter | None = None, page: int = 0
         ) -> dict[str, Any]:
    rows, total = txns.search_transactions(lake, who, f or txns.TxnFilter(), page=page)
    return {"rows": rows, "total": total, "choices": taxonomy.category_choices(lake, who)}


def _filters() -> txns.TxnFilter:
    with st.expander("Search", expanded=True):
        c1, c2, c3 = st.columns([3, 2, 2])
        text = c1.text_input("Description or merchant", key="txn_text")
        primaries = {c["category_primary"]: c["primary_display_name"] for c in categories()}
        category = c2.selectbox("Category", [None, *sorted(primaries, key=primaries.get)],
                                format_func=lambda c: "Any" if c is None else primaries[c],
                                key="txn_category")
        dates = c3.date_input("Dates", value=(), key="txn_dates", format="YYYY-MM-DD")
        c4, c5, _ = st.columns([2, 2, 3])
        low = c4.number_input("Amount at least ($)", min_value=0.0, value=None, step=10.0,
                              key="txn_min")
        high = c5.number_input("Amount at most ($)", min_value=0.0, value=None, step=10.0,
                               key="txn_max")
    start = dates[0] if len(dates) >= 1 else None
    end = dates[1] if len(dates) == 2 else None
    return txns.TxnFilter(text=text or "", min_amount=low, max_amount=high,
                          start=start if isinstance(start, date) else None,
                          end=end if isinstance(end, date) else None, category=category)


def _nothing_chosen_yet(txn_id: str) -> None:
    """No new category is chosen for a transaction until the person chooses one: another row,
    or a change just saved, starts again from the placeholder (a category chosen beforehand
    would be one careless click from being applied)."""
    if st.session_state.get(CHOSEN_FOR_KEY) != txn_id:
        st.session_state[CATEGORY_KEY] = None  # before the widget exists in this run
        st.session_state[CHOSEN_FOR_KEY] = txn_id


def _saved(message: str) -> None:
    st.session_state.pop(CHOSEN_FOR_KEY, None)  # the next run starts from the placeholder
    ui.flash_and_rerun(message)


def render() -> None:
    ctx = ui.page("Transactions", TABLES)
    if ctx is None:
        return
    lake, who = ctx
    f = _filters()
    if st.session_state.get("txn_filter") != f:  # a new search starts at the first page
        st.session_state["txn_filter"] = f
        st.session_state[PAGE_KEY] = 0
    page = int(st.session_state.get(PAGE_KEY, 0))
    d = load(lake, who, f, page)
    rows, total = d["rows"], d["total"]
    pages = max(1, -(-total // txns.PAGE_SIZE))
    page = min(page, pages - 1)

    st.caption(f"{total:,} transactions · page {page + 1} of {pages} · positive amounts are "
               "money out, negative money in")
    # Date, Amount and Category first and narrow: they fit a phone's screen (390 px) next to
    # the selection column; the description and the rest follow for wider screens.
    table = pd.DataFrame({
        "Date": [ui.format_day(x) for x in rows["date"]],
        "Amount": [ui.format_money(a, c) for a, c in
                   zip(rows["amount"], rows["currency"], strict=True)],
        "Category": [n + (" (updating)" if p else "") for n, p in
                     zip(rows["category_name"], rows["change_pending"], strict=True)],
        "Description": rows["description"],
        "Merchant": rows["merchant"].fillna(""),
        "Pending": ["Pending" if p else "" for p in rows["pending"]],
    })
    picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="single-row", key="txn_table", column_config={
                              "Date": st.column_config.TextColumn(width=90),
                              "Amount": st.column_config.TextColumn(width=85,
                                                                    alignment="right"),
                              "Category": st.column_config.TextColumn(width=130),
                              "Description": st.column_config.TextColumn(width=230),
                              "Merchant": st.column_config.TextColumn(width=140),
                              "Pending": st.column_config.TextColumn(width=75)})
    prev, info, nxt = st.columns([1, 4, 1])
    if prev.button("← Newer", disabled=page == 0, key="txn_prev"):
        st.session_state[PAGE_KEY] = page - 1
        st.rerun()
    if nxt.button("Older →", disabled=page >= pages - 1, key="txn_next"):
        st.session_state[PAGE_KEY] = page + 1
        st.rerun()

    if rows.empty:
        return
    selected = picked.selection.rows if picked is not None else []
    index = selected[0] if selected else 0
    st.subheader("Change a category")
    labels = {f"{ui.format_day(r.date)} · {r.description} · {ui.format_money(r.amount)}": i
              for i, r in enumerate(rows.itertuples(index=False))}
    keys = list(labels)
    choice = st.selectbox("Transaction", keys, index=min(index, len(keys) - 1),
                          key=f"txn_pick_{page}_{index}")
    row = rows.iloc[labels[choice]]
    codes = dict(d["choices"])
    _nothing_chosen_yet(str(row["txn_id"]))
    category = st.selectbox("New category", list(codes), index=None, placeholder=PLACEHOLDER,
                            format_func=codes.get, key=CATEGORY_KEY)
    merchant = row["merchant"] if isinstance(row["merchant"], str) and row["merchant"] else None
    c1, c2 = st.columns(2)
    set_one = c1.button("Set for this transaction", type="primary", key="txn_set_one")
    set_merchant = bool(merchant) and c2.button(f"Always use it for {plain(merchant)}",
                                                key="txn_set_merchant")
    if (set_one or set_merchant) and category is None:  # a click alone changes nothing
        st.warning(NOTHING_CHOSEN)
    elif set_one:
        try:
            actions.recategorise(lake, who, str(row["txn_id"]), category)
        except actions.ActionError as error:
            st.error(plain(error))
        else:
            _saved(
                f"{plain(row['description'])} is now {plain(codes[category])}. Totals and "
                "budgets include it after the next refresh.")
    elif set_merchant:
        try:
            actions.categorise_merchant(lake, who, str(row["merchant_key"] or ""), category)
        except actions.ActionError as error:
            st.error(plain(error))
        else:
            _saved(
                f"From now on {plain(merchant)} is {plain(codes[category])}, including past "
                "transactions (totals update after the next refresh).")


if __name__ == "__main__":
    render()
