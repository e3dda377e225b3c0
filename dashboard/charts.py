"""The dashboard's charts: one colour per primary category in every chart, legends that show
every entry, budget bars and meters coloured by status with the month's pace, the net-worth
line over a chosen range and its breakdown by kind of account, and the upcoming bills.

Every chart colouring by category uses :func:`category_scale`: an explicit domain and range,
so a category keeps its colour whatever else a chart happens to draw (Vega-Lite's default
would give the first category of each chart's own domain the palette's first colour).

The meters, the breakdown and the bills are HTML (``st.html``): text people or partners
chose (category and merchant names) is escaped here, and amounts never wrap or shrink, so
they stay readable on a phone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from html import escape

import altair as alt
import pandas as pd

from dashboard.data.money import ACCOUNT_KINDS
from dashboard.data.plans import BudgetTotals
from dashboard.ui import format_day, format_money

# One colour per taxonomy primary (pipelines/categories/reference.py ``categories()``).
CATEGORY_COLORS = {
    "FOOD_AND_DRINK": "#4c78a8", "GENERAL_MERCHANDISE": "#f58518",
    "RENT_AND_UTILITIES": "#54a24b", "TRANSPORTATION": "#e45756",
    "ENTERTAINMENT": "#72b7b2", "TRAVEL": "#eeca3b", "MEDICAL": "#b279a2",
    "PERSONAL_CARE": "#ff9da6", "HOME_IMPROVEMENT": "#9d755d", "GENERAL_SERVICES": "#bab0ac",
    "GOVERNMENT_AND_NON_PROFIT": "#1f77b4", "BANK_FEES": "#d62728",
    "LOAN_PAYMENTS": "#8c564b", "LOAN_DISBURSEMENTS": "#c49c94", "INCOME": "#2ca02c",
    "TRANSFER_IN": "#17becf", "TRANSFER_OUT": "#9467bd", "OTHER": "#7f7f7f",
}
OTHER = "Other"  # the categories beyond the largest TOP_CATEGORIES, together
OTHER_CODE = "_OTHER"
OTHER_COLOR = "#c7c7c7"  # also a person's own primaries (no taxonomy colour)
TOP_CATEGORIES = 8
LEGEND_COLUMNS = 3

STATUS_LABELS = {"ok": "On track", "approaching": "Approaching limit",
                 "exceeded": "Over budget"}
STATUS_COLORS = {"ok": "#2e7d32", "approaching": "#ef6c00", "exceeded": "#c62828"}
PACE_COLOR = "#444"  # the mark of an even pace through the month
PACE_NOTES = {"over": STATUS_COLORS["exceeded"], "ahead": STATUS_COLORS["approaching"],
              "on": STATUS_COLORS["ok"], "under": STATUS_COLORS["ok"]}
_AMOUNT = "white-space:nowrap;font-variant-numeric:tabular-nums"  # never wrapped or cut


def category_color(code: str) -> str:
    """The colour of a primary category, the same in every chart."""
    return CATEGORY_COLORS.get(code, OTHER_COLOR)


def category_scale(categories: Iterable[tuple[str, str]]) -> alt.Scale:
    """The colour scale of (primary code, name shown) pairs, in their order."""
    seen: dict[str, str] = {}
    for code, name in categories:
        seen.setdefault(name, category_color(code))
    return alt.Scale(domain=list(seen), range=list(seen.values()))


def category_legend(entries: int) -> alt.Legend:
    """Below the chart, in columns, no entry or label cut."""
    return alt.Legend(orient="bottom", title=None, columns=max(1, min(entries, LEGEND_COLUMNS)),
                      symbolLimit=0, labelLimit=0)


def top_categories(df: pd.DataFrame, y: str, n: int = TOP_CATEGORIES) -> pd.DataFrame:
    """``df`` (category_primary, Category, ``y``...) with the categories beyond the ``n``
    largest by total ``y`` as one "Other"; the largest first."""
    totals = df.groupby(["category_primary", "Category"], as_index=False)[y].sum()
    totals = totals.sort_values([y, "Category"], ascending=[False, True])
    if len(totals) <= n + 1:  # an "Other" of one category hides it for nothing
        keep = list(totals["category_primary"])
    else:
        keep = list(totals["category_primary"].iloc[:n])
    out = df.copy()
    rest = ~out["category_primary"].isin(keep)
    out.loc[rest, "category_primary"] = OTHER_CODE
    out.loc[rest, "Category"] = OTHER
    order = {c: i for i, c in enumerate(keep + [OTHER_CODE])}
    return out.sort_values("category_primary", key=lambda s: s.map(order), kind="stable")


def category_bars(df: pd.DataFrame, x: str, y: str, x_sort: list[str],
                  y_title: str = "Spend") -> alt.Chart:
    """Stacked bars of ``y`` per ``x`` coloured by category (columns category_primary and
    Category), the largest categories named and the rest as "Other"."""
    shown = top_categories(df, y)
    shown = shown.groupby([x, "category_primary", "Category"], as_index=False, sort=False)[
        y].sum()
    pairs = list(dict.fromkeys(zip(shown["category_primary"], shown["Category"], strict=True)))
    return alt.Chart(shown[[x, "Category", y]]).mark_bar().encode(
        x=alt.X(f"{x}:N", sort=x_sort, title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"sum({y}):Q", title=y_title, axis=alt.Axis(format="$,.0f")),
        color=alt.Color("Category:N", scale=category_scale(pairs),
                        legend=category_legend(len(pairs)),
                        sort=[name for _, name in pairs]),
        tooltip=[alt.Tooltip(f"{x}:N"), alt.Tooltip("Category:N"),
                 alt.Tooltip(f"sum({y}):Q", title=y_title, format="$,.2f")],
    )


def category_donut(totals: pd.DataFrame) -> alt.Chart:
    """One month's spend per primary category (category_primary, Category, Spend)."""
    pairs = list(zip(totals["category_primary"], totals["Category"], strict=True))
    return alt.Chart(totals[["Category", "Spend"]]).mark_arc(innerRadius=50).properties(
        height=260).encode(
        theta=alt.Theta("Spend:Q"),
        color=alt.Color("Category:N", scale=category_scale(pairs),
                        legend=category_legend(len(pairs)), sort=[n for _, n in pairs]),
        tooltip=[alt.Tooltip("Category:N"), alt.Tooltip("Spend:Q", format="$,.2f")])


def budget_bars(progress: pd.DataFrame, elapsed: float | None = None) -> alt.LayerChart:
    """Spent against budget per category (category_name, spent, budget, share, state), each
    bar coloured by its status: on track, approaching the limit, over budget; a dashed line
    at ``elapsed``, the share of the month gone (where spending at an even pace would be)."""
    rows = progress[progress["state"].isin(list(STATUS_LABELS))]
    data = pd.DataFrame({
        "Category": rows["category_name"].to_list(),
        "Status": [STATUS_LABELS[s] for s in rows["state"]],
        "Used": [max(float(s), 0.0) for s in rows["share"]],  # refunds can exceed spend
        "Spent": [float(s) for s in rows["spent"]],
        "Budget": [float(b) for b in rows["budget"]],
    })
    bars = alt.Chart(data).mark_bar().encode(
        y=alt.Y("Category:N", title=None, sort=None),
        x=alt.X("Used:Q", title="Share of budget spent", axis=alt.Axis(format="%"),
                scale=alt.Scale(domainMin=0, domainMax=max(1.0, *data["Used"], 0.0))),
        color=alt.Color("Status:N", title=None,
                        scale=alt.Scale(domain=list(STATUS_LABELS.values()),
                                        range=list(STATUS_COLORS.values())),
                        # two columns: the three labels in one row overflow a phone
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=0,
                                          symbolLimit=0)),
        tooltip=[alt.Tooltip("Category:N"), alt.Tooltip("Status:N"),
                 alt.Tooltip("Spent:Q", format="$,.2f"),
                 alt.Tooltip("Budget:Q", format="$,.2f"),
                 alt.Tooltip("Used:Q", format=".0%")])
    layers: list[alt.Chart] = [bars]
    if elapsed is not None:
        layers.append(alt.Chart(pd.DataFrame({"Month gone": [float(elapsed)]})).mark_rule(
            strokeDash=[4, 3], color=PACE_COLOR).encode(
            x="Month gone:Q", tooltip=[alt.Tooltip("Month gone:Q", format=".0%")]))
    return alt.LayerChart(layer=layers, height=alt.Step(28))


# --- budgets as meters (HTML) --------------------------------------------------------------

def meter(label: str, spent: float, budget: float, state: str, note: str,
          elapsed: float | None = None, note_color: str | None = None) -> str:
    """One budget as HTML: its name (escaped here) and "spent of budget" on a line, a bar
    filled to the share spent in its status colour with a tick where an even pace would be
    (``elapsed``), and ``note`` (HTML) below."""
    colour = STATUS_COLORS.get(state, OTHER_COLOR)
    share = spent / budget if budget > 0 else 0.0
    filled = min(max(share, 0.0), 1.0)
    tick = "" if elapsed is None else (
        f"<div title='{elapsed:.0%} of the month gone' style='position:absolute;"
        f"left:calc({min(max(elapsed, 0.0), 1.0):.2%} - 1px);top:-3px;bottom:-3px;width:2px;"
        f"background:{PACE_COLOR}'></div>")
    return (
        f"<div class='fl-meter' data-state='{state}' style='margin:0 0 .8rem'>"
        "<div style='display:flex;flex-wrap:wrap;justify-content:space-between;"
        "column-gap:.75rem'>"
        f"<span style='font-weight:600;overflow-wrap:anywhere'>{escape(label)}</span>"
        f"<span style='{_AMOUNT}'>{format_money(spent)} of {format_money(budget)}</span></div>"
        f"<div role='meter' aria-valuenow='{share:.4f}' aria-valuemin='0' aria-valuemax='1' "
        "style='position:relative;height:.55rem;margin:.3rem 0 .2rem;border-radius:.3rem;"
        "background:rgba(128,128,128,.22)'>"
        f"<div style='width:{filled:.2%};height:100%;border-radius:.3rem;"
        f"background:{colour}'></div>{tick}</div>"
        f"<div style='font-size:.85rem;color:{note_color or colour}'>{note}</div></div>")


def _left(spent: float, budget: float) -> str:
    left = budget - spent
    return f"{format_money(left)} left" if left >= 0 else f"{format_money(-left)} over"


def budget_meters(progress: pd.DataFrame, elapsed: float | None = None) -> str:
    """Each budgeted category of :func:`~dashboard.data.plans.budget_progress` as a meter."""
    rows = progress[progress["state"].isin(list(STATUS_LABELS))]
    return "".join(
        meter(str(r.category_name), float(r.spent), float(r.budget), str(r.state),
              f"{STATUS_LABELS[r.state]} · {_left(float(r.spent), float(r.budget))}", elapsed)
        for r in rows.itertuples(index=False))


def pace_note(t: BudgetTotals) -> str:
    """How far through the month it is and, until it ends, how spending compares with an
    even pace through it, in words."""
    gone = f"{t.day} of {t.days} days gone ({t.elapsed:.0%})"
    gap = t.spent - t.expected
    if t.pace == "over" or t.day >= t.days:  # what is left (or over) says it all
        return gone
    if t.pace == "ahead":
        return f"{gone} · {format_money(gap)} ahead of pace"
    if t.pace == "under":
        return f"{gone} · {format_money(-gap)} under pace"
    return f"{gone} · on pace"


def pace_mark(t: BudgetTotals) -> float | None:
    """Where the mark of an even pace goes on a bar (the share of the month gone), until the
    month is over."""
    return t.elapsed if t.day < t.days else None


def totals_meter(t: BudgetTotals, label: str = "All budgets") -> str:
    """The month's budgets together: spent of budgeted, what is left and the pace."""
    note = f"{_left(t.spent, t.budgeted)} · {pace_note(t)}"
    return meter(label, t.spent, t.budgeted, t.state, note, pace_mark(t), PACE_NOTES[t.pace])
def date_axis(days: int) -> alt.Axis:
    """A date axis whose ticks are never finer than its labels (no day named twice)."""
    if days > 120:
        return alt.Axis(format="%b %Y", tickCount={"interval": "month", "step": 1},
                        labelOverlap=True, labelAngle=0)
    interval = "week" if days > 21 else "day"
    return alt.Axis(format="%d %b", tickCount={"interval": interval, "step": 1},
                    labelOverlap=True, labelAngle=0)


RANGES = ("1M", "YTD", "1Y")


def in_range(nw: pd.DataFrame, span: str) -> pd.DataFrame:
    """The days of ``nw`` (a ``date`` column, oldest first) in ``span`` up to its newest day:
    a month (``1M``), since 1 January (``YTD``) or a year (``1Y``)."""
    if nw.empty:
        return nw
    last = nw["date"].max()
    start = {"1M": last - pd.DateOffset(months=1), "YTD": pd.Timestamp(last.year, 1, 1),
             "1Y": last - pd.DateOffset(years=1)}[span]
    return nw[nw["date"] >= start].reset_index(drop=True)


def range_days(nw: pd.DataFrame) -> list[date]:
    """The days the breakdown by kind of account compares: the first of each span of
    :data:`RANGES` and the newest."""
    if nw.empty:
        return []
    firsts = {in_range(nw, span)["date"].iloc[0] for span in RANGES}
    return sorted(pd.Timestamp(d).date() for d in firsts | {nw["date"].iloc[-1]})


def net_worth_chart(nw: pd.DataFrame) -> alt.Chart:
    """Net worth per day (date, assets, liabilities, net_worth), on a scale fitted to its
    values (not from $0, which flattens it); credit cards and loans shown as owed (negative)."""
    data = pd.DataFrame({"date": nw["date"], "Assets": nw["assets"].astype(float),
                         "Owed": -nw["liabilities"].astype(float),
                         "Net worth": nw["net_worth"].astype(float)})
    days = (data["date"].max() - data["date"].min()).days if len(data) else 0
    return alt.Chart(data).mark_line(point=len(data) == 1).encode(
        x=alt.X("date:T", title=None, axis=date_axis(days)),
        y=alt.Y("Net worth:Q", title=None, axis=alt.Axis(format="$,.0f"),
                scale=alt.Scale(zero=False, nice=True)),
        tooltip=[alt.Tooltip("date:T", title="Date", format="%d %b %Y"),
                 alt.Tooltip("Net worth:Q", format="$,.2f"),
                 alt.Tooltip("Assets:Q", format="$,.2f"),
                 alt.Tooltip("Owed:Q", title="Owed (cards and loans)", format="$,.2f")])


def _signed(amount: float) -> str:
    return ("+" if round(amount, 2) > 0 else "") + format_money(amount)


def net_worth_kinds(kinds: pd.DataFrame, nw: pd.DataFrame) -> str:
    """A table (HTML) of what each kind of account holds on the newest day of ``nw`` (net
    worth per day over the span shown) and how that changed since its first day, with net
    worth, their sum, last. ``kinds`` is :func:`~dashboard.data.money.net_worth_by_kind` of
    those two days; empty (no table) when it lacks one of them."""
    if nw.empty or kinds.empty:
        return ""
    by_day = kinds.set_index("date")
    first, last = nw.iloc[0], nw.iloc[-1]
    if first["date"] not in by_day.index or last["date"] not in by_day.index:
        return ""
    then, now = by_day.loc[first["date"]], by_day.loc[last["date"]]
    shown = [(c, n) for c, n in ACCOUNT_KINDS if by_day[c].notna().any()]
    rows = [(c, name, _or_zero(now[c]), _or_zero(now[c]) - _or_zero(then[c]))
            for c, name in shown]
    rows.append(("net_worth", "Net worth", float(last["net_worth"]),
                 float(last["net_worth"]) - float(first["net_worth"])))
    right = f"text-align:right;padding:.25rem 0 .25rem .75rem;{_AMOUNT}"
    body = "".join(
        f"<tr data-kind='{c}' style='border-top:1px solid rgba(128,128,128,.25)"
        f"{';font-weight:600' if c == 'net_worth' else ''}'>"
        f"<td style='padding:.25rem 0'>{escape(name)}</td>"
        f"<td style='{right}'>{format_money(value)}</td>"
        f"<td style='{right}'>{_signed(change)}</td></tr>" for c, name, value, change in rows)
    return (
        "<table class='fl-kinds' style='width:100%;border-collapse:collapse;"
        "font-size:.95rem'><thead><tr style='font-size:.85rem;opacity:.75'>"
        "<th style='text-align:left;font-weight:400'>Account type</th>"
        f"<th style='{right};font-weight:400'>{format_day(last['date'])}</th>"
        f"<th style='{right};font-weight:400'>Since {format_day(first['date'])}</th>"
        f"</tr></thead><tbody>{body}</tbody></table>")


def _or_zero(value: object) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


# --- upcoming bills (HTML) -----------------------------------------------------------------

def _when(day: date, today: date) -> str:
    days = (day - today).days
    return "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"


def upcoming_bills(bills: pd.DataFrame, today: date) -> str:
    """Bills expected soon (merchant, next_expected_date, amount, price_increase), one line
    each as listed: merchant and when on the left, the amount on the right."""
    lines = []
    for b in bills.itertuples(index=False):
        due = pd.Timestamp(b.next_expected_date).date()
        rise = " · price went up" if b.price_increase else ""
        lines.append(
            f"<div class='fl-bill' data-due='{due.isoformat()}' style='display:flex;"
            "justify-content:space-between;align-items:baseline;column-gap:.75rem;"
            "padding:.35rem 0;border-bottom:1px solid rgba(128,128,128,.2)'>"
            f"<span style='min-width:0;overflow-wrap:anywhere'>"
            f"<span style='font-weight:600'>{escape(str(b.merchant))}</span> "
            f"<span style='font-size:.85rem;opacity:.75;white-space:nowrap'>"
            f"{format_day(due)} · {_when(due, today)}{rise}</span></span>"
            f"<span style='{_AMOUNT}'>{format_money(b.amount)}</span></div>")
    return f"<div class='fl-bills'>{''.join(lines)}</div>"
