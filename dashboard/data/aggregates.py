"""The Analytics page's figures (analysts only): aggregate, de-identified, across people.

:func:`_aggregate` runs them in the analyst sandbox (lake/analyst_sql.py: de-identified
tables, no files); cells with fewer than ``FINLAKE_K_ANONYMITY`` people are dropped here,
before any page sees them. Each public function takes the session's
:class:`~dashboard.auth.Principal` and refuses anyone but an analyst.
"""

from __future__ import annotations

import secrets
import threading
from typing import TYPE_CHECKING

import pandas as pd

from core.months import months_back
from dashboard.auth import Principal
from dashboard.data import queries
from dashboard.data.queries import Params, as_float
from dashboard.data.taxonomy import NOT_SPEND, NOT_SPEND_IN, add_names
from lake.analyst_sql import AnalystSession

if TYPE_CHECKING:
    from lake.lake import Lake

_ANALYST_SESSIONS: dict[tuple[str, str | None], AnalystSession] = {}
_SESSIONS_LOCK = threading.Lock()


def _aggregate(lake: Lake, sql: str, params: Params | None = None) -> pd.DataFrame:
    """``sql`` in the analyst sandbox (lake/analyst_sql.py): de-identified tables only, under
    a key made for this process (the page shows no ids, only counts of them), each table
    re-read when its Delta version moves on (checked at most every ``RECHECK_SECONDS``)."""
    key = (lake.root, lake.s3_endpoint)
    with _SESSIONS_LOCK:
        session = _ANALYST_SESSIONS.get(key)
        if session is None:
            session = _ANALYST_SESSIONS[key] = AnalystSession(
                lake, secrets.token_hex(32), recheck_seconds=queries.RECHECK_SECONDS,
                absent_as_empty=True)
    return session.frame(sql, dict(params or {}))


def _analyst(who: object) -> int:
    """The smallest number of people a shown figure may describe (``FINLAKE_K_ANONYMITY``)."""
    from core.settings import load_settings

    if not isinstance(who, Principal):
        raise TypeError("analytics are read for the signed-in Principal (dashboard.auth), "
                        f"not {type(who).__name__}")
    if who.role != "analyst":
        raise PermissionError("analytics across people are for analyst logins")
    return max(1, int(load_settings().k_anonymity))


def people_count(lake: Lake, who: Principal) -> int | None:
    """How many people have a linked account (None when fewer than k: not shown)."""
    k = _analyst(who)
    n = int(_aggregate(lake, "SELECT count(DISTINCT user_id) AS n FROM accounts")["n"].iloc[0])
    return n if n >= k else None


def spend_by_category(lake: Lake, who: Principal, months: int = 12
                      ) -> tuple[pd.DataFrame, int]:
    """Spend per month and primary category across people over the newest ``months`` months:
    (cells of at least k people with their amount, transaction count and number of people;
    how many cells were left out for describing fewer than k people)."""
    k = _analyst(who)
    newest = _aggregate(lake, "SELECT max(month) AS m FROM monthly_spend")["m"].iloc[0]
    since = months_back(None if newest is None or pd.isna(newest) else str(newest), months)
    cells = _aggregate(
        lake,
        f"""
        WITH cells AS (
            SELECT month, category_primary, sum(amount) AS amount, sum(txn_count) AS txn_count,
                   count(DISTINCT user_id) AS people
            FROM monthly_spend
            WHERE month >= $since AND coalesce(category_primary, '') NOT IN ({NOT_SPEND_IN})
            GROUP BY month, category_primary)
        SELECT month, category_primary,
               CASE WHEN people >= $k THEN amount END AS amount,
               CASE WHEN people >= $k THEN txn_count END AS txn_count,
               CASE WHEN people >= $k THEN people END AS people
        FROM cells ORDER BY month, category_primary
        """, {"since": since, "k": k, **NOT_SPEND})
    shown = cells[cells["people"].notna()].reset_index(drop=True)
    as_float(shown, "amount")
    shown["txn_count"] = shown["txn_count"].astype(int)
    shown["people"] = shown["people"].astype(int)
    add_names(shown, {}, "category_primary", "category_name")
    return shown, int(cells["people"].isna().sum())


def sync_health(lake: Lake, who: Principal) -> tuple[pd.DataFrame, int]:
    """Each institution's latest sync health (institutions syncing fewer than k items are
    left out; their number is returned second)."""
    k = _analyst(who)
    df = _aggregate(
        lake,
        """
        SELECT coalesce(i.name, h.institution_id) AS institution, h.sync_date, h.status,
               h.items, h.items_succeeded, h.success_rate, h.items_stale, h.lag_hours, h.sla_met
        FROM (SELECT *, row_number() OVER (PARTITION BY institution_id ORDER BY sync_date DESC)
                  AS newest
              FROM institution_health) h
        LEFT JOIN institutions i USING (institution_id)
        WHERE h.newest = 1
        ORDER BY institution
        """)
    small = df["items"].isna() | (df["items"] < k)
    return df[~small].reset_index(drop=True), int(small.sum())


def quality_summary(lake: Lake, who: Principal) -> pd.DataFrame:
    """The newest result of every quality suite (counts only, no failing values)."""
    _analyst(who)
    return _aggregate(
        lake,
        """
        SELECT suite, layer, sync_date, passed, rows_validated, errors, warnings, validated_at
        FROM (SELECT *, row_number() OVER (PARTITION BY suite ORDER BY validated_at DESC)
                  AS newest
              FROM quality_results)
        WHERE newest = 1
        ORDER BY passed, suite
        """)


ANALYST_FUNCTIONS = (people_count, spend_by_category, sync_health, quality_summary)
