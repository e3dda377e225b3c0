"""finlake dashboard: each person's money, from the lake's gold tables.

Run with ``finlake dashboard`` (or ``streamlit run dashboard/app.py``). The lake comes from
``core.settings`` (``FINLAKE_HOME``, or the S3 variables in production). Pages live in
``dashboard/views/`` (not ``pages/``: Streamlit would treat that as a second, automatic
navigation); each has a ``load(lake, principal)`` that does all of its data access
through ``dashboard/data/`` (timed by ``bench/page_load.py``).

Nothing shows before signing in but the sign-in form (``dashboard/auth.py``): every page's
URL is registered to the form only, so a bookmarked page asks for a sign-in first, unless
the browser holds a session cookie that is still good (``dashboard/session_cookie.py``): then
a reload or a new tab carries on signed in, until signing out or 12 hours after signing in. After
signing in, navigation registers only the pages the role may see: a person's seven pages for a
user login, the Analytics page alone for an analyst. A URL of a page the role may not see
leads to the role's first page.

Every page has its own address (``/overview``, ``/spending``, ... ``/analytics``), and ``/``
leads to the role's first page (its home page): the root is a hidden page of its own, because
Streamlit serves a ``default=True`` page at ``/`` only, never at its ``url_path``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import streamlit as st

from core.file_modes import keep_files_private
from dashboard import ui
from dashboard.auth import Principal

USER_PAGES = [
    ("views/overview.py", "Overview", ":material/dashboard:"),
    ("views/spending.py", "Spending", ":material/bar_chart:"),
    ("views/budgets.py", "Budgets", ":material/savings:"),
    ("views/transactions.py", "Transactions", ":material/receipt_long:"),
    ("views/recurring.py", "Recurring", ":material/event_repeat:"),
    ("views/accounts.py", "Accounts & sync", ":material/account_balance:"),
    ("views/rules.py", "Rules", ":material/rule:"),
]
ANALYST_PAGES = [("views/analytics.py", "Analytics", ":material/query_stats:")]
ROOT = ""  # the url path of "/"


def allowed(who: Principal) -> list[tuple[str, str, str]]:
    """The pages ``who``'s role may see (the first is its home page)."""
    return ANALYST_PAGES if who.is_analyst else USER_PAGES


def _url(path: str) -> str:
    return PurePosixPath(path).stem  # a page file's address: views/overview.py -> /overview


def _root(home: st.Page) -> st.Page:
    """The page at ``/``: it goes to ``home``, which keeps its own address (a default page
    would be served at ``/`` instead of it) and its place in the menu."""
    def go_home() -> None:
        st.switch_page(home)

    return st.Page(go_home, title=home.title, icon=home.icon, url_path=ROOT, default=True,
                   visibility="hidden")


def _sign_in_navigation() -> st.navigation:
    """The sign-in form under every page's URL. Once someone signs in, the same URL shows the
    real page if their role may see it, else their role's home page."""
    forms: dict[str, st.Page] = {}

    def form_at(url: str) -> Callable[[], None]:
        def show() -> None:
            who = ui.sign_in_form()
            if who is None:
                return
            urls = [_url(path) for path, _, _ in allowed(who)]
            if url in urls:
                st.rerun()
            st.switch_page(forms[urls[0]])

        show.__name__ = f"sign_in_{url}"
        return show

    for url in [ROOT] + [_url(path) for path, _, _ in USER_PAGES + ANALYST_PAGES]:
        forms[url] = st.Page(form_at(url), title="Sign in", icon=":material/login:",
                             url_path=url, default=url == ROOT)
    return st.navigation(list(forms.values()), position="hidden")


def main() -> None:
    keep_files_private()  # budgets, overrides and audit rows are written from here
    st.set_page_config(page_title="finlake", page_icon=":material/savings:", layout="wide")
    if ui.lake() is None:  # the configuration is wrong: said on the page, nothing else to do
        return
    who = ui.principal()
    if who is None:
        _sign_in_navigation().run()
        ui.forget_session_cookie()
        return
    pages = [st.Page(path, title=title, icon=icon, url_path=_url(path))
             for path, title, icon in allowed(who)]
    nav = st.navigation([_root(pages[0]), *pages])
    ui.sidebar(who)
    nav.run()


main()
