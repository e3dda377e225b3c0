"""finlake dashboard: each person's money, from the lake's gold tables.

Run with ``finlake dashboard`` (or ``streamlit run dashboard/app.py``). The lake comes from
``finlake.settings`` (``FINLAKE_HOME``, or the S3 variables in production). Pages live in
``dashboard/views/`` (not ``pages/``: Streamlit would treat that as a second, automatic
navigation); each has a ``load(lake, user_id)`` that does all of its data access
through ``dashboard/data.py`` (timed by ``bench/page_load.py``).
"""

from __future__ import annotations

import streamlit as st

from dashboard import ui

PAGES = [
    ("views/overview.py", "Overview", ":material/dashboard:"),
    ("views/spending.py", "Spending", ":material/bar_chart:"),
    ("views/budgets.py", "Budgets", ":material/savings:"),
    ("views/transactions.py", "Transactions", ":material/receipt_long:"),
    ("views/recurring.py", "Recurring", ":material/event_repeat:"),
    ("views/accounts.py", "Accounts & sync", ":material/account_balance:"),
]


def main() -> None:
    st.set_page_config(page_title="finlake", page_icon=":material/savings:", layout="wide")
    pages = [st.Page(path, title=title, icon=icon, default=i == 0)
             for i, (path, title, icon) in enumerate(PAGES)]
    nav = st.navigation(pages)
    lake = ui.lake()
    if lake is not None:
        ui.pick_user(lake)
    nav.run()


main()
