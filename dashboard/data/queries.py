"""The dashboard's scoped, cached DuckDB access over the lake's Delta tables.

Every per-user query of the data layer (``dashboard/data/``) reads through the helpers below:

* :func:`frame` runs a query **for one signed-in person**. It takes the session's
  :class:`~dashboard.auth.Principal` (nothing else: a user id string raises TypeError, an
  analyst PermissionError), binds ``$user`` from it, and scopes every per-user table the SQL
  names (every registry table with a ``user_id`` column) to that person: the query runs
  under ``WITH transactions AS NOT MATERIALIZED (SELECT * FROM transactions WHERE user_id =
  $user), ...``, so even a query that forgot its own ``WHERE user_id = $user`` sees only the
  session's rows. The scopes are inlined (``NOT MATERIALIZED``): DuckDB pushes the user
  filter, and the query's own month filters, into the Parquet scans as before.
* :func:`_shared` runs a query over everybody's rows. It is private to this module and
  used only for what names nobody: the newest month of a table (whether a user exists is
  asked of `lake/people.py`).

The analyst's aggregates do not come through here: ``dashboard/data/aggregates.py`` runs them
in the analyst sandbox (lake/analyst_sql.py).

The connection and cache:

* **One connection per lake**, shared by every Streamlit session (a lock serialises use: a
  DuckDB connection holds one open result at a time). Each registry table is a view over the
  Arrow dataset of its current Delta version; a table not created yet is an empty view with the
  registry's schema, so pages never break on a young lake.
* **Versions are re-checked at most every** ``RECHECK_SECONDS`` per table (delta-rs reads only
  the new log entries). A table whose version moved on is re-registered; one that vanished
  becomes empty again.
* **Results are cached** by (SQL, parameters, versions of the tables it reads): a repeated page
  load costs a dictionary lookup, and a new Delta version invalidates exactly the results that
  read that table. The user is a parameter, so one person's results are never another's.
  Callers get a copy, so they may modify what they receive.
* Nothing is interpolated into SQL: every value is a named parameter.

Amounts keep the partner's sign: positive is money out, negative money in.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pandas as pd

from dashboard.auth import Principal
from lake.duck import LakeQueryError, fetch_df, new_connection, register
from lake.tables import REGISTRY, Table

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from lake.lake import Lake

RECHECK_SECONDS = 1.0
CACHE_ENTRIES = 512
MAX_LIMIT = 1000
# Tables holding rows of one person each: a per-user query sees only the session's rows.
PER_USER_TABLES = frozenset(t.name for t in REGISTRY.values() if "user_id" in t.column_names)
_TABLE_NAMES = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, REGISTRY), key=len, reverse=True)) + r")\b")
# What could reach a table past its scope: a catalog-qualified name (temp.main.transactions)
# or a table function reading files or other queries.
_UNSCOPABLE = re.compile(
    r"\b(?:temp|main|memory|system|information_schema|pg_catalog)\s*\.|"
    r"\b(?:read_\w+|parquet_\w+|delta_scan|glob|query|query_table|sniff_csv)\s*\(|"
    r"\bwith\s+recursive\b|\battach\b|\bpragma\b", re.IGNORECASE)
_PARAM = re.compile(r"\$([A-Za-z_]\w*)")
_LEADING_WITH = re.compile(r"^\s*with\b", re.IGNORECASE)
R = TypeVar("R")
Params = Mapping[str, Any]


@dataclass
class _LakeConnection:
    con: duckdb.DuckDBPyConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    deltas: dict[str, DeltaTable] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # -1: absent (empty view)
    checked: dict[str, float] = field(default_factory=dict)
    committed: dict[str, datetime | None] = field(default_factory=dict)
    results: OrderedDict[tuple, Any] = field(default_factory=OrderedDict)

    def sync(self, lake: Lake, t: Table, force: bool = False) -> int:
        """Make the view for ``t`` match the lake (at most every RECHECK_SECONDS); its version."""
        now = time.monotonic()
        fresh = now - self.checked.get(t.name, float("-inf")) < RECHECK_SECONDS
        if not force and fresh and t.name in self.versions:
            return self.versions[t.name]
        self.checked[t.name] = now
        dt = self.deltas.get(t.name)
        if dt is not None:
            try:
                dt.update_incremental()
            except Exception:  # log rewritten underneath us (table recreated): reopen
                dt = None
        if dt is None:
            dt = lake.delta(t)
        if dt is None:
            self.deltas.pop(t.name, None)
            if self.versions.get(t.name) != -1:
                register(self.con, t, None)
                self.versions[t.name] = -1
                self.committed[t.name] = None
            return -1
        self.deltas[t.name] = dt
        version = dt.version()
        if self.versions.get(t.name) != version:
            register(self.con, t, dt)
            self.versions[t.name] = version
            self.committed[t.name] = _commit_time(dt)
        return version


def _commit_time(dt: DeltaTable) -> datetime | None:
    try:
        stamp = dt.history(1)[0].get("timestamp")
    except Exception:
        return None
    return datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None


_CACHE: dict[tuple[str, str | None], _LakeConnection] = {}
_CACHE_LOCK = threading.Lock()


def _connection(lake: Lake) -> _LakeConnection:
    key = (lake.root, lake.s3_endpoint)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is None:
            entry = _CACHE[key] = _LakeConnection(new_connection())
        return entry


def _cached(lake: Lake, tables: Sequence[Table], key: tuple,
            fetch: Callable[[duckdb.DuckDBPyConnection], R]) -> R:
    entry = _connection(lake)
    with entry.lock:
        for attempt in (1, 2):
            versions = tuple(entry.sync(lake, t, force=attempt == 2) for t in tables)
            full_key = (key, versions)
            if full_key in entry.results:
                entry.results.move_to_end(full_key)
                return entry.results[full_key]
            try:
                result = fetch(entry.con)
            except LakeQueryError:
                if attempt == 2:
                    raise
                continue  # files may have gone (table rewritten): re-check versions, retry once
            entry.results[full_key] = result
            if len(entry.results) > CACHE_ENTRIES:
                entry.results.popitem(last=False)
            return result
    raise AssertionError("unreachable")


def _tables_in(sql: str) -> list[Table]:
    """The registry tables ``sql`` names (every one is synced and part of the cache key)."""
    return [REGISTRY[n] for n in sorted(set(_TABLE_NAMES.findall(sql)))]


def _run(lake: Lake, sql: str, params: Params) -> pd.DataFrame:
    """``sql`` with the named ``params`` it uses (``$name``), cached, as a DataFrame copy."""
    used = sorted(set(_PARAM.findall(sql)))
    missing = [n for n in used if n not in params]
    if missing:
        raise KeyError(f"no value for ${', $'.join(missing)}")
    bound = {n: params[n] for n in used}
    key = tuple((n, tuple(v) if isinstance(v, list) else v) for n, v in bound.items())
    df = _cached(lake, _tables_in(sql), ("df", sql, key),
                 lambda con: fetch_df(con, sql, bound))
    return df.copy()


def scope_of(who: object) -> str:
    """The user id a per-user query is bound to: only a signed-in user's Principal has one."""
    if not isinstance(who, Principal):
        raise TypeError("per-user data is read for the signed-in Principal (dashboard.auth), "
                        f"not {type(who).__name__}")
    if who.role != "user" or not who.user_id:
        raise PermissionError("an analyst sees aggregate, de-identified views only")
    return who.user_id


def scoped_sql(sql: str) -> str:
    """``sql`` with every per-user table it names replaced by that table's rows of ``$user``
    (inlined CTEs of the same names, so filters still reach the Parquet scans)."""
    bad = _UNSCOPABLE.search(sql)
    if bad:
        raise ValueError(f"a per-user query may not use {bad.group(0)!r}: it could read "
                         "past the session's scope")
    names = sorted({n for n in _TABLE_NAMES.findall(sql) if n in PER_USER_TABLES})
    if not names:
        return sql
    scopes = ", ".join(f'"{n}" AS NOT MATERIALIZED (SELECT * FROM "{n}" WHERE user_id = $user)'
                       for n in names)
    if _LEADING_WITH.match(sql):
        return _LEADING_WITH.sub(lambda _: f"WITH {scopes},", sql, count=1)
    return f"WITH {scopes}\n{sql}"


def frame(lake: Lake, who: Principal, sql: str, params: Params | None = None) -> pd.DataFrame:
    """``sql`` for the signed-in person ``who`` as a DataFrame: ``$user`` is their user id
    (given ``params`` cannot name another), and every per-user table it reads holds only
    their rows (see :func:`scoped_sql`)."""
    user = scope_of(who)
    return _run(lake, scoped_sql(sql), {**(params or {}), "user": user})


def _shared(lake: Lake, sql: str, params: Params | None = None) -> pd.DataFrame:
    """``sql`` over everybody's rows. Only for results that name nobody (see the module
    docstring); never returns a user id, a description or a merchant of one person."""
    return _run(lake, sql, params or {})


def refreshed_at(lake: Lake, t: Table) -> datetime | None:
    """When ``t``'s current version was committed (UTC), or None if it does not exist."""
    entry = _connection(lake)
    with entry.lock:
        entry.sync(lake, t)
        return entry.committed.get(t.name)


def changed(lake: Lake, t: Table) -> None:
    """``t`` was just written by this process: re-check its version on the next read."""
    entry = _connection(lake)
    with entry.lock:
        entry.checked.pop(t.name, None)


# --- what names nobody -----------------------------------------------------------------------

def newest_month(lake: Lake, t: Table, column: str = "month") -> str | None:
    """The newest month ``t`` holds (any user): what "now" means for a page. Cached per
    table version, so it costs one query per refresh, not one per page load."""
    df = _shared(lake, f"SELECT max({column}) AS m FROM {t.name}")
    value = df["m"].iloc[0] if len(df) else None
    return None if value is None or pd.isna(value) else str(value)


# --- what the query modules share ------------------------------------------------------------

def as_float(df: pd.DataFrame, *columns: str) -> None:
    """Money columns (Decimal in the lake) as floats, in place."""
    for c in columns:
        df[c] = df[c].astype(float)


def capped(n: int) -> int:
    """A row limit a caller asked for, kept between 1 and ``MAX_LIMIT``."""
    return max(1, min(int(n), MAX_LIMIT))
