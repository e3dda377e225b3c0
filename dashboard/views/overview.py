"""Overview: net worth over 1M / YTD / 1Y and by kind of account, this month's budgets
(together, with the month's pace, and each coloured by status), the bills expected in the
next two weeks, and alerts (this month's, then earlier months' by month; each opens on what
it is about and can be dismissed)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from dashboard import actions, charts, ui
from dashboard.auth import Principal
from dashboard.data import money, plans, txns
from dashboard.plain import plain
from lake.tables import ALERTS, BUDGET_PROGRESS, NET_WORTH_DAILY, RECURRING_PAYMENTS
from pipelines.categories.reference import display_name

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [NET_WORTH_DAILY, BUDGET_PROGRESS, RECURRING_PAYMENTS, ALERTS]
RANGE_KEY = "overview_range"  # the net-worth chart's span (charts.RANGES)
DEFAULT_RANGE = "1Y"
ALERT_TITLES = {"budget_exceeded": "Over budget", "budget_approaching": "Close to budget",
                "balance_review": "Balance held for review",
                "institution_health": "Bank having problems"}
UNUSUAL_TITLES = {"category_spike": "Spending spike", "merchant_outlier": "Unusual amount",
                  "new_merchant_large": "Large new payment"}
OPEN_KEY = "overview_open_alert"  # the alert opened (one at a time)
SHOWN_TRANSACTIONS = 20
# How budget alerts ended before they named their month (rows stored by earlier releases).
THIS_MONTHS_BUDGET = "this month's budget"


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    nw, budgets = money.net_worth(lake, who), plans.budget_progress(lake, who)
    today = money.data_day(nw, budgets)  # the day the figures are of
    return {
        "net_worth": nw,
        # by kind of account on the days the breakdown compares (not every day: cheaper)
        "kinds": money.net_worth_by_kind(lake, who, charts.range_days(nw)),
        "budgets": budgets,
        "today": today,
        "bills": plans.upcoming_bills(lake, who, today),
        "alerts": money.alerts(lake, who, limit=8),
        "unusual": money.unusual_activity(lake, who, months=1),
        "cashflow": money.cashflow(lake, who, months=1),  # the newest month's figures
    }


def render() -> None:
    ui.show_page("Overview", TABLES, load, _show)


def _show(lake: Lake, who: Principal, d: dict[str, Any]) -> None:

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

    _net_worth(nw, d["kinds"])
    _budgets(d["budgets"], d["today"])
    _bills(d["bills"], d["today"])
    _alerts(lake, who, d["alerts"], d["unusual"])


def _net_worth(nw: pd.DataFrame, kinds: pd.DataFrame) -> None:
    """The net-worth line over the chosen span, and what each kind of account holds."""
    st.subheader("Net worth")
    if nw.empty:
        st.write("No balances yet.")
        return
    span = st.segmented_control("Show", charts.RANGES, default=DEFAULT_RANGE, key=RANGE_KEY,
                                label_visibility="collapsed") or DEFAULT_RANGE
    shown = charts.in_range(nw, span)
    st.altair_chart(charts.net_worth_chart(shown), width="stretch")
    last = nw.iloc[-1]
    st.caption(f"As of {ui.format_day(last['date'])}: assets "
               f"{ui.format_money(last['assets'])} · owed "
               f"{ui.format_money(-last['liabilities'])} (credit cards and loans) · "
               f"net worth {ui.format_money(last['net_worth'])}")
    table = charts.net_worth_kinds(kinds, shown)
    if table:
        st.html(table)


def _budgets(budgets: pd.DataFrame, today: date) -> None:
    """This month's budgets: together with the month's pace, then each by status."""
    totals = plans.budget_totals(budgets, today) if len(budgets) else None
    if totals is None:
        return
    st.subheader(f"Budgets for {ui.month_label(totals.month)}")
    st.html(charts.totals_meter(totals)
            + charts.budget_meters(budgets, charts.pace_mark(totals)))


def _bills(bills: pd.DataFrame, today: date) -> None:
    """What subscriptions and bills are expected in the next two weeks, soonest first."""
    st.subheader("Upcoming bills")
    if bills.empty:
        st.write(f"No bills expected in the {plans.UPCOMING_DAYS} days after "
                 f"{ui.format_day(today)}.")
        return
    st.html(charts.upcoming_bills(bills, today))
    st.caption(f"Expected in the {plans.UPCOMING_DAYS} days after {ui.format_day(today)}, "
               f"{ui.format_money(bills['amount'].sum())} in all; the Recurring page "
               "lists every one.")


def _alerts(lake: Lake, who: Principal, alerts: pd.DataFrame, unusual: pd.DataFrame) -> None:
    """This month's alerts and unusual activity, then earlier months' alerts by month."""
    st.subheader("Alerts")
    current, earlier = alerts[alerts["current"]], alerts[~alerts["current"]]
    if current.empty and unusual.empty:
        st.write("Nothing needs your attention this month." if len(earlier)
                 else "Nothing needs your attention.")
    for a in current.itertuples(index=False):
        _alert(lake, who, a, earlier=False)
    for u in unusual.itertuples(index=False):
        st.markdown(f"- **{UNUSUAL_TITLES.get(u.kind, 'Unusual activity')}** — "
                    f"{plain(u.reason)}")
    if len(earlier):
        st.subheader("Earlier alerts")
        for a in earlier.itertuples(index=False):
            _alert(lake, who, a, earlier=True)


def _month_name(month: object) -> str:
    try:
        return ui.month_label(str(month))
    except ValueError:
        return "Earlier"


def _alert(lake: Lake, who: Principal, a: Any, earlier: bool) -> None:
    """One alert (an earlier month's says which), with Open and Dismiss."""
    title = ALERT_TITLES.get(a.kind, str(a.kind).replace("_", " ").capitalize())
    detail = str(a.detail or "")
    if earlier:
        month = _month_name(a.month)
        title = f"{month}: {title}"
        detail = detail.replace(THIS_MONTHS_BUDGET, f"the {month} budget")
    st.markdown(f"- **{plain(title)}** — {plain(detail)} "
                f"<span style='color:gray'>({ui.format_day(a.created_at)})</span>",
                unsafe_allow_html=True)
    opened = st.session_state.get(OPEN_KEY) == a.alert_key
    left, right, _ = st.columns([1, 1, 5])
    left.button("Close" if opened else "Open", key=f"alert_open_{a.alert_key}",
                on_click=_toggle, args=(a.alert_key,))
    if right.button("Dismiss", key=f"alert_dismiss_{a.alert_key}"):
        try:
            actions.dismiss_alert(lake, who, a.alert_key)
        except actions.ActionError as error:
            st.error(plain(error))
        else:
            st.session_state.pop(OPEN_KEY, None)
            ui.flash_and_rerun("Alert dismissed.")
    if opened:
        with st.container(border=True):
            if a.kind in money.BUDGET_ALERTS:
                _budget(lake, who, str(a.subject), str(a.month))
            else:
                _account(lake, who, a)


def _toggle(alert_key: str) -> None:
    opened = st.session_state.get(OPEN_KEY) == alert_key
    st.session_state[OPEN_KEY] = None if opened else alert_key


def _budget(lake: Lake, who: Principal, category: str, month: str) -> None:
    """What a budget alert is about: the budget of its month and the category's transactions
    of that month."""
    label = _month_name(month)
    budgets = plans.budget_progress(lake, who, month)
    row = budgets[budgets["category_primary"] == category]
    name = plain(display_name(category))
    if len(row) and row["state"].iloc[0] != "no_budget":
        st.html(charts.budget_meters(row.assign(
            category_name=row["category_name"] + f" in {label}")))
    elif len(row):
        st.write(f"You have no budget for {name} now; "
                 f"{plain(ui.format_money(row['spent'].iloc[0]))} spent in {label}.")
    else:
        st.write(f"You have no budget for {name} now.")
    rows, total = txns.search_transactions(lake, who, txns.TxnFilter(category=category,
                                                                     month=month),
                                           page_size=SHOWN_TRANSACTIONS)
    if rows.empty:
        st.caption(f"No {name} transactions in {label}.")
        return
    st.dataframe(ui.money_in_green(pd.DataFrame({
        "Date": [ui.format_day(x) for x in rows["date"]],
        "Amount": [ui.format_flow(v, c) for v, c in
                   zip(rows["amount"], rows["currency"], strict=True)],
        "Description": rows["description"],
        "Category": rows["category_name"],
    })), hide_index=True, width="stretch")
    more = f", the newest {len(rows)} shown" if total > len(rows) else ""
    st.caption(f"{total:,} {name} transactions in {label}{more}; the Transactions page "
               "finds every one.")


def _account(lake: Lake, who: Principal, a: Any) -> None:
    """What another alert is about: the account it names (a balance held for review)."""
    accts = money.accounts(lake, who)
    mine = accts[accts["account_id"] == a.subject]
    if mine.empty:
        st.write(f"Raised {ui.format_when(a.created_at)}.")
        return
    r = mine.iloc[0]
    masked = f" ••{plain(r['mask'])}" if r["mask"] else ""
    st.write(f"{plain(r['name'])}{masked} at {plain(r['institution'])}: "
             f"{plain(ui.format_money(r['balance_current'], r['currency']))} · "
             f"{ui.STATE_LABELS[r['state']]}. The Accounts & sync page has its details.")


if __name__ == "__main__":
    render()
