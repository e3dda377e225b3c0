"""What every dashboard page shares: the lake, the user, money and date formats, the
freshness banner and chart helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data
from finlake.settings import ConfigError, load_settings
from lake.catalog import Lake

if TYPE_CHECKING:
    from lake.tables import Table

EMPTY_MESSAGE = "No data yet: run `./dev demo` (or the nightly job) to fill the lake."
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CAD": "CA$"}
USER_KEY = "user_id"
FLASH_KEY = "flash"
LIST_USERS_UP_TO = 1000  # beyond this the sidebar asks for a user id instead of listing
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
        st.error(f"finlake is not configured: {error}")
        return None
    return _lake(settings.lake_root, settings.s3_endpoint)


def pick_user(the_lake: Lake) -> str | None:
    """The sidebar's user choice, kept in ``st.session_state['user_id']`` (a plain key, not
    the widget's, so it survives page switches)."""
    people = data.users(the_lake, limit=LIST_USERS_UP_TO + 1)
    if not people:
        st.session_state.pop(USER_KEY, None)
        return None
    current = st.session_state.get(USER_KEY)
    if len(people) <= LIST_USERS_UP_TO:
        if current not in people:
            current = people[0]
        chosen = st.sidebar.selectbox("User", people, index=people.index(current))
    else:  # too many to list: ask for the id and check it with one parameterised query
        chosen = st.sidebar.text_input("User id", value=current or people[0]).strip()
        if not data.has_user(the_lake, chosen):
            st.sidebar.error(f"No user {chosen!r} in this lake.")
            st.session_state.pop(USER_KEY, None)
            return None
    st.session_state[USER_KEY] = chosen
    return chosen


def context() -> tuple[Lake, str] | None:
    """The lake and the user a page shows, or None after saying why there is nothing."""
    the_lake = lake()
    if the_lake is None:
        return None
    user = st.session_state.get(USER_KEY)
    if not user:
        st.info(EMPTY_MESSAGE)
        return None
    return the_lake, user


def page(title: str, tables: list[Table]) -> tuple[Lake, str] | None:
    """A page's start: the title, the freshness of ``tables`` for the user and the message a
    change left before the rerun; the lake and user (None after saying why nothing shows)."""
    ctx = context()
    if ctx is None:
        return None
    st.title(title)
    freshness(*ctx, tables)
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)
    return ctx


def flash_and_rerun(message: str) -> None:
    """Show ``message`` at the top of the page after a rerun (a change was saved)."""
    st.session_state[FLASH_KEY] = message
    st.rerun()


def freshness(the_lake: Lake, user_id: str, tables: list[Table]) -> None:
    """When this page's data was refreshed, and which accounts are stale or failing."""
    accts = data.accounts(the_lake, user_id)
    stamps = [t for t in (data.refreshed_at(the_lake, t) for t in tables) if t is not None]
    refreshed = format_when(min(stamps)) if stamps else "not computed yet"
    synced = accts["last_synced_at"].dropna()
    st.caption(f"Data refreshed {refreshed} · accounts last synced "
               f"{format_when(synced.max()) if len(synced) else 'never'}")
    for (institution, state), rows in accts.groupby(["institution", "state"], sort=True):
        names = ", ".join(f"{n} ••{m}" if m else str(n)
                          for n, m in zip(rows["name"], rows["mask"], strict=True))
        last = format_when(rows["last_synced_at"].min())
        if state == "relink":
            st.warning(f"**{institution}** needs you to sign in again ({names}). "
                       "Reconnect it on the Accounts page; until then these accounts are not "
                       "updated.", icon=":material/key:")
        elif state == "mfa":
            st.warning(f"**{institution}** asks for a one-time code ({names}). Reconnect it "
                       "on the Accounts page.", icon=":material/key:")
        elif state == "institution_down":
            st.warning(f"**{institution}** is having problems; {names} may be out of date "
                       f"(last synced {last}). We retry automatically.", icon=":material/warning:")
        elif state == "stale":
            st.info(f"Not updated recently: {names} at {institution} (last synced {last}).",
                    icon=":material/schedule:")


def bar_chart(df: pd.DataFrame, x: str, y: str, color: str | None = None,
              x_sort: list[str] | None = None, y_title: str = "Amount") -> alt.Chart:
    """Bars with money on the y axis and readable tooltips."""
    enc = {
        "x": alt.X(f"{x}:N", sort=x_sort, title=None, axis=alt.Axis(labelAngle=0)),
        "y": alt.Y(f"sum({y}):Q", title=y_title, axis=alt.Axis(format="$,.0f")),
        "tooltip": [alt.Tooltip(f"{x}:N")]
        + ([alt.Tooltip(f"{color}:N")] if color else [])
        + [alt.Tooltip(f"sum({y}):Q", title=y_title, format="$,.2f")],
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient="bottom"))
    return alt.Chart(df).mark_bar().encode(**enc)
