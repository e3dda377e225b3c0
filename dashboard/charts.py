"""The dashboard's charts: one colour per primary category in every chart, legends that show
every entry, budget bars coloured by status, and the net-worth line.

Every chart colouring by category uses :func:`category_scale`: an explicit domain and range,
so a category keeps its colour whatever else a chart happens to draw (Vega-Lite's default
would give the first category of each chart's own domain the palette's first colour)."""

from __future__ import annotations

from collections.abc import Iterable

import altair as alt
import pandas as pd

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


def budget_bars(progress: pd.DataFrame) -> alt.Chart:
    """Spent against budget per category (category_name, spent, budget, share, state), each
    bar coloured by its status: on track, approaching the limit, over budget."""
    rows = progress[progress["state"].isin(list(STATUS_LABELS))]
    data = pd.DataFrame({
        "Category": rows["category_name"].to_list(),
        "Status": [STATUS_LABELS[s] for s in rows["state"]],
        "Used": [max(float(s), 0.0) for s in rows["share"]],  # refunds can exceed spend
        "Spent": [float(s) for s in rows["spent"]],
        "Budget": [float(b) for b in rows["budget"]],
    })
    return alt.Chart(data).mark_bar().properties(height=alt.Step(28)).encode(
        y=alt.Y("Category:N", title=None, sort=None),
        x=alt.X("Used:Q", title="Share of budget spent", axis=alt.Axis(format="%"),
                scale=alt.Scale(domainMin=0, domainMax=max(1.0, *data["Used"], 0.0))),
        color=alt.Color("Status:N", title=None,
                        scale=alt.Scale(domain=list(STATUS_LABELS.values()),
                                        range=list(STATUS_COLORS.values())),
                        legend=alt.Legend(orient="bottom", columns=3, labelLimit=0,
                                          symbolLimit=0)),
        tooltip=[alt.Tooltip("Category:N"), alt.Tooltip("Status:N"),
                 alt.Tooltip("Spent:Q", format="$,.2f"),
                 alt.Tooltip("Budget:Q", format="$,.2f"),
                 alt.Tooltip("Used:Q", format=".0%")])


def date_axis(days: int) -> alt.Axis:
    """A date axis whose ticks are never finer than its labels (no day named twice)."""
    if days > 120:
        return alt.Axis(format="%b %Y", tickCount={"interval": "month", "step": 1},
                        labelOverlap=True, labelAngle=0)
    interval = "week" if days > 21 else "day"
    return alt.Axis(format="%d %b", tickCount={"interval": interval, "step": 1},
                    labelOverlap=True, labelAngle=0)


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
