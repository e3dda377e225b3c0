"""The Accounts page's manual accounts: add one, add a transaction to one, upload a bank's
file into one (dashboard/manual.py runs each as a ``finlake`` child process)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from connectors.files.importing import MANUAL_TYPES
from connectors.files.statement import MAX_FILE_BYTES
from dashboard import manual, ui
from dashboard.auth import Principal
from dashboard.data import taxonomy
from dashboard.plain import plain
from pipelines.categories.reference import currencies

if TYPE_CHECKING:
    from lake.lake import Lake

KIND_LABELS = {"checking": "Checking", "savings": "Savings", "credit card": "Credit card",
               "loan": "Loan", "cash": "Cash"}
MONEY_OUT, MONEY_IN = "Money out", "Money in"
ACTION_KEY = "manual_action"  # which form is open (none until the person picks one)
ADD_ACCOUNT, ADD_TRANSACTION, UPLOAD = "Add a manual account", "Add a transaction", \
    "Upload a bank file"
ICONS = {ADD_ACCOUNT: ":material/add_card:", ADD_TRANSACTION: ":material/edit_note:",
         UPLOAD: ":material/upload_file:"}
DEFAULT_CURRENCY = "USD"


def table(rows: pd.DataFrame) -> None:
    """The person's manual accounts: no bank behind them, nothing to sync."""
    st.dataframe(pd.DataFrame({
        "Account": [str(n) for n in rows["name"]],
        "Balance": [ui.format_money(b, c) for b, c in
                    zip(rows["balance_shown"], rows["currency"], strict=True)],
        "Type": [KIND_LABELS.get(str(s), str(s).capitalize()) for s in rows["subtype"]],
        "Status": ["Kept by you"] * len(rows),
    }), hide_index=True, width="stretch")


def actions(lake: Lake, who: Principal, own: pd.DataFrame) -> None:
    """Accounts no bank link covers: a choice of what to do, then its form."""
    names = [str(n) for n in own["name"]]
    choices = [ADD_ACCOUNT, *([ADD_TRANSACTION] if names else []), UPLOAD]
    chosen = st.segmented_control("Accounts you keep yourself", choices, key=ACTION_KEY,
                                  format_func=lambda c: f"{ICONS[c]} {c}")
    if chosen == ADD_ACCOUNT:
        account_form(lake, who)
    elif chosen == ADD_TRANSACTION and names:
        transaction_form(lake, who, names)
    elif chosen == UPLOAD:
        upload_form(lake, who)


def _empty(*keys: str) -> None:
    """The form's fields as new after the rerun (what they held was saved)."""
    for key in keys:
        st.session_state.pop(key, None)


def _money(text: str) -> Decimal | None | str:
    """What a money field holds: nothing, a number, or the text as typed (the command's
    check says what is wrong with it)."""
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return text


def account_form(lake: Lake, who: Principal) -> None:
    with st.form("manual_account", clear_on_submit=False):
        name = st.text_input("Name", key="manual_name", max_chars=100,
                             placeholder="e.g. Wallet, Car loan, Credit union")
        kind = st.selectbox("Type", list(MANUAL_TYPES), format_func=KIND_LABELS.get,
                            key="manual_type")
        known = currencies()
        currency = st.selectbox("Currency", known, index=known.index(DEFAULT_CURRENCY),
                                key="manual_currency")
        balance = st.text_input("Balance now (optional)", key="manual_balance",
                                placeholder="e.g. 120.00",
                                help="What it holds; for a credit card or loan, what you owe")
        submitted = st.form_submit_button("Add the account", type="primary",
                                          icon=":material/add:")
    if not submitted:
        return
    given = _money(balance)
    if isinstance(given, str):
        manual.refused(f"The balance {given[:30]!r} is not a number; write it like 120.00. "
                       "Nothing was added.")
        return
    outcome = manual.add_account(who, name, kind, currency, given)
    if outcome.error is None:
        _empty("manual_name", "manual_balance")
        manual.finished(lake, f"Added the manual account {plain(' '.join(name.split()))}.")


def transaction_form(lake: Lake, who: Principal, names: list[str]) -> None:
    codes = dict(taxonomy.category_choices(lake, who))
    with st.form("manual_transaction", clear_on_submit=False):
        account = st.selectbox("Account", names, key="manual_txn_account")
        day = st.date_input("Date", value=date.today(), key="manual_txn_date",
                            max_value=date.today() + timedelta(days=1), format="YYYY-MM-DD")
        description = st.text_input("Description", key="manual_txn_description",
                                    max_chars=1000, placeholder="e.g. Farmers market")
        amount = st.text_input("Amount", key="manual_txn_amount", placeholder="e.g. 12.50")
        direction = st.radio("Money", [MONEY_OUT, MONEY_IN], horizontal=True,
                             key="manual_txn_direction", label_visibility="collapsed")
        category = st.selectbox("Category (optional)", list(codes), index=None,
                                format_func=codes.get, key="manual_txn_category",
                                placeholder="Categorised like any transaction")
        submitted = st.form_submit_button("Add the transaction", type="primary",
                                          icon=":material/add:")
    manual.entry_id()  # this form's id, kept until a transaction is added
    if not submitted:
        return
    given = _money(amount)
    if isinstance(given, str) or given is None:
        manual.refused(f"The amount {amount[:30]!r} is not a number; write it like 12.50. "
                       "Nothing was added.")
        return
    outcome = manual.add_transaction(who, str(account), day if isinstance(day, date) else None,
                                     description, given, direction == MONEY_OUT, category)
    if outcome.error is None:  # an empty form: one more click adds nothing by mistake
        _empty("manual_txn_description", "manual_txn_amount", "manual_txn_category")
        said = outcome.steps[-1] if outcome.steps else "Added."
        manual.finished(lake, plain(said))


def upload_form(lake: Lake, who: Principal) -> None:
    most = MAX_FILE_BYTES // 1024 // 1024
    with st.form("manual_upload", clear_on_submit=True):
        upload = st.file_uploader(f"Your bank's export: OFX, QFX or CSV, at most {most} MB",
                                  type=["ofx", "qfx", "csv"], key="manual_upload_file",
                                  max_upload_size=most)
        account = st.text_input("Into the manual account", key="manual_upload_account",
                                max_chars=100, help="One of your manual accounts, or a new "
                                "one of this name")
        currency = st.selectbox("Currency, if the file does not say", currencies(), index=None,
                                key="manual_upload_currency", placeholder="From the file")
        submitted = st.form_submit_button("Import", type="primary", icon=":material/upload:")
    if not submitted:
        return
    if upload is None:
        manual.refused("Choose the file to import first: nothing was imported.")
        return
    if upload.size > MAX_FILE_BYTES:  # before reading it: the browser's limit can be dodged
        manual.refused(manual.too_large(upload.size))
        return
    outcome = manual.import_file(who, account, upload.name, upload.getvalue(), currency)
    if outcome.error is None:
        said = outcome.steps[-1] if outcome.steps else "Imported."
        manual.finished(lake, plain(said))

