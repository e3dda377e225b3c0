"""A person's money, page by page: accounts and their sync state, net worth (and by kind of
account), alerts, unusual activity, spending, cash flow and trends (budgets, recurring
payments and the bills expected soon: :mod:`dashboard.data.plans`).

Each function reads through :func:`~dashboard.data.queries.frame`, so it sees only the
signed-in person's rows. Amounts keep the partner's sign: positive is money out, negative
money in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.months import months_back
from dashboard.auth import Principal
from dashboard.data.queries import Params, as_float, capped, frame, newest_month, scope_of
from dashboard.data.taxonomy import NOT_SPEND, NOT_SPEND_IN, add_names, category_names
from lake.tables import (
    BUDGET_PROGRESS,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    NET_WORTH_DAILY,
    UNUSUAL_ACTIVITY,
    Table,
)
from lake.tables_ledger import MANUAL_INSTITUTION
from pipelines.wealth.networth import LIABILITY_TYPES

if TYPE_CHECKING:
    from lake.lake import Lake

# --- accounts ------------------------------------------------------------------------------------

def accounts(lake: Lake, who: Principal, now: datetime | None = None) -> pd.DataFrame:
    """The person's accounts with balances, sync state and what to do about problems.

    ``balance_shown`` is the balance as the person reads it: what a credit card or loan
    holds is owed (``owed``), so negative; ``balance_current`` stays the bank's figure.

    ``state`` is one of ``ok``, ``stale`` (not synced within its institution's refresh
    cadence plus a day; never a manual account, which nobody syncs), ``relink`` (the bank
    wants the person to sign in again), ``mfa`` (a one-time code is needed),
    ``institution_down`` (the bank's latest health is down, degraded or silently empty) or
    ``review`` (a balance jump held back for review).
    """
    now = now or datetime.now(UTC)
    df = frame(
        lake, who,
        """
        WITH health AS (
            SELECT institution_id, arg_max(status, sync_date) AS health,
                   max(sync_date) AS health_date
            FROM institution_health GROUP BY institution_id),
        items AS (
            SELECT item_id, arg_max(status, created_at) AS credential_status
            FROM credentials WHERE user_id = $user GROUP BY item_id)
        SELECT a.account_id, a.name, a.mask, a.type, a.subtype, a.balance_current,
               a.balance_available, a.currency, a.last_synced_at, a.needs_review,
               a.review_reason, a.institution_id,
               coalesce(i.name, a.institution_id) AS institution,
               coalesce(i.refresh_every_days, 1) AS refresh_every_days,
               coalesce(c.credential_status, 'active') AS credential_status,
               coalesce(h.health, 'unknown') AS institution_health
        FROM accounts a
        LEFT JOIN institutions i USING (institution_id)
        LEFT JOIN items c USING (item_id)
        LEFT JOIN health h USING (institution_id)
        WHERE a.user_id = $user
        ORDER BY institution, a.type, a.name, a.account_id
        """)
    as_float(df, "balance_current", "balance_available")
    # The partner reports what is owed on a card or loan as a positive balance; shown as
    # owed (negative), as net worth counts it (pipelines/wealth/networth.py).
    df["owed"] = df["type"].isin(LIABILITY_TYPES)
    df["balance_shown"] = df["balance_current"].where(~df["owed"], -df["balance_current"])
    df["needs_review"] = df["needs_review"].fillna(False).astype(bool)
    df["state"] = [
        _account_state(r, now) for r in df.itertuples(index=False)]
    return df


def _account_state(r: Any, now: datetime) -> str:
    if r.institution_id == MANUAL_INSTITUTION:  # kept by the person: never due for a sync
        return "review" if r.needs_review else "ok"
    if r.credential_status == "expired":
        return "relink"
    if r.credential_status == "mfa_required":
        return "mfa"
    if r.institution_health in ("down", "degraded", "silent"):
        return "institution_down"
    synced = r.last_synced_at
    if synced is None or pd.isna(synced):
        return "stale"
    synced = pd.Timestamp(synced).to_pydatetime()
    if synced.tzinfo is None:
        synced = synced.replace(tzinfo=UTC)
    if now - synced > timedelta(days=int(r.refresh_every_days) + 1):
        return "stale"
    return "review" if r.needs_review else "ok"


# --- the newest months ------------------------------------------------------------------------

def _recent(lake: Lake, who: Principal, t: Table, months: int, sql: str,
            params: Params | None = None) -> pd.DataFrame:
    """``sql`` for ``who`` with ``$since``: the first of the newest ``months`` months that ``t``
    holds (see :func:`~dashboard.data.queries.newest_month`)."""
    since = months_back(newest_month(lake, t), months)
    return frame(lake, who, sql, {"since": since, **(params or {})})


# --- overview ------------------------------------------------------------------------------------

def net_worth(lake: Lake, who: Principal, months: int = 13) -> pd.DataFrame:
    """Assets, liabilities and net worth per day over the newest ``months`` months."""
    df = _recent(lake, who, NET_WORTH_DAILY, months,
                 "SELECT date, assets, liabilities, net_worth, stale_accounts "
                 "FROM net_worth_daily WHERE user_id = $user AND month >= $since ORDER BY date")
    df["date"] = pd.to_datetime(df["date"])
    as_float(df, "assets", "liabilities", "net_worth")
    return df


# What each kind of account adds to net worth: (column, name). Cards and loans are owed, so
# negative (pipelines/wealth/networth.py subtracts them); other account types count in
# neither, as in net worth. The account types are spelled out in net_worth_by_kind's SQL.
ACCOUNT_KINDS = (("cash", "Cash"), ("investments", "Investments"),
                 ("credit_cards", "Credit cards"), ("loans", "Loans"))
MAX_KIND_DAYS = 8


def net_worth_by_kind(lake: Lake, who: Principal, days: Sequence[date] = ()) -> pd.DataFrame:
    """What each kind of account (:data:`ACCOUNT_KINDS`) holds on each of ``days`` (at most
    ``MAX_KIND_DAYS``; a page asks for the few it shows, not every day): one row per day the
    person has balances (date and a column per kind, NaN for a kind they have no account of);
    together the day's net worth."""
    scope_of(who)  # only the signed-in person's Principal, whatever the days
    wanted = sorted({pd.Timestamp(d).date() for d in days})[:MAX_KIND_DAYS]
    if not wanted:
        return pd.DataFrame(columns=["date", *(c for c, _ in ACCOUNT_KINDS)])
    params = {f"d{i}": d for i, d in enumerate(wanted)}
    months = sorted({f"{d:%Y-%m}" for d in wanted})
    params.update({f"m{i}": m for i, m in enumerate(months)})
    # the months named one by one: each reads its own partition only
    df = frame(
        lake, who,
        f"""
        SELECT date,
               sum(CASE WHEN type = 'depository' THEN balance END) AS cash,
               sum(CASE WHEN type = 'investment' THEN balance END) AS investments,
               -sum(CASE WHEN type = 'credit' THEN balance END) AS credit_cards,
               -sum(CASE WHEN type = 'loan' THEN balance END) AS loans
        FROM balances_daily
        WHERE user_id = $user
          AND month IN ({", ".join(f"$m{i}" for i in range(len(months)))})
          AND date IN ({", ".join(f"$d{i}" for i in range(len(wanted)))})
        GROUP BY date ORDER BY date
        """, params)
    df["date"] = pd.to_datetime(df["date"])
    as_float(df, *(c for c, _ in ACCOUNT_KINDS))
    return df


BUDGET_ALERTS = ("budget_exceeded", "budget_approaching")  # the most severe first


def alerts(lake: Lake, who: Principal, limit: int = 10, month: str | None = None
           ) -> pd.DataFrame:
    """The person's alerts (budgets, balance reviews...) they have not dismissed: those of
    ``month`` (default: the newest month of ``budget_progress``, the one the Overview's budgets
    are of) first, then earlier ones; newest first. ``month`` is the month an alert is about,
    ``current`` whether that is ``month`` (or later).

    One budget (category and month) shows one alert: its most severe (an "over" supersedes a
    "close to", whichever was raised first), else its newest. The pipeline keeps every
    threshold's alert (the outbox delivered each); which one is current is decided here, before
    dismissals, so dismissing the "over" does not bring back its "close to".
    """
    month = month or newest_month(lake, BUDGET_PROGRESS) or datetime.now(UTC).strftime("%Y-%m")
    df = frame(
        lake, who,
        """
        WITH ranked AS (
            SELECT alert_key, kind, subject, detail, period, created_at,
                   left(coalesce(period, strftime(created_at, '%Y-%m')), 7) AS month,
                   row_number() OVER (
                       PARTITION BY CASE WHEN kind IN ($exceeded, $approaching) THEN 'budget'
                                         ELSE alert_key END, subject, period
                       ORDER BY CASE WHEN kind = $exceeded THEN 0 ELSE 1 END,
                                created_at DESC NULLS LAST, alert_key) AS rank
            FROM alerts WHERE user_id = $user)
        SELECT alert_key, kind, subject, detail, period, month, created_at,
               coalesce(month >= $month, false) AS "current"
        FROM ranked r
        WHERE rank = 1 AND NOT EXISTS (
            SELECT 1 FROM alert_dismissals d
            WHERE d.user_id = $user AND d.alert_key = r.alert_key)
        ORDER BY "current" DESC, month DESC NULLS LAST, created_at DESC NULLS LAST, alert_key
        LIMIT $limit
        """, {"limit": capped(limit), "month": month, "exceeded": BUDGET_ALERTS[0],
              "approaching": BUDGET_ALERTS[1]})
    df["current"] = df["current"].astype(bool)
    return df


def alert_kind(lake: Lake, who: Principal, alert_key: str) -> str | None:
    """The kind of the person's alert ``alert_key``; None if it is not theirs."""
    found = frame(lake, who, "SELECT kind FROM alerts WHERE user_id = $user "
                             "AND alert_key = $alert_key LIMIT 1", {"alert_key": str(alert_key)})
    return None if found.empty else str(found["kind"].iloc[0])


def unusual_activity(lake: Lake, who: Principal, months: int = 3) -> pd.DataFrame:
    """Unusual spending in the lake's newest ``months`` months, newest first."""
    df = _recent(
        lake, who, UNUSUAL_ACTIVITY, max(1, int(months)),
        "SELECT month, kind, date, merchant_key, category_primary, amount, baseline, reason "
        "FROM unusual_activity WHERE user_id = $user AND month >= $since "
        "ORDER BY month DESC, date DESC NULLS LAST, kind")
    as_float(df, "amount", "baseline")
    add_names(df, {}, "category_primary", "category_name")
    return df


# --- spending ------------------------------------------------------------------------------------

def monthly_spend(lake: Lake, who: Principal, months: int = 24) -> pd.DataFrame:
    """Expenses per month and category over the newest ``months`` months (money out)."""
    df = _recent(
        lake, who, MONTHLY_SPEND, months,
        "SELECT month, category_primary, category, amount, txn_count FROM monthly_spend "
        "WHERE user_id = $user AND month >= $since "
        f"AND coalesce(category_primary, '') NOT IN ({NOT_SPEND_IN}) "
        "ORDER BY month, category_primary, category", NOT_SPEND)
    names = category_names(lake, who)
    add_names(df, names, "category", "category_name")
    add_names(df, names, "category_primary", "primary_name")
    as_float(df, "amount")
    return df


def cashflow(lake: Lake, who: Principal, months: int = 12) -> pd.DataFrame:
    """Income, expense and net per month over the newest ``months`` months."""
    df = _recent(lake, who, MONTHLY_CASHFLOW, months,
                 "SELECT month, income, expense, net, transfers_in, transfers_out, txn_count "
                 "FROM monthly_cashflow WHERE user_id = $user AND month >= $since ORDER BY month")
    as_float(df, "income", "expense", "net", "transfers_in", "transfers_out")
    return df


def trends(lake: Lake, who: Principal, month: str) -> pd.DataFrame:
    """Month-over-month change and 3/6/12-month averages per primary category."""
    df = frame(
        lake, who,
        "SELECT category_primary, amount, prev_month_amount, mom_change, mom_change_pct, "
        "avg_3m, avg_6m, avg_12m FROM spend_trends WHERE user_id = $user AND month = $month "
        f"AND category_primary NOT IN ({NOT_SPEND_IN}) ORDER BY amount DESC, category_primary",
        {"month": month, **NOT_SPEND})
    as_float(df, "amount", "prev_month_amount", "mom_change", "avg_3m", "avg_6m", "avg_12m")
    add_names(df, {}, "category_primary", "category_name")
    return df


def data_day(net_worth: pd.DataFrame, budgets: pd.DataFrame) -> date:
    """The day the person's figures are of ("today" for a page): the newest day of their net
    worth, else of their budgets' spend, else today in UTC."""
    for days in (net_worth.get("date"), budgets.get("as_of")):
        newest = pd.to_datetime(days).max() if days is not None and len(days) else None
        if newest is not None and pd.notna(newest):
            return newest.date()
    return datetime.now(UTC).date()


# Every public function here that reads one person's data (takes the Principal second).
PER_USER_FUNCTIONS = (accounts, net_worth, net_worth_by_kind, alerts, alert_kind,
                      unusual_activity, monthly_spend, cashflow, trends)
