"""Spending: by category with drill-down to transactions, month over month, trends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, ui
from dashboard.auth import Principal
from dashboard.data import money, taxonomy, txns
from dashboard.plain import plain
from lake.tables import MONTHLY_SPEND, SPEND_TRENDS

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [MONTHLY_SPEND, SPEND_TRENDS]
MONTHS_SHOWN = 12


def load(lake: Lake, who: Principal, month: str | None = None) -> dict[str, Any]:
    spend = money.monthly_spend(lake, who)
    months = sorted(spend["month"].unique(), reverse=True)
    month = month if month in months else (months[0] if months else None)
    return {
        "spend": spend,
        "months": months,
        "month": month,
        "trends": money.trends(lake, who, month) if month else pd.DataFrame(),
        "cashflow": money.cashflow(lake, who),
    }


def render() -> None:
    ui.show_page("Spending", TABLES, load, _show)


def _show(lake: Lake, who: Principal, d: dict[str, Any]) -> None:
    spend, months = d["spend"], d["months"]
    if not months:
        st.write("No spending recorded yet.")
        return

    _per_month(spend, months)
    month = st.selectbox("Month", months, format_func=ui.month_label, key="spending_month")
    if month != d["month"]:
        d = load(lake, who, month)
    in_month = spend[spend["month"] == month]
    totals = _by_category(in_month, month)
    _drill_down(lake, who, in_month, totals, month)
    _month_over_month(d["trends"], month)
    _income_and_spending(d["cashflow"])


def _per_month(spend: pd.DataFrame, months: list[str]) -> None:
    """Spend per month and primary category over the newest ``MONTHS_SHOWN`` months."""
    recent = sorted(months[:MONTHS_SHOWN])
    by_primary = (spend[spend["month"].isin(recent)]
                  .groupby(["month", "category_primary", "primary_name"], as_index=False)
                  ["amount"].sum())
    by_primary["Month"] = [ui.month_label(m) for m in by_primary["month"]]
    by_primary = by_primary.rename(columns={"primary_name": "Category", "amount": "Spend"})
    st.subheader("Spending per month")
    st.altair_chart(charts.category_bars(
        by_primary[["Month", "category_primary", "Category", "Spend"]], "Month", "Spend",
        x_sort=[ui.month_label(m) for m in recent]), width="stretch")


def _by_category(in_month: pd.DataFrame, month: str) -> pd.DataFrame:
    """One month per primary category (donut and table); the totals shown."""
    st.subheader(f"By category in {ui.month_label(month)}")
    left, right = st.columns([3, 2])
    totals = (in_month.groupby(["category_primary", "primary_name"], as_index=False)
              [["amount", "txn_count"]].sum().sort_values("amount", ascending=False))
    donut = charts.category_donut(
        totals.rename(columns={"primary_name": "Category", "amount": "Spend"}))
    left.altair_chart(donut, width="stretch")
    right.dataframe(pd.DataFrame({
        "Category": totals["primary_name"],
        "Spend": [ui.format_money(a) for a in totals["amount"]],
        "Transactions": totals["txn_count"].astype(int),
    }), hide_index=True, width="stretch")
    return totals


def _drill_down(lake: Lake, who: Principal, in_month: pd.DataFrame, totals: pd.DataFrame,
                month: str) -> None:
    """The picked primary category's details in ``month``, and its newest 100 transactions.

    The rows listed are the ones its spend is made of (money in without a category is not
    spending: pipelines/gold/flows.py) plus those still pending, marked: a pending row counts
    in no total until it posts, and one replaced by its posted version is not listed."""
    names = dict(zip(totals["category_primary"], totals["primary_name"], strict=True))
    pick = st.selectbox("Show the transactions of", list(names), format_func=names.get,
                        key="spending_drill")
    if not pick:
        return
    wanted = txns.TxnFilter(category=pick, month=month, spending=True)
    pending = txns.pending_counts(lake, who, wanted)
    details = _details(in_month[in_month["category_primary"] == pick], pending,
                       taxonomy.category_names(lake, who))
    st.dataframe(pd.DataFrame({
        "Category": details["category_name"],
        "Spend": [ui.format_money(a) for a in details["amount"]],
        "Transactions": details["txn_count"].astype(int),
        "Pending": details["pending"].astype(int)}), hide_index=True)
    rows, total = txns.search_transactions(lake, who, wanted, page_size=100)
    plural = "s" if total != 1 else ""
    waiting = sum(pending.values())
    st.caption(f"{total} transaction{plural} in {plain(names[pick])}, "
               f"{ui.month_label(month)}"
               + (f" ({waiting} pending: in no total until posted)" if waiting else "")
               + (" (newest 100 shown)" if total > 100 else ""))
    st.dataframe(ui.money_in_green(pd.DataFrame({  # key columns first: amounts on a phone
        "Date": [ui.format_day(x) for x in rows["date"]],
        "Amount": [ui.format_flow(a, c) for a, c in
                   zip(rows["amount"], rows["currency"], strict=True)],
        "Category": rows["category_name"], "Description": rows["description"],
        "Pending": ["Pending" if p else "" for p in rows["pending"]]})),
        hide_index=True, width="stretch", column_config={
            "Date": st.column_config.TextColumn(width=90),
            "Amount": st.column_config.TextColumn(width=85, alignment="right"),
            "Category": st.column_config.TextColumn(width=130),
            "Description": st.column_config.TextColumn(width=230),
            "Pending": st.column_config.TextColumn(width=75)})


def _details(spent: pd.DataFrame, pending: dict[str, int], names: dict[str, str]
             ) -> pd.DataFrame:
    """Per detailed category: spend and posted count (gold), and how many are pending (also
    the categories with only pending rows so far), largest spend first."""
    only_pending = pd.DataFrame({"category": sorted(set(pending) - set(spent["category"]))})
    taxonomy.add_names(only_pending, names, "category", "category_name")
    rows = pd.concat([spent[["category", "category_name", "amount", "txn_count"]],
                      only_pending.assign(amount=0.0, txn_count=0)], ignore_index=True)
    rows["pending"] = [pending.get(c, 0) for c in rows["category"]]
    return rows.sort_values(["amount", "category_name"], ascending=[False, True])


def _month_over_month(trends: pd.DataFrame, month: str) -> None:
    st.subheader(f"Month over month ({ui.month_label(month)})")
    if trends.empty:
        st.write("No trend data for this month yet.")
        return
    st.dataframe(pd.DataFrame({
        "Category": trends["category_name"],
        "This month": [ui.format_money(a) for a in trends["amount"]],
        "Last month": [ui.format_money(a) for a in trends["prev_month_amount"]],
        "Change": [ui.format_money(a) for a in trends["mom_change"]],
        "Change %": [f"{p:+.0%}" if pd.notna(p) else "new" for p in
                     trends["mom_change_pct"]],
        "3-month avg": [ui.format_money(a) for a in trends["avg_3m"]],
        "12-month avg": [ui.format_money(a) for a in trends["avg_12m"]],
    }), hide_index=True, width="stretch")


def _income_and_spending(flow: pd.DataFrame) -> None:
    """Income next to spending per month over the newest ``MONTHS_SHOWN`` months."""
    if not len(flow):
        return
    st.subheader("Income and spending")
    recent_flow = flow.tail(MONTHS_SHOWN)
    long = recent_flow.melt(id_vars=["month"], value_vars=["income", "expense"],
                            var_name="Kind", value_name="Amount")
    long["Kind"] = long["Kind"].map({"income": "Income", "expense": "Spending"})
    long["Month"] = [ui.month_label(m) for m in long["month"]]
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("Month:N", sort=[ui.month_label(m) for m in recent_flow["month"]],
                title=None, axis=alt.Axis(labelAngle=0)),
        xOffset="Kind:N",
        y=alt.Y("Amount:Q", title=None, axis=alt.Axis(format="$,.0f")),
        color=alt.Color("Kind:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["Month:N", "Kind:N", alt.Tooltip("Amount:Q", format="$,.2f")])
    st.altair_chart(chart, width="stretch")


if __name__ == "__main__":
    render()
