"""Accounts and sync status: balances, last sync, re-link prompts, bank problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.auth import Principal
from dashboard.data import money
from dashboard.plain import plain
from lake.tables import ACCOUNTS, INSTITUTION_HEALTH

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [ACCOUNTS, INSTITUTION_HEALTH]
TYPES = {"depository": "Bank account", "credit": "Credit card", "loan": "Loan",
         "investment": "Investment"}
COLUMNS = {"Account": st.column_config.TextColumn(width=145),
           "Balance": st.column_config.TextColumn(width=90, alignment="right"),
           "Status": st.column_config.TextColumn(width=108),
           "Last synced": st.column_config.TextColumn(width=215),
           "Type": st.column_config.TextColumn(width=100),
           "Available": st.column_config.TextColumn(width=95, alignment="right")}


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    return {"accounts": money.accounts(lake, who)}


def render() -> None:
    ui.show_page("Accounts & sync", TABLES, load, _show)


def _show(_lake: Lake, _who: Principal, d: dict[str, Any]) -> None:
    accts = d["accounts"]
    if accts.empty:
        st.write("No linked accounts yet.")
        return
    for institution, rows in accts.groupby("institution", sort=True):
        states = set(rows["state"])
        st.subheader(plain(institution))
        if "relink" in states or "mfa" in states:
            st.warning("Your bank needs you to sign in again before we can update these "
                       "accounts: reconnect them from the app where you first linked them "
                       "(your bank's sign-in opens; your history is kept).", icon=":material/key:")
        # Account, Balance and Status fit a phone's screen (390 px); the rest follows.
        st.dataframe(pd.DataFrame({
            # the mask first: a narrow column cuts the end of a long name, not the digits
            "Account": [f"••{m} {n}" if m else str(n)
                        for n, m in zip(rows["name"], rows["mask"], strict=True)],
            # what a card or loan holds is owed: negative, as net worth counts it
            "Balance": [ui.format_money(b, c) for b, c in
                        zip(rows["balance_shown"], rows["currency"], strict=True)],
            "Status": [ui.STATE_LABELS[s] for s in rows["state"]],
            "Last synced": [ui.format_when(t) for t in rows["last_synced_at"]],
            "Type": [TYPES.get(t, str(t).capitalize()) for t in rows["type"]],
            "Available": [ui.format_money(b, c) for b, c in
                          zip(rows["balance_available"], rows["currency"], strict=True)],
        }), hide_index=True, width="stretch", column_config=COLUMNS)
        for r in rows[rows["needs_review"]].itertuples(index=False):
            st.info(f"The latest balance of {plain(r.name)} looked wrong and is held for "
                    "review" + (f": {plain(r.review_reason)}" if r.review_reason else "."),
                    icon=":material/search:")


if __name__ == "__main__":
    render()
