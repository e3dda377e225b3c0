"""Analytics (analysts only): aggregate, de-identified figures across people.

Every figure here describes at least ``FINLAKE_K_ANONYMITY`` people; smaller cells are
dropped by the data layer before this page sees them. No user ids, logins, descriptions or
merchants appear, and there are no totals that would let a hidden cell be worked out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from core.settings import load_settings
from dashboard import charts, ui
from dashboard.auth import Principal
from dashboard.data import aggregates, queries
from lake.tables import INSTITUTION_HEALTH, MONTHLY_SPEND, QUALITY_RESULTS

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [MONTHLY_SPEND, INSTITUTION_HEALTH, QUALITY_RESULTS]
HEALTH = {"healthy": "Healthy", "degraded": "Degraded", "down": "Down",
          "silent": "Silent (empty answers)"}


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    spend, hidden_cells = aggregates.spend_by_category(lake, who)
    health, hidden_institutions = aggregates.sync_health(lake, who)
    return {"people": aggregates.people_count(lake, who), "spend": spend,
            "hidden_cells": hidden_cells, "health": health,
            "hidden_institutions": hidden_institutions,
            "quality": aggregates.quality_summary(lake, who)}


def _context() -> tuple[Lake, Principal] | None:
    the_lake, who = ui.lake(), ui.principal()
    if the_lake is None:
        return None
    if who is None or not who.is_analyst:
        st.error("The Analytics page is for analyst logins.")
        return None
    return the_lake, who


def render() -> None:
    ctx = _context()
    if ctx is None:
        return
    lake, who = ctx
    k = load_settings().k_anonymity
    st.title("Analytics")
    stamps = [t for t in (queries.refreshed_at(lake, t) for t in TABLES) if t is not None]
    st.caption(f"Data refreshed {ui.format_when(min(stamps)) if stamps else 'not yet'} · "
               f"aggregates across people; a figure describing fewer than {k} people is not "
               "shown")
    d = load(lake, who)

    cols = st.columns(3)
    cols[0].metric("People with linked accounts",
                   f"{d['people']:,}" if d["people"] is not None else f"fewer than {k}")
    health = d["health"]
    cols[1].metric("Institutions shown", len(health))
    quality = d["quality"]
    cols[2].metric("Quality suites failing", int((~quality["passed"].fillna(False)).sum())
                   if len(quality) else 0)

    st.subheader("Spending by category per month")
    spend = d["spend"]
    if d["hidden_cells"]:
        st.caption(f"{d['hidden_cells']} month × category cells with fewer than {k} people "
                   "are hidden.")
    if spend.empty:
        st.write("No month and category has enough people to show yet.")
    else:
        months = sorted(spend["month"].unique())
        chart = spend.assign(Month=[ui.month_label(m) for m in spend["month"]],
                             Category=spend["category_name"], Spend=spend["amount"])
        st.altair_chart(charts.category_bars(
            chart[["Month", "category_primary", "Category", "Spend"]], "Month", "Spend",
            x_sort=[ui.month_label(m) for m in months]), width="stretch")
        newest = spend.sort_values(["month", "amount"], ascending=[False, False])
        st.dataframe(pd.DataFrame({
            "Month": [ui.month_label(m) for m in newest["month"]],
            "Category": newest["category_name"],
            "Spend": [ui.format_money(a) for a in newest["amount"]],
            "Transactions": newest["txn_count"],
            "People": newest["people"],
        }), hide_index=True, width="stretch")

    st.subheader("Sync health per institution")
    if d["hidden_institutions"]:
        st.caption(f"{d['hidden_institutions']} institutions syncing fewer than {k} items are "
                   "hidden.")
    if health.empty:
        st.write("No institution health to show yet.")
    else:
        st.dataframe(pd.DataFrame({
            "Institution": health["institution"],
            "Status": [HEALTH.get(s, str(s).capitalize()) for s in health["status"]],
            "Day": [ui.format_day(x) for x in health["sync_date"]],
            "Items": health["items"].astype(int),
            "Succeeded": [f"{r:.0%}" if pd.notna(r) else "" for r in health["success_rate"]],
            "Stale items": [int(x) if pd.notna(x) else "" for x in health["items_stale"]],
            "Deadline met": ["" if pd.isna(m) else "Yes" if m else "No"
                             for m in health["sla_met"]],
        }), hide_index=True, width="stretch")

    st.subheader("Data quality")
    if quality.empty:
        st.write("No quality results yet.")
    else:
        st.dataframe(pd.DataFrame({
            "Suite": quality["suite"],
            "Layer": quality["layer"],
            "Day": [ui.format_day(x) for x in quality["sync_date"]],
            "Result": ["Passed" if p else "Failed" for p in quality["passed"]],
            "Rows checked": [int(x) if pd.notna(x) else "" for x in quality["rows_validated"]],
            "Errors": [int(x) if pd.notna(x) else "" for x in quality["errors"]],
            "Warnings": [int(x) if pd.notna(x) else "" for x in quality["warnings"]],
        }), hide_index=True, width="stretch")


if __name__ == "__main__":
    render()
