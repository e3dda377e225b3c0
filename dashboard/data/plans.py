"""What a person plans and expects to pay: budgets (their totals and the month's pace),
recurring payments and the bills expected soon.

Each function reads through :func:`~dashboard.data.queries.frame`, so it sees only the
signed-in person's rows. Amounts keep the partner's sign: positive is money out, negative
money in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from core.months import month_end
from dashboard.auth import Principal
from dashboard.data.queries import as_float, frame, newest_month
from dashboard.data.taxonomy import add_names
from lake.tables import BUDGET_PROGRESS

if TYPE_CHECKING:
    from lake.lake import Lake

# --- budgets -------------------------------------------------------------------------------------

def budget_progress(lake: Lake, who: Principal, month: str | None = None) -> pd.DataFrame:
    """Budget vs spend per primary category for ``month`` (default: the newest with data).

    A budget the person set after gold was computed (``budgets`` newer than the progress row)
    already counts here: share and state are recomputed from it with the same rule as the
    pipeline (``FINLAKE_BUDGET_APPROACHING``), so the page never shows a stale limit.
    """
    from core.settings import load_settings

    approaching = load_settings().budget_approaching
    month = month or newest_month(lake, BUDGET_PROGRESS)
    df = frame(
        lake, who,
        """
        SELECT p.month, coalesce(p.category_primary, b.category_primary) AS category_primary,
               -- a budget set since gold ran counts now; a cleared one no longer does
               CASE WHEN b.amount IS NOT NULL THEN b.amount
                    WHEN p.budget_source = 'manual' THEN NULL ELSE p.budget END AS budget,
               CASE WHEN b.amount IS NOT NULL THEN 'manual'
                    WHEN p.budget_source = 'manual' THEN 'none' ELSE p.budget_source END
                   AS budget_source,
               coalesce(p.spent, 0) AS spent, p.as_of
        FROM (SELECT * FROM budget_progress WHERE user_id = $user AND month = $month) p
        FULL JOIN (SELECT * FROM budgets WHERE user_id = $user) b
          ON p.category_primary = b.category_primary
        ORDER BY category_primary
        """, {"month": month})
    if df.empty:
        return df.assign(share=[], state=[], category_name=[])
    as_float(df, "budget", "spent")
    df["month"] = df["month"].fillna(month)
    df["share"] = [s / b if b and b > 0 else None
                   for s, b in zip(df["spent"], df["budget"], strict=True)]
    df["state"] = [
        "no_budget" if sh is None or pd.isna(sh) else "exceeded" if sh >= 1.0
        else "approaching" if sh >= approaching else "ok" for sh in df["share"]]
    df["budget_source"] = df["budget_source"].fillna("none")
    add_names(df, {}, "category_primary", "category_name")
    return df


PACE_TOLERANCE = 0.05  # within 5% of the budget of an even pace is "on pace"


@dataclass(frozen=True)
class BudgetTotals:
    """One month's budgets together (the categories with a budget), and how far through the
    month their spending is: ``day`` of ``days`` gone (spend counts up to ``day``)."""

    month: str
    budgeted: float
    spent: float  # in the categories with a budget
    unbudgeted: float  # spent in the categories without one
    state: str  # ok | approaching | exceeded: the rule of one budget, for them all
    day: int
    days: int

    @property
    def left(self) -> float:
        return self.budgeted - self.spent

    @property
    def elapsed(self) -> float:
        """The share of the month gone."""
        return self.day / self.days

    @property
    def expected(self) -> float:
        """What spending evenly through the month would have spent by now."""
        return self.budgeted * self.elapsed

    @property
    def pace(self) -> str:
        """``over`` (the budget), ``ahead`` (of an even pace), ``on`` or ``under`` it."""
        if self.state == "exceeded":
            return "over"
        gap = self.spent - self.expected
        if gap > PACE_TOLERANCE * self.budgeted:
            return "ahead"
        return "under" if gap < -PACE_TOLERANCE * self.budgeted else "on"


def month_days(month: str, day: date) -> tuple[int, int]:
    """(days of ``month`` gone by the end of ``day``, days in ``month``)."""
    last = month_end(month)
    first = last.replace(day=1)
    gone = 0 if day < first else last.day if day > last else day.day
    return gone, last.day


def budget_totals(progress: pd.DataFrame, today: date | None = None) -> BudgetTotals | None:
    """The totals of :func:`budget_progress`'s rows (None when no category has a budget);
    the month is gone up to its rows' ``as_of`` (else ``today``, default today in UTC)."""
    from core.settings import load_settings

    budgeted = progress[progress["state"] != "no_budget"]
    if budgeted.empty:
        return None
    month = str(progress["month"].iloc[0])
    as_of = pd.to_datetime(progress["as_of"]).max() if "as_of" in progress else None
    day = as_of.date() if as_of is not None and pd.notna(as_of) else (
        today or datetime.now(UTC).date())
    total, spent = float(budgeted["budget"].sum()), float(budgeted["spent"].sum())
    share = spent / total
    approaching = load_settings().budget_approaching
    state = "exceeded" if share >= 1.0 else "approaching" if share >= approaching else "ok"
    unbudgeted = float(progress.loc[progress["state"] == "no_budget", "spent"].sum())
    return BudgetTotals(month, round(total, 2), round(spent, 2), round(unbudgeted, 2), state,
                        *month_days(month, day))


# --- recurring -----------------------------------------------------------------------------------

MONTHLY_FACTOR = {"weekly": 52 / 12, "monthly": 1.0, "yearly": 1 / 12}


def recurring(lake: Lake, who: Principal) -> pd.DataFrame:
    """Subscriptions and bills, soonest next payment first, with a per-month equivalent."""
    df = frame(
        lake, who,
        """
        WITH names AS (
            SELECT merchant_key, arg_max(merchant, coalesce(posted_date, authorized_date))
                   AS merchant
            FROM transactions WHERE user_id = $user AND merchant_key IN (
                SELECT merchant_key FROM recurring_payments WHERE user_id = $user)
            GROUP BY merchant_key)
        SELECT r.merchant_key, coalesce(n.merchant, r.merchant_key) AS merchant, r.cadence,
               r.occurrences, r.typical_amount, r.last_amount, r.last_date,
               r.next_expected_date, coalesce(r.price_increase, false) AS price_increase,
               coalesce(r.missed_payment, false) AS missed_payment, r.detail
        FROM recurring_payments r LEFT JOIN names n USING (merchant_key)
        WHERE r.user_id = $user
        ORDER BY r.next_expected_date NULLS LAST, merchant
        """)
    as_float(df, "typical_amount", "last_amount")
    df["per_month"] = [a * MONTHLY_FACTOR.get(str(c), 1.0)
                       for a, c in zip(df["typical_amount"], df["cadence"], strict=True)]
    return df


UPCOMING_DAYS = 14


def upcoming_bills(lake: Lake, who: Principal, today: date | None = None,
                   days: int = UPCOMING_DAYS) -> pd.DataFrame:
    """Subscriptions and bills expected from ``today`` (default: today in UTC) to ``days`` days
    after it, soonest first: merchant, expected date and amount (the last one paid when the
    price went up, else the usual one)."""
    today = today or datetime.now(UTC).date()
    due = frame(
        lake, who,
        """
        SELECT merchant_key, cadence, next_expected_date, last_date,
               CASE WHEN coalesce(price_increase, false) THEN last_amount
                    ELSE typical_amount END AS amount,
               coalesce(price_increase, false) AS price_increase
        FROM recurring_payments
        WHERE user_id = $user AND next_expected_date BETWEEN $today AND $until
        ORDER BY next_expected_date, merchant_key
        """, {"today": today, "until": today + timedelta(days=max(0, int(days)))})
    as_float(due, "amount")
    due["merchant"] = due["merchant_key"].map(_merchant_names(lake, who, due))
    due["merchant"] = due["merchant"].fillna(due["merchant_key"])
    return due.sort_values(["next_expected_date", "merchant", "merchant_key"],
                           kind="stable").reset_index(drop=True)


def _merchant_names(lake: Lake, who: Principal, due: pd.DataFrame) -> dict[str, str]:
    """The merchant of each series as its last charge names it (as the Recurring page does),
    reading only the months of those last charges."""
    lasts = pd.to_datetime(due["last_date"]).dropna()
    if lasts.empty:
        return {}
    names = frame(
        lake, who,
        """
        SELECT merchant_key, arg_max(merchant, coalesce(posted_date, authorized_date))
               AS merchant
        FROM transactions
        WHERE user_id = $user AND posted_month BETWEEN $first AND $last
          AND merchant_key IN (SELECT unnest($keys))
        GROUP BY merchant_key
        """, {"first": f"{lasts.min():%Y-%m}", "last": f"{lasts.max():%Y-%m}",
              "keys": sorted(set(due["merchant_key"]))})
    return dict(zip(names["merchant_key"], names["merchant"], strict=True))


# Every public function here that reads one person's data (takes the Principal second).
PER_USER_FUNCTIONS = (budget_progress, recurring, upcoming_bills)
