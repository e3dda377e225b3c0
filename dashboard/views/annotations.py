"""Tags and notes on the Transactions page: the tag filter of the search, the Tags column, and
the form that sets one transaction's tags and note (called by dashboard/views/transactions.py).

What people typed is shown as typed: in widgets and table cells (never markdown), and through
:func:`~dashboard.plain.plain` in messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import annotate, ui
from dashboard.actions import ActionError
from dashboard.auth import Principal
from dashboard.data import annotations
from dashboard.plain import plain
from pipelines.corrections.annotations import MAX_NOTE_CHARS, MAX_TAG_CHARS, MAX_TAGS

if TYPE_CHECKING:
    from lake.lake import Lake

TAG_FILTER_KEY = "txn_tag"
PICK_KEY = "txn_annotate_pick"
TAGS_KEY, NOTE_KEY = "txn_tags_text", "txn_note_text"
SAVE = "Save tags and note"
EDITS_KEY = "txn_annotate_edits"  # a new form after each save: it shows what was stored
COLUMN = st.column_config.TextColumn(width=140)


def tag_filter(lake: Lake, who: Principal, where: Any) -> str | None:
    """The search's tag choice (in ``where``, a column of the search form): any, or one of
    the tags the person uses."""
    tags = annotations.tags_in_use(lake, who)
    if st.session_state.get(TAG_FILTER_KEY) not in (None, *tags):
        st.session_state[TAG_FILTER_KEY] = None  # a tag no transaction has any longer
    return where.selectbox("Tag", [None, *tags], key=TAG_FILTER_KEY,
                           format_func=lambda t: "Any" if t is None else t)


def tag_column(lake: Lake, who: Principal, rows: pd.DataFrame) -> dict[str, list[str]]:
    """``{"Tags": [...]}``, each row's tags as one cell, when a row of ``rows`` has a tag or
    a note (a note shows as 🗒); else nothing (no empty column)."""
    found = annotations.annotations_for(lake, who, [str(t) for t in rows["txn_id"]])
    cells = []
    for t in rows["txn_id"]:
        tags, note = found[str(t)]
        cells.append(", ".join(tags) + (" 🗒" if note else ""))
    return {"Tags": [c.strip() for c in cells]} if any(cells) else {}


def _label(r: Any) -> str:
    return f"{ui.format_day(r.date)} · {r.description} · {ui.format_money(r.amount)}"


def editor(lake: Lake, who: Principal, rows: pd.DataFrame, page: int) -> None:
    """Pick one of the page's transactions; see and set its tags and note."""
    if rows.empty:
        return
    st.subheader("Tags and note")
    labels = {_label(r): str(r.txn_id) for r in rows.itertuples(index=False)}
    choice = st.selectbox("Transaction to tag", list(labels), key=f"{PICK_KEY}_{page}")
    txn_id = labels[choice]
    tags, note = annotations.annotations_for(lake, who, [txn_id])[txn_id]
    form = f"{txn_id}_{st.session_state.get(EDITS_KEY, 0)}"
    tags_text = st.text_input(
        "Tags", value=", ".join(tags), key=f"{TAGS_KEY}_{form}",
        placeholder="e.g. holiday-2026, business",
        help=f"Separate tags with commas; at most {MAX_TAGS} tags of {MAX_TAG_CHARS} "
             "characters. They are saved in lower case, spaces as -.")
    note_text = st.text_area("Note", value=note or "", key=f"{NOTE_KEY}_{form}",
                             max_chars=MAX_NOTE_CHARS, height=90)
    if not st.button(SAVE, key="txn_annotate_save"):
        return
    try:
        saved = annotate.save(lake, who, txn_id, tags_text, note_text)
    except ActionError as error:
        st.error(plain(error))
        return
    st.session_state[EDITS_KEY] = int(st.session_state.get(EDITS_KEY, 0)) + 1
    if not saved.changed:
        st.info("Nothing changed: those are already its tags and note.")
        return
    said = (f"tagged {', '.join(saved.tags)}" if saved.tags else "no tags") + (
        ", with a note" if saved.note else ", no note")
    description = rows.loc[rows["txn_id"].astype(str) == txn_id, "description"].iloc[0]
    ui.flash_and_rerun(f"{plain(description)}: {plain(said)}.")
