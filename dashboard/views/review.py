"""The "To review" list's copies a bank sent again under a new id: the person says one is not
a duplicate (``finlake duplicate keep``, run as a child process by dashboard/manual.py); it
counts again and leaves the list."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from dashboard import manual, ui
from dashboard.auth import Principal
from dashboard.data import txns
from dashboard.plain import plain

if TYPE_CHECKING:
    from lake.lake import Lake

NOT_DUPLICATE = "Not a duplicate"


def copies(queue: pd.DataFrame) -> pd.DataFrame:
    """The rows of the review queue that are probable duplicates (reason ``sent_again``)."""
    return queue[[txns.SENT_AGAIN in r for r in queue["reasons"]]]


def not_duplicates(lake: Lake, who: Principal, queue: pd.DataFrame) -> None:
    """A "Not a duplicate" button for each copy: it counts again once kept."""
    sent = copies(queue)
    if sent.empty:
        return
    st.subheader("Sent again by your bank?")
    st.caption("Each of these looks like a copy of another transaction, so it is counted "
               "once. If you really made both, say so: it counts again.")
    for r in sent.itertuples(index=False):
        text, cell = st.columns([4, 1], vertical_alignment="center")
        text.markdown(f"{ui.format_day(r.date)} · {plain(r.description)} · "
                      f"{plain(ui.format_flow(r.amount, r.currency))}")
        if cell.button(NOT_DUPLICATE, key=f"keep_{r.txn_id}", icon=":material/call_split:"):
            outcome = manual.keep(who, str(r.txn_id), str(r.description))
            if outcome.error is None:
                manual.finished(lake, f"{plain(r.description)} is not a duplicate: it counts "
                                "again in your totals.")
