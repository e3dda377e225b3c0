"""Transactions: search by text (tags and notes too), amount, date, category and tag; page
through; change a category in the table itself, for several ticked transactions at once, or
always for a merchant; tag a transaction and write a note on it (dashboard/views/annotations.py);
and the transactions to review (no category, an unsure one, or sent twice by the bank)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import actions, ui
from dashboard.auth import Principal
from dashboard.data import taxonomy, txns
from dashboard.plain import plain
from dashboard.views import annotations as annotation_views
from dashboard.views import review as review_views
from dashboard.views import splits as split_views
from lake.tables import TRANSACTIONS
from pipelines.categories.reference import categories

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [TRANSACTIONS]
PAGE_KEY = "txn_page"
VIEW_KEY = "txn_view"  # all transactions, or those to review
BULK_KEY = "txn_bulk"  # rows are ticked (several change at once) instead of edited in place
TABLE_KEY = "txn_table"  # the ticked rows (none again after a change)
GRID_KEY, REVIEW_KEY = "txn_grid", "txn_review"  # the tables edited in place
EDITS_KEY = "txn_edits"  # a new table after each change: no edit is ever applied twice
CATEGORY_KEY = "txn_new_category"
CHOSEN_FOR_KEY = "txn_category_for"  # the transaction(s) the chosen new category is for
PLACEHOLDER = "Choose a category…"
NOTHING_CHOSEN = "Choose a new category first: nothing was changed."
ALL, REVIEW = "all", "review"
CONFIRM = "Looks right"
# Date, Amount and Category first and narrow, then the description: the four fit a phone's
# screen (390 px); the rest follow for wider screens.
COLUMNS = {
    "Date": st.column_config.TextColumn(width=82),
    "Amount": st.column_config.TextColumn(width=82, alignment="right"),
    "Category": st.column_config.TextColumn(width=100),
    "Description": st.column_config.TextColumn(width=200),
    "Merchant": st.column_config.TextColumn(width=140),
    "Pending": st.column_config.TextColumn(width=75),
    CONFIRM: st.column_config.CheckboxColumn(width=105),
    "Why": st.column_config.TextColumn(width=245),
    "Tags": annotation_views.COLUMN,
}


def load(lake: Lake, who: Principal, f: txns.TxnFilter | None = None, page: int = 0
         ) -> dict[str, Any]:
    rows, total = txns.search_transactions(lake, who, f or txns.TxnFilter(), page=page)
    review, waiting = txns.review_queue(lake, who)
    return {"rows": rows, "total": total, "choices": taxonomy.category_choices(lake, who),
            "review": review, "waiting": waiting}


def _filters(lake: Lake, who: Principal) -> txns.TxnFilter:
    with st.expander("Search", expanded=True):
        c1, c2, c3 = st.columns([3, 2, 2])
        text = c1.text_input("Description, merchant, tag or note", key="txn_text")
        primaries = {c["category_primary"]: c["primary_display_name"] for c in categories()}
        category = c2.selectbox("Category", [None, *sorted(primaries, key=primaries.get)],
                                format_func=lambda c: "Any" if c is None else primaries[c],
                                key="txn_category")
        dates = c3.date_input("Dates", value=(), key="txn_dates", format="YYYY-MM-DD")
        c4, c5, c6 = st.columns([2, 2, 3])
        low = c4.number_input("Amount at least ($)", min_value=0.0, value=None, step=10.0,
                              key="txn_min")
        high = c5.number_input("Amount at most ($)", min_value=0.0, value=None, step=10.0,
                               key="txn_max")
        tag = annotation_views.tag_filter(lake, who, c6)
    start = dates[0] if len(dates) >= 1 else None
    end = dates[1] if len(dates) == 2 else None
    return txns.TxnFilter(text=text or "", min_amount=low, max_amount=high,
                          start=start if isinstance(start, date) else None,
                          end=end if isinstance(end, date) else None, category=category,
                          tag=tag)


def _nothing_chosen_yet(chosen_for: str) -> None:
    """No new category is chosen until the person chooses one: other rows, or a change just
    saved, start again from the placeholder (a category chosen beforehand would be one
    careless click from being applied)."""
    if st.session_state.get(CHOSEN_FOR_KEY) != chosen_for:
        st.session_state[CATEGORY_KEY] = None  # before the widget exists in this run
        st.session_state[CHOSEN_FOR_KEY] = chosen_for


def _saved(message: str) -> None:
    st.session_state.pop(CHOSEN_FOR_KEY, None)  # the next run starts from the placeholder
    _fresh_tables()
    ui.flash_and_rerun(message)


def _fresh_tables() -> None:
    st.session_state[EDITS_KEY] = int(st.session_state.get(EDITS_KEY, 0)) + 1


def short_names(codes: dict[str, str]) -> dict[str, str]:
    """Code -> the name a table cell shows: the category's own name ("Groceries"), or
    "Primary › Name" where two primaries have a category of that name ("Other")."""
    own = {code: label.split(" › ", 1)[-1] for code, label in codes.items()}
    seen = pd.Series(list(own.values())).value_counts()
    return {code: name if seen[name] == 1 else codes[code] for code, name in own.items()}


def _cells(rows: pd.DataFrame, names: dict[str, str]) -> list[str]:
    """The Category cell of each row: its name, "(updating)" while the change waits for the
    next refresh (the totals do not count it yet)."""
    pending = rows["change_pending"] if "change_pending" in rows else [False] * len(rows)
    return [names.get(c, n) + (" (updating)" if p else "") for c, n, p in
            zip(rows["category"], rows["category_name"], pending, strict=True)]


def _table(rows: pd.DataFrame, names: dict[str, str], **more: Any) -> pd.DataFrame:
    """What a table shows of ``rows``: the key columns, then ``more`` (name -> values)."""
    return pd.DataFrame({
        "Date": [ui.format_day(x) for x in rows["date"]],
        "Amount": [ui.format_flow(a, c) for a, c in
                   zip(rows["amount"], rows["currency"], strict=True)],
        "Category": _cells(rows, names),
        "Description": rows["description"],
        **more,
    })


def _editor(table: pd.DataFrame, key: str, names: dict[str, str], editable: set[str]
            ) -> pd.DataFrame:
    """``table`` with its Category (a choice of every category) and the ``editable`` columns
    open to edits; the table as the person left it. A cell shows only a name among the
    choices: those the table shows already ("Uncategorised", "... (updating)") are among
    them, and choosing one changes nothing."""
    options = sorted({*names.values(), *table["Category"]}, key=str.casefold)
    return st.data_editor(
        ui.money_in_green(table), hide_index=True, width="stretch",
        key=f"{key}_{st.session_state.get(EDITS_KEY, 0)}",
        disabled=[c for c in table.columns if c not in editable],
        column_config={**{c: COLUMNS[c] for c in table.columns}, "Category":
                       st.column_config.SelectboxColumn(width=COLUMNS["Category"]["width"],
                                                        options=options, required=True)})


def _category_edits(rows: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame,
                    names: dict[str, str]) -> tuple[dict[str, str], bool]:
    """The categories edited in the table (transaction id -> code), leaving out a row given
    the category it already has; and whether any cell was edited at all."""
    by_name = {name: code for code, name in names.items()}
    changes, edited = {}, False
    for i, (old, new) in enumerate(zip(before["Category"], after["Category"], strict=True)):
        if new == old:
            continue
        edited = True
        code = by_name.get(new)
        if code is not None and code != rows["category"].iloc[i]:
            changes[str(rows["txn_id"].iloc[i])] = code
    return changes, edited


def _recategorised(rows: pd.DataFrame, changes: dict[str, str], codes: dict[str, str]) -> str:
    """``3 transactions recategorised: A → X, B → Y, C → Z.`` (at most three named)."""
    described = dict(zip(rows["txn_id"].astype(str), rows["description"], strict=True))
    named = [f"{plain(described[t])} → {plain(codes[c])}" for t, c in list(changes.items())[:3]]
    n = len(changes)
    return (f"{n} transaction{'s' if n != 1 else ''} recategorised: {', '.join(named)}"
            f"{', …' if n > 3 else ''}.")


def _apply_edits(lake: Lake, who: Principal, rows: pd.DataFrame, changes: dict[str, str],
                 codes: dict[str, str]) -> None:
    try:
        actions.recategorise_many(lake, who, changes)
    except actions.ActionError as error:
        _fresh_tables()
        st.error(plain(error))
    else:
        _saved(f"{_recategorised(rows, changes, codes)} Totals and budgets include "
               f"{'it' if len(changes) == 1 else 'them'} after the next refresh.")


def _pages(page: int, pages: int) -> None:
    prev, _, nxt = st.columns([1, 4, 1])
    if prev.button("← Newer", disabled=page == 0, key="txn_prev"):
        st.session_state[PAGE_KEY] = page - 1
        st.rerun()
    if nxt.button("Older →", disabled=page >= pages - 1, key="txn_next"):
        st.session_state[PAGE_KEY] = page + 1
        st.rerun()


def _all(lake: Lake, who: Principal, d: dict[str, Any], page: int) -> None:
    rows, total, codes = d["rows"], d["total"], dict(d["choices"])
    pages = max(1, -(-total // txns.PAGE_SIZE))
    page = min(page, pages - 1)
    st.caption(f"{total:,} transactions · page {page + 1} of {pages} · money in is "
               "positive (green), money out negative")
    bulk = st.toggle("Tick several to change them together", key=BULK_KEY)
    names = short_names(codes)
    table = _table(rows, names, Merchant=rows["merchant"].fillna(""),
                   Pending=["Pending" if p else "" for p in rows["pending"]],
                   **annotation_views.tag_column(lake, who, rows))
    ticked: list[int] = []
    if bulk:
        picked = st.dataframe(ui.money_in_green(table), hide_index=True, width="stretch",
                              on_select="rerun", selection_mode="multi-row",
                              key=f"{TABLE_KEY}_{page}_{st.session_state.get(EDITS_KEY, 0)}",
                              column_config={c: COLUMNS[c] for c in table.columns})
        ticked = [i for i in picked.selection.rows if i < len(rows)]
    else:
        st.caption("Change a category right in the table: it is saved at once.")
        edited = _editor(table, f"{GRID_KEY}_{page}", names, {"Category"})
        changes, any_edit = _category_edits(rows, table, edited, names)
        if changes:
            _apply_edits(lake, who, rows, changes, codes)
        elif any_edit:
            _fresh_tables()
            st.info("Nothing changed: each edited transaction already has that category.")
    _pages(page, pages)
    if rows.empty:
        return
    st.subheader("Change a category")
    if len(ticked) > 1:
        _change_many(lake, who, rows.iloc[ticked], codes)
    else:
        _change_one(lake, who, rows, ticked[0] if ticked else 0, page, codes)
    annotation_views.editor(lake, who, rows, page)
    split_views.editor(lake, who, rows, page)


def _change_many(lake: Lake, who: Principal, rows: pd.DataFrame, codes: dict[str, str]
                 ) -> None:
    """One new category for every ticked transaction, in one change."""
    ids = [str(t) for t in rows["txn_id"]]
    st.caption(f"{len(ids)} ticked: " + ", ".join(plain(d) for d in rows["description"]))
    _nothing_chosen_yet("ticked:" + ",".join(ids))
    category = st.selectbox("New category", list(codes), index=None, placeholder=PLACEHOLDER,
                            format_func=codes.get, key=CATEGORY_KEY)
    if not st.button(f"Set for the {len(ids)} ticked transactions", type="primary",
                     key="txn_set_many"):
        return
    if category is None:  # a click alone changes nothing
        st.warning(NOTHING_CHOSEN)
        return
    _apply_edits(lake, who, rows, dict.fromkeys(ids, category), codes)


def _change_one(lake: Lake, who: Principal, rows: pd.DataFrame, index: int, page: int,
                codes: dict[str, str]) -> None:
    """A new category for one transaction, or for its merchant from now on."""
    labels = {f"{ui.format_day(r.date)} · {r.description} · {ui.format_money(r.amount)}": i
              for i, r in enumerate(rows.itertuples(index=False))}
    keys = list(labels)
    choice = st.selectbox("Transaction", keys, index=min(index, len(keys) - 1),
                          key=f"txn_pick_{page}_{index}")
    row = rows.iloc[labels[choice]]
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


# --- to review -------------------------------------------------------------------------------

def _why(reasons: tuple[str, ...], confidence: float | None) -> str:
    """Why a transaction is to review, in words: ``No category (the model was 41% sure)``."""
    sure = None if confidence is None or pd.isna(confidence) else f"{confidence:.0%} sure"
    said = {txns.UNCATEGORISED_REASON: "No category" + (f" (the model was {sure})"
                                                       if sure else ""),
            txns.LOW_CONFIDENCE: f"Unsure category ({sure})",
            txns.SENT_TWICE: "Your bank sent it twice, with other details",
            txns.SENT_AGAIN: "A copy your bank sent again under a new id: counted once",
            txns.SPLIT_STALE: "Your bank changed its amount after you split it: counted "
                              "whole until you split it again"}
    return "; ".join(said[r] for r in reasons)


def _review(lake: Lake, who: Principal, d: dict[str, Any]) -> None:
    queue, waiting, codes = d["review"], d["waiting"], dict(d["choices"])
    if queue.empty:
        st.success(f"Nothing to review: every transaction of the last {txns.REVIEW_MONTHS} "
                   "months has a category you can trust.")
        return
    count = (f"{waiting:,} transaction{'s' if waiting != 1 else ''} of the last "
             f"{txns.REVIEW_MONTHS} months to look at")
    if waiting > len(queue):
        count += f" (the newest {len(queue)} here)"
    st.caption(f"{count}. Pick the right category, or tick “{CONFIRM}” to keep the one "
               "shown: either takes it off this list.")
    names = short_names(codes)
    table = _table(queue, names, **{CONFIRM: False, "Why": [
        _why(r, c) for r, c in zip(queue["reasons"], queue["confidence"], strict=True)]})
    edited = _editor(table, REVIEW_KEY, names, {"Category", CONFIRM})
    changes, any_edit = _category_edits(queue, table, edited, names)
    confirmed = [str(t) for t, ok in zip(queue["txn_id"], edited[CONFIRM], strict=True)
                 if ok and str(t) not in changes]
    if changes or confirmed:
        _save_review(lake, who, queue, changes, confirmed, codes)
    elif any_edit:
        _fresh_tables()
        st.info("Nothing changed: each edited transaction already has that category.")
    review_views.not_duplicates(lake, who, queue)


def _save_review(lake: Lake, who: Principal, queue: pd.DataFrame, changes: dict[str, str],
                 confirmed: list[str], codes: dict[str, str]) -> None:
    reasons = dict(zip(queue["txn_id"].astype(str), queue["reasons"], strict=True))
    if any(txns.UNCATEGORISED_REASON in reasons[t] for t in confirmed):
        _fresh_tables()
        st.warning("A transaction without a category has nothing to confirm: choose its "
                   "category in the Category column instead. Nothing was changed.")
        return
    try:
        if changes:
            actions.recategorise_many(lake, who, changes)
        if confirmed:
            actions.confirm_categories(lake, who, confirmed)
    except actions.ActionError as error:
        _fresh_tables()
        st.error(plain(error))
        return
    said = [_recategorised(queue, changes, codes)] if changes else []
    if confirmed:
        n = len(confirmed)
        said.append(f"{n} transaction{'s' if n != 1 else ''} confirmed as "
                    f"{'it is' if n == 1 else 'they are'}.")
    _saved(" ".join(said))


def render() -> None:
    ctx = ui.page("Transactions", TABLES)
    if ctx is None:
        return
    lake, who = ctx
    view = st.session_state.get(VIEW_KEY) or ALL
    head = st.container()
    f = _filters(lake, who) if view == ALL else txns.TxnFilter()
    if view == ALL and st.session_state.get("txn_filter") != f:  # a new search: first page
        st.session_state["txn_filter"] = f
        st.session_state[PAGE_KEY] = 0
        _fresh_tables()  # nothing ticked or edited in other rows
    page = int(st.session_state.get(PAGE_KEY, 0)) if view == ALL else 0
    d = load(lake, who, f, page)
    labels = {ALL: "All transactions", REVIEW: f"To review ({d['waiting']:,})"}
    head.segmented_control("Show", [ALL, REVIEW], default=ALL, required=True, key=VIEW_KEY,
                           format_func=labels.get, label_visibility="collapsed")
    if view == REVIEW:
        _review(lake, who, d)
    else:
        _all(lake, who, d, page)


if __name__ == "__main__":
    render()
