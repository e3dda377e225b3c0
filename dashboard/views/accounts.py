"""Accounts and sync status: balances, last sync, bank problems; link a bank, reconnect one
whose login expired, refresh one now (dashboard/linking.py runs them); the person's manual
accounts, a transaction added to one and a bank's file uploaded into one
(dashboard/views/manual_forms.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from connectors.linking import SANDBOX_PASSWORD, SANDBOX_USERNAME
from dashboard import linking, ui
from dashboard.auth import Principal
from dashboard.data import money
from dashboard.plain import plain
from dashboard.views import manual_forms
from lake.tables import ACCOUNTS, INSTITUTION_HEALTH
from lake.tables_ledger import MANUAL_INSTITUTION

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
RECONNECT_KEY = "_reconnect_institution"  # the bank whose sign-in form is open
SANDBOX_HINT = f"Sandbox bank: sign in with **{SANDBOX_USERNAME}** / **{SANDBOX_PASSWORD}**."


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    return {"accounts": money.accounts(lake, who), "linked": linking.linked(lake, who)}


def render() -> None:
    ui.show_page("Accounts & sync", TABLES, load, _show)


def _show(lake: Lake, who: Principal, d: dict[str, Any]) -> None:
    linking.show_stopped()
    accts, linked = d["accounts"], d["linked"]
    own = accts[accts["institution_id"] == MANUAL_INSTITUTION]
    accts = accts[accts["institution_id"] != MANUAL_INSTITUTION]
    names = linking.institutions() if linking.available() else {}
    if accts.empty and not linked:
        st.write("No linked accounts yet.")
    for institution_id, rows in accts.groupby("institution_id", sort=False):
        _bank(lake, who, str(institution_id), str(rows["institution"].iloc[0]), rows,
              set(rows["state"]))
    for institution_id in sorted(set(linked) - set(accts["institution_id"])):  # no accounts yet
        _bank(lake, who, institution_id, names.get(institution_id, institution_id), None,
              {linking.STATES.get(linked[institution_id], "ok")})
    if not own.empty:
        st.subheader("Manual accounts")
        st.caption("Kept by you: add their transactions below, or upload your bank's file.")
        manual_forms.table(own)
    # Open when there is no bank yet (or its outcome is to be seen); a button-sized line else.
    with st.expander("Link a bank", icon=":material/add_link:",
                     expanded=(accts.empty and not linked) or linking.shows(linking.LINK)):
        _link_form(lake, who, names, linked)
    manual_forms.actions(lake, who, own)
    linking.forget_last()


def _bank(lake: Lake, who: Principal, institution_id: str, name: str,
          rows: pd.DataFrame | None, states: set[str]) -> None:
    """One bank: its problems, what can be done about them, its accounts."""
    st.subheader(plain(name))
    expired = "relink" in states or "mfa" in states
    if expired:
        st.warning("Your bank needs you to sign in again before we can update these "
                   "accounts: Reconnect, and your bank's sign-in opens (your history is "
                   "kept).", icon=":material/key:")
    elif rows is None:
        st.caption("Linked: its accounts show here once a sync brings their first "
                   "transactions.")
    with st.container(horizontal=True):
        if expired and st.button("Reconnect", key=f"reconnect_{institution_id}",
                                 icon=":material/key:", type="primary"):
            st.session_state[RECONNECT_KEY] = institution_id
        refresh = st.button("Refresh now", key=f"refresh_{institution_id}",
                            icon=":material/sync:", disabled=expired,
                            help="Sign in again first" if expired else
                            "Fetch new transactions from this bank now")
    if expired and st.session_state.get(RECONNECT_KEY) == institution_id:
        _reconnect_form(lake, who, institution_id, name)
    if refresh:
        _done(lake, linking.refresh(who, institution_id, name))
    linking.show_last(institution_id)
    if rows is not None:
        _accounts_table(rows)


def _accounts_table(rows: pd.DataFrame) -> None:
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


def _reconnect_form(lake: Lake, who: Principal, institution_id: str, name: str) -> None:
    if not linking.available():
        st.info("Reconnect through your bank partner's Link, in the app where you linked "
                "this bank (it is not available here).")
        return
    with st.form(f"reconnect_form_{institution_id}", clear_on_submit=True):
        st.markdown(f"Sign in to **{plain(name)}** again")
        username, password = _sign_in_fields(f"reconnect_{institution_id}")
        submitted = st.form_submit_button("Sign in again", type="primary")
    if submitted:
        outcome = linking.reconnect(who, institution_id, name, username, password)
        if outcome.error is None:
            st.session_state.pop(RECONNECT_KEY, None)
        _done(lake, outcome)


def _link_form(lake: Lake, who: Principal, names: dict[str, str],
               linked: dict[str, str]) -> None:
    if not linking.available():
        st.info("Linking happens through your bank partner's Link, which is not available "
                "here: link banks in the partner's app, and they show here after the next "
                "sync.", icon=":material/link:")
        return
    if not names:
        st.info("The sandbox bank is not set up yet: run `finlake demo` first.",
                icon=":material/link:")
        return
    with st.form("link_bank", clear_on_submit=True):
        chosen = st.selectbox("Your bank", list(names), index=None, key="link_institution",
                              placeholder="Choose your bank…",
                              format_func=lambda i: names[i] + (" (linked)" if i in linked
                                                                else ""))
        username, password = _sign_in_fields("link")
        submitted = st.form_submit_button("Sign in and link", type="primary",
                                          icon=":material/add_link:")
    linking.show_last(linking.LINK)
    if not submitted:
        return
    if chosen is None:
        st.error("Choose your bank first: nothing was linked.")
    elif chosen in linked:
        st.info(f"{plain(names[chosen])} is already linked"
                + (": use Reconnect above to sign in again." if linked[chosen] != "active"
                   else "."), icon=":material/link:")
    else:
        _done(lake, linking.link(who, chosen, names[chosen], username, password))


def _sign_in_fields(key: str) -> tuple[str, str]:
    username = st.text_input("Username", key=f"{key}_username", autocomplete="off")
    password = st.text_input("Password", type="password", key=f"{key}_password",
                             autocomplete="off")
    st.caption(SANDBOX_HINT)
    return username, password


def _done(lake: Lake, outcome: linking.Outcome) -> None:
    """A finished action: on success the page shows again from the lake (new accounts,
    states); a failure stays on screen where it happened."""
    if outcome.error is None:
        linking.finished(lake, outcome)


if __name__ == "__main__":
    render()
