"""Overview: net worth, this month's spending against budgets, alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.auth import Principal
from dashboard.data import money
from dashboard.plain import plain
from lake.tables import ALERTS, BUDGET_PROGRESS, NET_WORTH_DAILY

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [NET_WORTH_DAILY, BUDGET_PROGRESS, ALERTS]
ALERT_TITLES = {"budget_exceeded": "Over budget", "budget_approaching": "Close to budget",
                "balance_review": "Balance held for review",
                "institution_health": "Bank having problems"}
UNUSUAL_TITLES = {"category_spike": "Spending spike", "merchant_outlier": "Unusual amount",
                  "new_merchant_large": "Large new payment"}


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    return {
        "net_worth": money.net_worth(lake, who),
        "budgets": money.budget_progress(lake, who),
        "alerts": money.alerts(lake, who, limit=8),
        "unusual": money.unusual_activity(lake, who, months=1),
        "cashflow": money.cashflow(lake, who, months=1),  # the newest month's figures
    }


def render() -> None:
    ui.show_page("Overview", TABLES, load, _show)


def _show(_lake: Lake, _who: Principal, d: dict[str, Any]) -> None:

    nw, flow = d["net_worth"], d["cashflow"]
    cols = st.columns(3)
    if len(nw):
        last = nw.iloc[-1]
        month_ago = nw[nw["date"] <= last["date"] - pd.Timedelta(days=30)]
        delta = (last["net_worth"] - month_ago.iloc[-1]["net_worth"]) if len(month_ago) else None
        cols[0].metric("Net worth", ui.format_money(last["net_worth"]),
                       delta=ui.format_money(delta) if delta is not None else None,
                       help="Assets minus credit cards and loans, as of "
                            f"{ui.format_day(last['date'])}; change over 30 days.")
    else:
        cols[0].metric("Net worth", "—")
    if len(flow):
        m = flow.iloc[-1]
        cols[1].metric(f"Spent in {ui.month_label(m['month'])}", ui.format_money(m["expense"]))
        cols[2].metric(f"Income in {ui.month_label(m['month'])}", ui.format_money(m["income"]))

    st.subheader("Net worth")
    if nw.empty:
        st.write("No balances yet.")
    else:
        span = (nw["date"].iloc[-1] - nw["date"].iloc[0]).days
        axis_format = "%b %Y" if span > 120 else "%d %b"
        long = nw.melt(id_vars=["date"], value_vars=["net_worth", "assets", "liabilities"],
                       var_name="series", value_name="amount")
        long["series"] = long["series"].map({"net_worth": "Net worth", "assets": "Assets",
                                             "liabilities": "Liabilities"})
        chart = alt.Chart(long).mark_line().encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format=axis_format, labelOverlap=True)),
            y=alt.Y("amount:Q", title=None, axis=alt.Axis(format="$,.0f")),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("date:T", title="Date", format="%d %b %Y"),
                     alt.Tooltip("series:N", title="Series"),
                     alt.Tooltip("amount:Q", title="Amount", format="$,.2f")])
        st.altair_chart(chart, width="stretch")

    budgets = d["budgets"]
    if len(budgets):
        st.subheader(f"Budgets for {ui.month_label(budgets['month'].iloc[0])}")
        shown = budgets[budgets["state"] != "no_budget"]
        for row in shown.itertuples(index=False):
            share = min(max(float(row.share), 0.0), 1.0) if pd.notna(row.share) else 0.0
            st.progress(share, text=f"{plain(row.category_name)}: "
                                    f"{ui.format_money(row.spent)} of "
                                    f"{ui.format_money(row.budget)} · "
                                    f"{ui.BUDGET_LABELS[row.state]}")

    st.subheader("Alerts")
    alerts, unusual = d["alerts"], d["unusual"]
    if alerts.empty and unusual.empty:
        st.write("Nothing needs your attention.")
    for a in alerts.itertuples(index=False):
        title = ALERT_TITLES.get(a.kind, str(a.kind).replace("_", " ").capitalize())
        st.markdown(f"- **{plain(title)}** — {plain(a.detail)} "
                    f"<span style='color:gray'>({ui.format_day(a.created_at)})</span>",
                    unsafe_allow_html=True)
    for u in unusual.itertuples(index=False):
        st.markdown(f"- **{UNUSUAL_TITLES.get(u.kind, 'Unusual activity')}** — "
                    f"{plain(u.reason)}")


if __name__ == "__main__":
    render()
