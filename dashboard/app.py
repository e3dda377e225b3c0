"""finlake dashboard: monthly spend by category and the latest transactions, per user.

Run with ``streamlit run dashboard/app.py``. The lake comes from ``finlake.settings`` (set
``FINLAKE_HOME`` or the S3 variables to point it elsewhere).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data
from finlake.settings import ConfigError, load_settings
from lake.catalog import Lake

EMPTY_MESSAGE = "No data yet: run `finlake demo`"
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


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


def format_refreshed(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "unknown"


def spend_chart(spend: pd.DataFrame) -> alt.Chart:
    """Stacked bars: one per month, split by primary category (display names only)."""
    by_primary = spend.groupby(["month", "primary_name"], as_index=False)["amount"].sum()
    by_primary["Month"] = pd.to_datetime(by_primary["month"] + "-01").dt.strftime("%b %Y")
    order = list(dict.fromkeys(by_primary.sort_values("month")["Month"]))
    shown = by_primary.rename(columns={"primary_name": "Category", "amount": "Spend"})
    return (
        alt.Chart(shown[["Month", "Category", "Spend"]])
        .mark_bar()
        .encode(
            x=alt.X("Month:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sum(Spend):Q", title="Spend", axis=alt.Axis(format="$,.2f")),
            color=alt.Color("Category:N", title="Category"),
            tooltip=[
                alt.Tooltip("Month:N"),
                alt.Tooltip("Category:N"),
                alt.Tooltip("sum(Spend):Q", title="Spend", format="$,.2f"),
            ],
        )
    )


def transactions_table(txns: pd.DataFrame) -> pd.DataFrame:
    """The latest transactions as shown: readable columns, formatted amounts, no codes."""
    return pd.DataFrame({
        "Date": txns["posted_date"],
        "Description": txns["description"],
        "Merchant": txns["merchant"].fillna(""),
        "Category": txns["category_name"],
        "Amount": [format_money(a, c) for a, c in zip(txns["amount"], txns["currency"],
                                                         strict=True)],
        "Pending": txns["pending"],
    })


def open_lake() -> Lake:
    settings = load_settings()
    return Lake(settings.lake_root, settings.s3_endpoint)


def main() -> None:
    st.set_page_config(page_title="finlake", layout="wide")
    st.title("finlake")
    try:
        lake = open_lake()
    except ConfigError as error:
        st.error(f"finlake is not configured: {error}")
        return
    people = data.users(lake)
    if not people:
        st.info(EMPTY_MESSAGE)
        return
    user = st.selectbox("User", people)

    st.subheader("Monthly spend")
    spend = data.monthly_spend(lake, user)
    if spend.empty:
        st.write("No spending recorded for this user yet.")
    else:
        st.altair_chart(spend_chart(spend), width="stretch")

    st.subheader("Latest transactions")
    txns = data.latest_transactions(lake, user)
    st.dataframe(transactions_table(txns), hide_index=True, width="stretch")
    st.caption("Positive amounts are money out; negative amounts are money in.")
    st.caption(f"Data last refreshed: {format_refreshed(data.last_refreshed(lake))}")


main()
