"""What every dashboard page shares: the lake, the signed-in principal (sign-in form, session
cookie and sign-out), money and date formats, the freshness banner and chart helpers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from core.settings import ConfigError, load_settings
from dashboard import auth, session_cookie
from dashboard.auth import Principal
from dashboard.data import money, queries
from dashboard.plain import plain
from lake.lake import Lake

if TYPE_CHECKING:
    from lake.tables import Table

EMPTY_MESSAGE = "No data yet: run `./dev demo` (or the nightly job) to fill the lake."
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CAD": "CA$"}
log = logging.getLogger(__name__)

# The signed-in principal: a session_state key no widget uses (no widget key of the
# dashboard starts with an underscore), set only from dashboard.auth: by sign_in_form(), or
# from the session cookie the page was loaded with.
PRINCIPAL_KEY = "_finlake_principal"
TOKEN_KEY = "_finlake_session_token"  # the session's signed token (dashboard/session_cookie.py)
CHECKED_KEY = "_finlake_session_checked"  # when (time.monotonic) the token was last verified
COOKIE_READ_KEY = "_finlake_cookie_read"  # the cookie the page loaded with has been tried
WRITE_COOKIE_KEY = "_finlake_write_cookie"  # the script storing a new sign-in's token
DEAD_COOKIE_KEY = "_finlake_dead_cookie"  # a token the browser should no longer keep
RECHECK_SECONDS = 30.0  # an open session notices a sign-out elsewhere within this
FLASH_KEY = "flash"
NO_LOGINS = ("No one can sign in yet: create a login with `finlake login add LOGIN --user "
             "USER_ID` (or `--analyst`); `finlake demo` creates one called `demo`.")
SIGN_IN_FAILED = "That login and password do not match (or the login may not sign in now)."
STATE_LABELS = {
    "ok": "Up to date",
    "stale": "Not updated recently",
    "relink": "Sign in again",
    "mfa": "Needs a one-time code",
    "institution_down": "Bank having problems",
    "review": "Balance held for review",
}
BUDGET_LABELS = {"ok": "On track", "approaching": "Approaching limit",
                 "exceeded": "Over budget", "no_budget": "No budget"}
# A table's toolbar (search, download, full screen) shows above its top right corner on
# hover: room for it where a table follows a heading, which it would otherwise cover.
LAYOUT_CSS = """<style>
[data-testid="stElementContainer"]:has([data-testid="stHeading"])
  + [data-testid="stElementContainer"]:has([data-testid="stDataFrame"]) { margin-top: 2.5rem; }
</style>"""
MONEY_IN_COLOUR = "#1a7f37"  # money in, in every list of transactions
SOURCE_LABELS = {"manual": "set by you", "history": "from your history",
                 "template": "suggested from income", "none": ""}


def format_money(amount: float | Decimal | None, currency: str | None = "USD") -> str:
    """``1234.5`` -> ``$1,234.50``; ``-20`` -> ``-$20.00``; unknown currencies by code."""
    if amount is None or pd.isna(amount):
        return ""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    code = (currency or "USD").upper()
    symbol = SYMBOLS.get(code)
    text = f"{abs(value):,.2f}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"


def format_flow(amount: float | Decimal | None, currency: str | None = "USD") -> str:
    """A transaction's amount the way people read it: money in positive with a plus
    (``+$450.00``), money out negative (``-$12.34``). The lake keeps the partner's sign
    (positive is money out); only what is shown turns round."""
    if amount is None or pd.isna(amount):
        return ""
    value = -Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = format_money(value, currency)
    return f"+{text}" if value > 0 else text


def money_in_green(table: pd.DataFrame, column: str = "Amount") -> Any:
    """``table`` styled for st.dataframe: the ``column`` cells of money in (``+``) green."""
    return table.style.map(
        lambda v: f"color: {MONEY_IN_COLOUR}" if str(v).startswith("+") else "",
        subset=[column])


def format_when(when: datetime | None, now: datetime | None = None) -> str:
    """``2024-03-01 09:30 UTC (3 h ago)``; "never" when unknown."""
    if when is None or pd.isna(when):
        return "never"
    when = pd.Timestamp(when).to_pydatetime()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ago = ((now or datetime.now(UTC)) - when).total_seconds()
    if ago < 0:
        rel = ""
    elif ago < 3600:
        rel = f" ({int(ago // 60)} min ago)"
    elif ago < 2 * 86400:
        rel = f" ({int(ago // 3600)} h ago)"
    else:
        rel = f" ({int(ago // 86400)} days ago)"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") + rel


def month_label(month: str) -> str:
    """``2024-02`` -> ``Feb 2024``."""
    return datetime.strptime(month, "%Y-%m").strftime("%b %Y")


def format_day(day: date | datetime | None) -> str:
    if day is None or pd.isna(day):
        return ""
    return pd.Timestamp(day).strftime("%d %b %Y")


@st.cache_resource
def _lake(root: str, endpoint: str | None) -> Lake:
    return Lake(root, endpoint)


def lake() -> Lake | None:
    """The configured lake, or None (with an error on the page) if the config is wrong."""
    try:
        settings = load_settings()
    except ConfigError as error:
        st.error(f"finlake is not configured: {plain(error)}")
        return None
    return _lake(settings.lake_root, settings.s3_endpoint)


def principal() -> Principal | None:
    """Who this session is signed in as (None before signing in). Nothing a browser sends
    (query parameters, widget values) changes it: only :func:`sign_in_form` sets it, or a
    session cookie signed by :func:`_signed_in` that ``dashboard.auth`` still accepts (checked
    again every RECHECK_SECONDS: a sign-out elsewhere ends this session too)."""
    who = st.session_state.get(PRINCIPAL_KEY)
    if not isinstance(who, Principal):  # none yet, or e.g. a reloaded module's class
        st.session_state.pop(PRINCIPAL_KEY, None)
        return _resumed()
    return None if _session_ended(who) else who


def _session_key(*, create: bool = False) -> bytes | None:
    return session_cookie.session_key(load_settings().key_dir, create=create)


def _resumed() -> Principal | None:
    """The principal of the session's token (its Principal was lost when the dashboard's code
    was reloaded), else of the session cookie the page was loaded with (tried once a session).
    Any failure leaves it signed out, with nothing said but the sign-in form."""
    token = st.session_state.get(TOKEN_KEY)
    if token is None:
        if st.session_state.get(COOKIE_READ_KEY):
            return None
        st.session_state[COOKIE_READ_KEY] = True
        token = st.context.cookies.get(session_cookie.COOKIE)
    the_lake = lake()
    if not isinstance(token, str) or not token or the_lake is None:
        return None
    try:
        who = session_cookie.principal(the_lake, _session_key(), token)
    except Exception:  # the lake could not be read: signed out, the cookie kept for later
        log.warning("could not check a session cookie", exc_info=True)
        return None
    if who is None:
        _forget_session(token)
        return None
    st.session_state.update({TOKEN_KEY: token, CHECKED_KEY: time.monotonic(),
                             PRINCIPAL_KEY: who})
    return who


def _session_ended(who: Principal) -> bool:
    """Whether the session's token stopped being accepted (signed out elsewhere, login
    disabled or replaced, expired); then the session is forgotten and its cookie removed."""
    token = st.session_state.get(TOKEN_KEY)
    if token is None or time.monotonic() - st.session_state[CHECKED_KEY] < RECHECK_SECONDS:
        return False
    st.session_state[CHECKED_KEY] = time.monotonic()
    try:
        still = session_cookie.principal(lake(), _session_key(), token)
    except Exception:  # the lake could not be read: checked again next time
        log.warning("could not check a session cookie", exc_info=True)
        return False
    if still == who:
        return False
    _forget_session(token)
    return True


def _forget_session(token: str | None) -> None:
    st.session_state.clear()
    st.session_state[COOKIE_READ_KEY] = True  # the page's cookie: not tried again
    if token:
        st.session_state[DEAD_COOKIE_KEY] = token


def _signed_in(the_lake: Lake, who: Principal) -> Principal:
    """Store ``who`` for the session, with a new signed token for the browser to keep."""
    for key in (TOKEN_KEY, WRITE_COOKIE_KEY, DEAD_COOKIE_KEY):
        st.session_state.pop(key, None)
    st.session_state[PRINCIPAL_KEY] = who
    try:
        key, epoch = _session_key(create=True), auth.session_epoch(the_lake, who.login)
        if key is not None and epoch is not None:
            token = session_cookie.mint(key, who.login, epoch)
            st.session_state.update({
                TOKEN_KEY: token, CHECKED_KEY: time.monotonic(),
                WRITE_COOKIE_KEY: session_cookie.write_script(
                    token, session_cookie.seconds_left(key, token))})
    except Exception:  # signed in all the same, in this tab only
        log.warning("could not start a session cookie", exc_info=True)
    return who


def oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (Streamlit's OIDC)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _oidc_signed_in() -> bool:
    return bool(getattr(st.user, "is_logged_in", False))


def _oidc_sign_in(the_lake: Lake) -> Principal | None:
    user = st.user
    if not _oidc_signed_in():
        st.button("Sign in with your organisation's account", type="primary",
                  on_click=st.login, key="oidc_sign_in")
        return None
    email = user.get("email")
    if st.session_state.get("_oidc_refused") != email:
        who = auth.oidc_principal(the_lake, email, user.get("email_verified"))
        if who is not None:
            return _signed_in(the_lake, who)
        st.session_state["_oidc_refused"] = email  # audited once, not on every rerun
    st.error(f"{plain(email) or 'This account'} has no finlake login (or it is disabled). Ask an "
             "operator to run `finlake login add <your e-mail> --user USER_ID --no-password`.")
    st.button("Sign out of that account", on_click=st.logout, key="oidc_sign_out")
    return None


def sign_in_form() -> Principal | None:
    """The only thing shown before signing in: a login and password form (and the
    organisation's sign-in, when OIDC is configured). The principal once someone signed in
    (stored for the session; the caller reruns), else None."""
    the_lake = lake()
    if the_lake is None:
        return None
    st.title("Sign in to finlake")
    if not auth.has_logins(the_lake):
        st.info(f"{EMPTY_MESSAGE} {NO_LOGINS}")
    if oidc_configured():
        who = _oidc_sign_in(the_lake)
        if who is not None:
            return who
        st.caption("Or sign in with a finlake password:")
    with st.form("sign_in_form", clear_on_submit=True):
        login = st.text_input("Login", key="sign_in_login", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign_in_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return None
    who = auth.sign_in(the_lake, login, password)
    if who is None:
        st.error(SIGN_IN_FAILED)
        return None
    return _signed_in(the_lake, who)


def sign_out() -> None:
    """Forget the principal and everything else of this session, remove its cookie and end
    every session of the login (a copied cookie no longer works)."""
    who, token = st.session_state.get(PRINCIPAL_KEY), st.session_state.get(TOKEN_KEY)
    _forget_session(token)
    the_lake = lake()
    if isinstance(who, Principal) and the_lake is not None:
        try:
            auth.sign_out(the_lake, who)
        except Exception:  # this tab is signed out; the login's other sessions may not be
            log.error("could not end the sessions of a login", exc_info=True)
    if oidc_configured() and _oidc_signed_in():
        st.logout()


def forget_session_cookie() -> None:
    """Remove from the browser a session cookie that no longer works (signed out, refused)."""
    token = st.session_state.get(DEAD_COOKIE_KEY)
    if token:
        st.html(session_cookie.clear_script(token), unsafe_allow_javascript=True)


def sidebar(who: Principal) -> None:
    """Who is signed in, and the way out (and, after signing in, the cookie that keeps the
    session across reloads and tabs)."""
    role = " (analyst)" if who.is_analyst else ""
    st.sidebar.caption(f"Signed in as **{plain(who.login)}**{role}")
    st.sidebar.button("Sign out", on_click=sign_out, key="sign_out", icon=":material/logout:")
    script = st.session_state.get(WRITE_COOKIE_KEY)
    if script:
        st.sidebar.html(script, unsafe_allow_javascript=True)


def context() -> tuple[Lake, Principal] | None:
    """The lake and the signed-in person a per-user page shows, or None after saying why
    there is nothing (not signed in; an analyst, who sees aggregates only)."""
    the_lake = lake()
    if the_lake is None:
        return None
    who = principal()
    if who is None:
        st.info("Sign in to see this page.")
        return None
    if who.is_analyst:
        st.error("This page shows one person's money: analysts see the Analytics page only.")
        return None
    return the_lake, who


def page(title: str, tables: list[Table]) -> tuple[Lake, Principal] | None:
    """A page's start: the title, the freshness of ``tables`` for the person and the message a
    change left before the rerun; the lake and principal (None after saying why nothing
    shows)."""
    ctx = context()
    if ctx is None:
        return None
    st.html(LAYOUT_CSS)
    st.title(title)
    freshness(*ctx, tables)
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)
    return ctx


def show_page(title: str, tables: list[Table],
              load: Callable[[Lake, Principal], dict[str, Any]],
              show: Callable[[Lake, Principal, dict[str, Any]], None]) -> None:
    """A per-user page: :func:`page`, then ``show(lake, principal, data)`` with what the page's
    ``load(lake, principal)`` returned (nothing more once :func:`page` said why nothing shows)."""
    ctx = page(title, tables)
    if ctx is not None:
        show(*ctx, load(*ctx))


def flash_and_rerun(message: str) -> None:
    """Show ``message`` (markdown: escape what people typed with :func:`plain`) at the top
    of the page after a rerun (a change was saved)."""
    st.session_state[FLASH_KEY] = message
    st.rerun()


def freshness(the_lake: Lake, who: Principal, tables: list[Table]) -> None:
    """When this page's data was refreshed, and which accounts are stale or failing."""
    accts = money.accounts(the_lake, who)
    stamps = [t for t in (queries.refreshed_at(the_lake, t) for t in tables) if t is not None]
    refreshed = format_when(min(stamps)) if stamps else "not computed yet"
    synced = accts["last_synced_at"].dropna()
    st.caption(f"Data refreshed {refreshed} · accounts last synced "
               f"{format_when(synced.max()) if len(synced) else 'never'}")
    for (institution, state), rows in accts.groupby(["institution", "state"], sort=True):
        names = ", ".join(f"{plain(n)} ••{plain(m)}" if m else plain(n)
                          for n, m in zip(rows["name"], rows["mask"], strict=True))
        bank = plain(institution)
        last = format_when(rows["last_synced_at"].min())
        if state == "relink":
            st.warning(f"**{bank}** needs you to sign in again ({names}). "
                       "Reconnect it on the Accounts page; until then these accounts are not "
                       "updated.", icon=":material/key:")
        elif state == "mfa":
            st.warning(f"**{bank}** asks for a one-time code ({names}). Reconnect it "
                       "on the Accounts page.", icon=":material/key:")
        elif state == "institution_down":
            st.warning(f"**{bank}** is having problems; {names} may be out of date "
                       f"(last synced {last}). We retry automatically.", icon=":material/warning:")
        elif state == "stale":
            st.info(f"Not updated recently: {names} at {bank} (last synced {last}).",
                    icon=":material/schedule:")
