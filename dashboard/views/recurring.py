"""Recurring payments: subscriptions and bills, next expected date, price changes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.auth import Principal
from dashboard.data import plans
from dashboard.plain import plain
from lake.tables import RECURRING_PAYMENTS

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [RECURRING_PAYMENTS]
CADENCES = {"weekly": "Weekly", "monthly": "Monthly", "yearly": "Yearly"}
COLUMNS = {"Merchant": st.column_config.TextColumn(width=125),
           "Usual amount": st.column_config.TextColumn(width=105, alignment="right"),
           "Per month": st.column_config.TextColumn(width=90, alignment="right"),
           "How often": st.column_config.TextColumn(width=90),
           "Next expected": st.column_config.TextColumn(width=115),
           "Last paid": st.column_config.TextColumn(width=105),
           "Payments seen": st.column_config.NumberColumn(width=115)}


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    return {"recurring": plans.recurring(lake, who)}


def render() -> None:
    ui.show_page("Recurring payments", TABLES, load, _show)


def _show(_lake: Lake, _who: Principal, d: dict[str, Any]) -> None:
    rec = d["recurring"]
    if rec.empty:
        st.write("No subscriptions or regular bills found yet (they appear after a few "
                 "payments at a steady rhythm).")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("Per month, all together", ui.format_money(rec["per_month"].sum()))
    c2.metric("Subscriptions and bills", len(rec))
    c3.metric("Price increases", int(rec["price_increase"].sum()))
    for r in rec[rec["price_increase"]].itertuples(index=False):
        was = re.search(r"\(was ([^)]+)\)", r.detail or "")  # the pipeline's detail text
        st.warning(f"**{plain(r.merchant)}** went up to {ui.format_money(r.last_amount)}"
                   + (f" (was {plain(was.group(1))})." if was else "."),
                   icon=":material/trending_up:")
    for r in rec[rec["missed_payment"]].itertuples(index=False):
        st.info(f"**{plain(r.merchant)}** was expected on {ui.format_day(r.next_expected_date)} "
                "but has not been charged.", icon=":material/schedule:")
    # Merchant and the two amounts fit a phone's screen (390 px); the rest follows.
    st.dataframe(pd.DataFrame({
        "Merchant": rec["merchant"],
        "Usual amount": [ui.format_money(a) for a in rec["typical_amount"]],
        "Per month": [ui.format_money(a) for a in rec["per_month"]],
        "How often": [CADENCES.get(c, str(c).capitalize()) for c in rec["cadence"]],
        "Next expected": [ui.format_day(d) for d in rec["next_expected_date"]],
        "Last paid": [ui.format_day(d) for d in rec["last_date"]],
        "Payments seen": rec["occurrences"].astype(int),
    }), hide_index=True, width="stretch", column_config=COLUMNS)

if __name__ == "__main__":
    render()
