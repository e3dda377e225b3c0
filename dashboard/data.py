"""The dashboard's data access: parameterised DuckDB queries over the lake's Delta tables.

One DuckDB connection per lake, cached at module level and shared by every Streamlit session
(a lock serialises use: a DuckDB connection holds one open result at a time). Before each
query the tables it reads are brought up to date: a table that appeared is registered, a table
whose Delta version moved on is re-registered, a table that vanished is dropped. Checking is
cheap (delta-rs reads only the new log entries).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pandas as pd

from lake.duck import LakeQueryError, fetch_df, fetch_rows, new_connection, register
from lake.reference import display_name
from lake.tables import MONTHLY_SPEND, TRANSACTIONS, Table

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from lake.catalog import Lake

SPEND_COLUMNS = ["month", "category_primary", "category", "category_name", "primary_name",
                 "amount", "txn_count"]
TXN_COLUMNS = ["posted_date", "description", "merchant", "amount", "currency", "category",
               "category_name", "pending"]
NOT_EXPENSE_PRIMARY = "INCOME"
MAX_LIMIT = 1000
R = TypeVar("R")


@dataclass
class _LakeConnection:
    con: duckdb.DuckDBPyConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    deltas: dict[str, DeltaTable] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def sync(self, lake: Lake, t: Table) -> bool:
        """Make the view for ``t`` match the lake; True if the table exists."""
        if not lake.exists(t):
            self.forget(t)
            return False
        dt = self.deltas.get(t.name)
        if dt is not None:
            try:
                dt.update_incremental()
            except Exception:  # log rewritten underneath us (table recreated): reopen
                self.forget(t)
                dt = None
        if dt is None:
            dt = lake.delta(t)
            if dt is None:
                return False
            self.deltas[t.name] = dt
        version = dt.version()
        if self.versions.get(t.name) != version:
            register(self.con, t, dt)
            self.versions[t.name] = version
        return True

    def forget(self, t: Table) -> None:
        if self.deltas.pop(t.name, None) is not None:
            self.versions.pop(t.name, None)
            self.con.unregister(t.name)


_CACHE: dict[tuple[str, str | None], _LakeConnection] = {}
_CACHE_LOCK = threading.Lock()


def _connection(lake: Lake) -> _LakeConnection:
    key = (lake.root, lake.s3_endpoint)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is None:
            entry = _CACHE[key] = _LakeConnection(new_connection())
        return entry


def _run(lake: Lake, t: Table, fetch: Callable[[duckdb.DuckDBPyConnection], R]) -> R | None:
    """``fetch`` on the lake's connection once ``t`` is current; None if ``t`` does not exist."""
    entry = _connection(lake)
    with entry.lock:
        for attempt in (1, 2):
            if not entry.sync(lake, t):
                return None
            try:
                return fetch(entry.con)
            except LakeQueryError:
                if attempt == 2:
                    raise
                entry.forget(t)  # files may have gone (lake rebuilt): reopen and retry once
    return None


def _df(lake: Lake, t: Table, sql: str, params: Sequence[Any]) -> pd.DataFrame | None:
    return _run(lake, t, lambda con: fetch_df(con, sql, list(params)))


def _names(codes: pd.Series) -> pd.Series:
    names = {code: display_name(code) for code in codes.dropna().unique()}
    return codes.map(lambda c: names.get(c, display_name(None)))


def users(lake: Lake) -> list[str]:
    """Users with transactions in silver, sorted."""
    df = _df(lake, TRANSACTIONS, "SELECT DISTINCT user_id FROM transactions "
             "WHERE user_id IS NOT NULL ORDER BY user_id", [])
    return [] if df is None else [str(u) for u in df["user_id"]]


def monthly_spend(lake: Lake, user_id: str) -> pd.DataFrame:
    """One user's expenses per month and category (money out only; income excluded)."""
    df = _df(
        lake, MONTHLY_SPEND,
        "SELECT month, category_primary, category, amount, txn_count FROM monthly_spend "
        "WHERE user_id = ? AND amount > 0 AND coalesce(category_primary, '') <> ? "
        "ORDER BY month, category_primary, category",
        [user_id, NOT_EXPENSE_PRIMARY],
    )
    if df is None:
        return pd.DataFrame(columns=SPEND_COLUMNS)
    df["category_name"] = _names(df["category"])
    df["primary_name"] = _names(df["category_primary"])
    df["amount"] = df["amount"].astype(float)
    return df[SPEND_COLUMNS]


def latest_transactions(lake: Lake, user_id: str, limit: int = 50) -> pd.DataFrame:
    """A user's most recent live transactions (pending included), newest first."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    df = _df(
        lake, TRANSACTIONS,
        "SELECT posted_date, description, merchant, amount, currency, "
        "coalesce(user_category, category) AS category, pending FROM transactions "
        "WHERE user_id = ? AND status = 'live' "
        "ORDER BY coalesce(posted_date, authorized_date) DESC NULLS LAST, updated_at DESC, "
        "txn_id LIMIT ?",
        [user_id, limit],
    )
    if df is None:
        return pd.DataFrame(columns=TXN_COLUMNS)
    df["posted_date"] = pd.to_datetime(df["posted_date"]).dt.date
    df["category_name"] = _names(df["category"])
    df["amount"] = df["amount"].astype(float)
    df["pending"] = df["pending"].fillna(False).astype(bool)
    return df[TXN_COLUMNS]


def last_refreshed(lake: Lake) -> datetime | None:
    """When silver transactions last changed (max updated_at, UTC), or None if unknown."""
    rows = _run(lake, TRANSACTIONS, lambda con: fetch_rows(
        con, "SELECT max(updated_at) FROM transactions")[2])
    value = rows[0][0] if rows else None
    return value if isinstance(value, datetime) else None
