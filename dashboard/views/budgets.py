"""Budgets: this month's budgets together (budgeted, spent, left) and the month's pace,
progress per category coloured by status; set or change a budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from dashboard import actions, charts, ui
from dashboard.auth import Principal
from dashboard.data import plans
from dashboard.plain import plain
from lake.tables import BUDGET_PROGRESS, BUDGETS

if TYPE_CHECKING:
    from lake.lake import Lake

TABLES = [BUDGET_PROGRESS, BUDGETS]
BADGES = {"ok": "green", "approaching": "orange", "exceeded": "red", "no_budget": "gray"}


def load(lake: Lake, who: Principal) -> dict[str, Any]:
    return {"progress": plans.budget_progress(lake, who)}


def render() -> None:
    ui.show_page("Budgets", TABLES, load, _show)


def _show(lake: Lake, who: Principal, d: dict[str, Any]) -> None:
    progress = d["progress"]
    if progress.empty:
        st.write("No spending or budgets yet this month.")
    else:
        st.subheader(f"{ui.month_label(progress['month'].iloc[0])}, month to date")
        totals = plans.budget_totals(progress)
        if totals is not None:
            _totals(totals)
        for row in progress.itertuples(index=False):
            badge = f":{BADGES[row.state]}-badge[{ui.BUDGET_LABELS[row.state]}]"
            if row.state == "no_budget":
                st.markdown(f"**{plain(row.category_name)}**: spent {ui.format_money(row.spent)} "
                            f"{badge}")
                continue
            source = ui.SOURCE_LABELS.get(row.budget_source, "")
            st.markdown(f"**{plain(row.category_name)}**: {ui.format_money(row.spent)} of "
                        f"{ui.format_money(row.budget)} ({row.share:.0%}) {badge}"
                        + (f" · budget {source}" if source else ""))
        if (progress["state"] != "no_budget").any():
            # one bar per budget, coloured by its status (on track, close, over)
            mark = charts.pace_mark(totals) if totals is not None else None
            st.altair_chart(charts.budget_bars(progress, mark), width="stretch")
            if mark is not None:
                st.caption("The dashed line is how much of the month has gone: a bar beyond it "
                           "is spending faster than an even pace.")

    st.subheader("Set a budget")
    _form(lake, who)


def _totals(t: plans.BudgetTotals) -> None:
    """Budgeted, spent and left for the month, and how spending keeps pace with it."""
    c1, c2, c3 = st.columns(3)
    c1.metric("Budgeted", ui.format_money(t.budgeted))
    c2.metric("Spent", ui.format_money(t.spent))
    c3.metric("Left" if t.left >= 0 else "Over by", ui.format_money(abs(t.left)))
    st.html(charts.totals_meter(t, "Spent of budgeted"))
    remaining = t.days - t.day
    if t.left > 0 and remaining > 0:
        st.caption(f"To stay within your budgets: {ui.format_money(t.left / remaining)} a day "
                   f"for the {remaining} days left in {ui.month_label(t.month)}.")
    if t.unbudgeted > 0:
        st.caption(f"Also {ui.format_money(t.unbudgeted)} spent in categories without a "
                   "budget.")


def _form(lake: Lake, who: Principal) -> None:
    """Set a budget for a category, or go back to the suggested one."""
    names = actions.primaries()
    with st.form("budget_form", clear_on_submit=False):
        primary = st.selectbox("Category", sorted(names, key=names.get), format_func=names.get,
                               key="budget_category")
        amount = st.text_input("Monthly amount ($)", key="budget_amount",
                               placeholder="e.g. 400")
        c1, c2 = st.columns(2)
        save = c1.form_submit_button("Save budget", type="primary")
        clear = c2.form_submit_button("Use the suggestion instead")
    if save:
        try:
            value = actions.set_budget(lake, who, primary, amount)
        except actions.ActionError as error:
            st.error(plain(error))
        else:
            ui.flash_and_rerun(
                f"Budget for {plain(names[primary])} set to {ui.format_money(value)} a month.")
    if clear:
        try:
            actions.clear_budget(lake, who, primary)
        except actions.ActionError as error:
            st.error(plain(error))
            return
        ui.flash_and_rerun(
            f"Your own budget for {plain(names[primary])} is removed; the suggested budget applies "
            "again from the next refresh.")


if __name__ == "__main__":
    render()
