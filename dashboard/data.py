"""The dashboard's data access: one cached DuckDB layer over the lake's Delta tables.

Every page reads through the functions below, built on two helpers:

* :func:`frame` runs a query **for one signed-in person**. It takes the session's
  :class:`~dashboard.auth.Principal` (nothing else: a user id string raises TypeError, an
  analyst PermissionError), binds ``$user`` from it, and scopes every per-user table the SQL
  names (every registry table with a ``user_id`` column) to that person: the query runs
  under ``WITH transactions AS NOT MATERIALIZED (SELECT * FROM transactions WHERE user_id =
  $user), ...``, so even a query that forgot its own ``WHERE user_id = $user`` sees only the
  session's rows. The scopes are inlined (``NOT MATERIALIZED``): DuckDB pushes the user
  filter, and the query's own month filters, into the Parquet scans as before.
* :func:`_shared` runs a query over everybody's rows. It is private to this module and
  used only for what names nobody: the newest month of a table and whether a user exists.
* :func:`_aggregate` runs the analyst's aggregates in the analyst sandbox
  (lake/analyst_sql.py: de-identified tables, no files); cells with fewer than
  ``FINLAKE_K_ANONYMITY`` people are dropped here, before any page sees them.

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
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pandas as pd

from core.months import months_back
from dashboard.auth import Principal
from lake.analyst_sql import AnalystSession
from lake.duck import LakeQueryError, fetch_df, new_connection, register
from lake.tables import (
    BUDGET_PROGRESS,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    NET_WORTH_DAILY,
    REGISTRY,
    UNUSUAL_ACTIVITY,
    Table,
)
from pipelines.categories.reference import categories, display_name

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from lake.lake import Lake

RECHECK_SECONDS = 1.0
CACHE_ENTRIES = 512
PAGE_SIZE = 50
MAX_LIMIT = 1000
# Gold spend tables already leave these out (pipelines/gold/spend.py); kept as a guard.
NOT_SPEND_PRIMARY = ("INCOME", "TRANSFER_IN", "TRANSFER_OUT")
# A category shown to people: the dashboard's choice first, then what silver applied.
# (A dashboard override or merchant rule is applied to silver and gold by the next nightly
# run; until then the transaction list already shows it.)
SHOWN_CATEGORY = "coalesce(o.category, t.user_category, m.category, t.category)"
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


# --- names -----------------------------------------------------------------------------------

def category_names(lake: Lake, who: Principal) -> dict[str, str]:
    """Display name per category code (taxonomy, its primaries, and the person's own)."""
    names = {c["category"]: c["display_name"] for c in categories()}
    names.update({c["category_primary"]: c["primary_display_name"] for c in categories()})
    own = frame(lake, who, "SELECT category, display_name FROM custom_categories "
                           "WHERE user_id = $user")
    names.update(dict(zip(own["category"], own["display_name"], strict=True)))
    return names


def category_choices(lake: Lake, who: Principal) -> list[tuple[str, str]]:
    """(code, "Primary › Detailed") for every category a person may pick, sorted by label."""
    own = frame(lake, who, "SELECT category, category_primary, display_name "
                           "FROM custom_categories WHERE user_id = $user")
    rows = [(c["category"], f"{c['primary_display_name']} › {c['display_name']}")
            for c in categories()]
    rows += [(code, f"{display_name(p)} › {name}") for code, p, name in
             zip(own["category"], own["category_primary"], own["display_name"], strict=True)]
    return sorted(rows, key=lambda r: r[1])


def _named(df: pd.DataFrame, names: dict[str, str], column: str, to: str) -> None:
    df[to] = [names.get(c) or display_name(c) for c in df[column]]


def _money(df: pd.DataFrame, *columns: str) -> None:
    for c in columns:
        df[c] = df[c].astype(float)


# --- what names nobody -----------------------------------------------------------------------

def newest_month(lake: Lake, t: Table, column: str = "month") -> str | None:
    """The newest month ``t`` holds (any user): what "now" means for a page. Cached per
    table version, so it costs one query per refresh, not one per page load."""
    df = _shared(lake, f"SELECT max({column}) AS m FROM {t.name}")
    value = df["m"].iloc[0] if len(df) else None
    return None if value is None or pd.isna(value) else str(value)


# --- accounts ------------------------------------------------------------------------------------

def accounts(lake: Lake, who: Principal, now: datetime | None = None) -> pd.DataFrame:
    """The person's accounts with balances, sync state and what to do about problems.

    ``state`` is one of ``ok``, ``stale`` (not synced within its institution's refresh
    cadence plus a day), ``relink`` (the bank wants the person to sign in again),
    ``mfa`` (a one-time code is needed), ``institution_down`` (the bank's latest health is
    down, degraded or silently empty) or ``review`` (a balance jump held back for review).
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
    _money(df, "balance_current", "balance_available")
    df["needs_review"] = df["needs_review"].fillna(False).astype(bool)
    df["state"] = [
        _account_state(r, now) for r in df.itertuples(index=False)]
    return df


def _account_state(r: Any, now: datetime) -> str:
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


# --- overview ------------------------------------------------------------------------------------

def net_worth(lake: Lake, who: Principal, months: int = 13) -> pd.DataFrame:
    """Assets, liabilities and net worth per day over the newest ``months`` months."""
    since = months_back(newest_month(lake, NET_WORTH_DAILY), months)
    df = frame(lake, who,
               "SELECT date, assets, liabilities, net_worth, stale_accounts "
               "FROM net_worth_daily WHERE user_id = $user AND month >= $since ORDER BY date",
               {"since": since})
    df["date"] = pd.to_datetime(df["date"])
    _money(df, "assets", "liabilities", "net_worth")
    return df


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
    _money(df, "budget", "spent")
    df["month"] = df["month"].fillna(month)
    df["share"] = [s / b if b and b > 0 else None
                   for s, b in zip(df["spent"], df["budget"], strict=True)]
    df["state"] = [
        "no_budget" if sh is None or pd.isna(sh) else "exceeded" if sh >= 1.0
        else "approaching" if sh >= approaching else "ok" for sh in df["share"]]
    df["budget_source"] = df["budget_source"].fillna("none")
    _named(df, {}, "category_primary", "category_name")
    return df


def alerts(lake: Lake, who: Principal, limit: int = 10) -> pd.DataFrame:
    """The person's newest alerts (budgets, balance reviews, unusual activity...)."""
    return frame(lake, who,
                 "SELECT kind, subject, detail, period, created_at FROM alerts "
                 "WHERE user_id = $user ORDER BY created_at DESC, alert_key LIMIT $limit",
                 {"limit": _limit(limit)})


def unusual_activity(lake: Lake, who: Principal, months: int = 3) -> pd.DataFrame:
    """Unusual spending in the lake's newest ``months`` months, newest first."""
    since = months_back(newest_month(lake, UNUSUAL_ACTIVITY), max(1, int(months)))
    df = frame(
        lake, who,
        "SELECT month, kind, date, merchant_key, category_primary, amount, baseline, reason "
        "FROM unusual_activity WHERE user_id = $user AND month >= $since "
        "ORDER BY month DESC, date DESC NULLS LAST, kind", {"since": since})
    _money(df, "amount", "baseline")
    _named(df, {}, "category_primary", "category_name")
    return df


# --- spending ------------------------------------------------------------------------------------

_NOT_SPEND = {f"not_spend{i}": c for i, c in enumerate(NOT_SPEND_PRIMARY)}
_NOT_SPEND_IN = ", ".join(f"${n}" for n in _NOT_SPEND)


def monthly_spend(lake: Lake, who: Principal, months: int = 24) -> pd.DataFrame:
    """Expenses per month and category over the newest ``months`` months (money out)."""
    since = months_back(newest_month(lake, MONTHLY_SPEND), months)
    df = frame(
        lake, who,
        "SELECT month, category_primary, category, amount, txn_count FROM monthly_spend "
        "WHERE user_id = $user AND month >= $since "
        f"AND coalesce(category_primary, '') NOT IN ({_NOT_SPEND_IN}) "
        "ORDER BY month, category_primary, category", {"since": since, **_NOT_SPEND})
    names = category_names(lake, who)
    _named(df, names, "category", "category_name")
    _named(df, names, "category_primary", "primary_name")
    _money(df, "amount")
    return df


def cashflow(lake: Lake, who: Principal, months: int = 12) -> pd.DataFrame:
    """Income, expense and net per month over the newest ``months`` months."""
    since = months_back(newest_month(lake, MONTHLY_CASHFLOW), months)
    df = frame(lake, who,
               "SELECT month, income, expense, net, transfers_in, transfers_out, txn_count "
               "FROM monthly_cashflow WHERE user_id = $user AND month >= $since ORDER BY month",
               {"since": since})
    _money(df, "income", "expense", "net", "transfers_in", "transfers_out")
    return df


def trends(lake: Lake, who: Principal, month: str) -> pd.DataFrame:
    """Month-over-month change and 3/6/12-month averages per primary category."""
    df = frame(
        lake, who,
        "SELECT category_primary, amount, prev_month_amount, mom_change, mom_change_pct, "
        "avg_3m, avg_6m, avg_12m FROM spend_trends WHERE user_id = $user AND month = $month "
        f"AND category_primary NOT IN ({_NOT_SPEND_IN}) ORDER BY amount DESC, category_primary",
        {"month": month, **_NOT_SPEND})
    _money(df, "amount", "prev_month_amount", "mom_change", "avg_3m", "avg_6m", "avg_12m")
    _named(df, {}, "category_primary", "category_name")
    return df


# --- transactions --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TxnFilter:
    text: str = ""
    min_amount: float | None = None
    max_amount: float | None = None
    start: date | None = None
    end: date | None = None
    category: str | None = None  # a detailed code, or a primary code (all its details)
    month: str | None = None  # YYYY-MM of the posting date


def _txn_where(f: TxnFilter) -> tuple[str, dict[str, Any]]:
    where, params = ["t.user_id = $user", "t.status = 'live'"], {}
    if f.text.strip():
        like = "%" + "".join("\\" + ch if ch in "\\%_" else ch for ch in f.text.strip()) + "%"
        where.append("(t.description ILIKE $like ESCAPE '\\' OR t.merchant ILIKE $like "
                     "ESCAPE '\\')")
        params["like"] = like
    if f.min_amount is not None:
        where.append("abs(t.amount) >= $min_amount")
        params["min_amount"] = f.min_amount
    if f.max_amount is not None:
        where.append("abs(t.amount) <= $max_amount")
        params["max_amount"] = f.max_amount
    if f.start is not None:
        where.append("coalesce(t.posted_date, t.authorized_date) >= $start")
        params["start"] = f.start
    if f.end is not None:
        where.append("coalesce(t.posted_date, t.authorized_date) <= $end")
        params["end"] = f.end
    if f.month:
        where.append("t.posted_month = $month")
        params["month"] = f.month
    if f.category:
        details = [c["category"] for c in categories() if c["category_primary"] == f.category]
        if details:  # a primary category: all its details, and the person's own under it
            where.append(f"({SHOWN_CATEGORY} IN (SELECT unnest($details)) OR {SHOWN_CATEGORY} "
                         "IN (SELECT category FROM custom_categories "
                         "WHERE user_id = $user AND category_primary = $category))")
            params.update(details=details, category=f.category)
        else:
            where.append(f"{SHOWN_CATEGORY} = $category")
            params["category"] = f.category
    return " AND ".join(where), params


_TXN_FROM = """
    FROM transactions t
    LEFT JOIN (SELECT txn_id, arg_max(category, created_at) AS category
               FROM transaction_overrides WHERE user_id = $user GROUP BY txn_id) o USING (txn_id)
    LEFT JOIN (SELECT merchant_key, arg_max(category, created_at) AS category
               FROM category_overrides WHERE user_id = $user GROUP BY merchant_key) m
      ON t.merchant_key = m.merchant_key
"""


def search_transactions(lake: Lake, who: Principal, f: TxnFilter = TxnFilter(),
                        page: int = 0, page_size: int = PAGE_SIZE) -> tuple[pd.DataFrame, int]:
    """One page of the person's live transactions matching ``f`` (newest first), and the total.

    Two queries: matches per month (narrow columns only), then the page's rows read from
    just the month partitions the page falls in, so a page costs the same for a person with
    five years of history as for one with five weeks.
    """
    names = category_names(lake, who)
    where, params = _txn_where(f)
    size, start = _limit(page_size), max(0, int(page)) * _limit(page_size)
    counts = frame(lake, who,
                   f"SELECT t.posted_month AS month, count(*) AS n {_TXN_FROM} WHERE {where} "
                   "GROUP BY 1 ORDER BY 1 DESC", params)
    total = int(counts["n"].sum())
    months, before, seen = [], 0, 0
    for month, n in zip(counts["month"], counts["n"], strict=True):
        if seen + n > start and seen < start + size:
            if not months:
                before = seen
            months.append(month)
        seen += int(n)
    if not months:
        return _txn_frame(pd.DataFrame(columns=[*_TXN_COLUMNS]), names), total
    in_months = {f"page_month{i}": m for i, m in enumerate(months)}
    df = frame(
        lake, who,
        f"""
        SELECT t.txn_id, coalesce(t.posted_date, t.authorized_date) AS date, t.description,
               t.merchant, t.merchant_key, t.amount, t.currency, t.pending, t.account_id,
               {SHOWN_CATEGORY} AS category,
               CASE WHEN o.category IS NOT NULL AND o.category IS DISTINCT FROM t.user_category
                    OR o.category IS NULL AND t.user_category IS NULL
                       AND m.category IS NOT NULL AND m.category IS DISTINCT FROM t.category
                    THEN true ELSE false END AS change_pending
        {_TXN_FROM}
        WHERE {where} AND t.posted_month IN ({", ".join(f"${n}" for n in in_months)})
        ORDER BY t.posted_month DESC, coalesce(t.posted_date, t.authorized_date) DESC NULLS LAST,
                 t.updated_at DESC, t.txn_id
        LIMIT $size OFFSET $offset
        """, {**params, **in_months, "size": size, "offset": start - before})
    return _txn_frame(df, names), total


_TXN_COLUMNS = ("txn_id", "date", "description", "merchant", "merchant_key", "amount",
                "currency", "pending", "account_id", "category", "change_pending")


def _txn_frame(df: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    df["date"] = pd.to_datetime(df["date"]).dt.date
    _money(df, "amount")
    df["pending"] = df["pending"].fillna(False).astype(bool)
    df["change_pending"] = df["change_pending"].fillna(False).astype(bool)
    _named(df, names, "category", "category_name")
    return df


def transaction_month(lake: Lake, who: Principal, txn_id: str) -> str | None:
    """The posting month of the person's transaction ``txn_id``; None if it is not theirs."""
    found = frame(lake, who, "SELECT posted_month FROM transactions "
                             "WHERE user_id = $user AND txn_id = $txn_id",
                  {"txn_id": str(txn_id)})
    return None if found.empty else str(found["posted_month"].iloc[0])


def has_merchant(lake: Lake, who: Principal, merchant_key: str) -> bool:
    """Whether the person has a transaction at ``merchant_key``."""
    return not frame(lake, who, "SELECT 1 FROM transactions WHERE user_id = $user "
                                "AND merchant_key = $merchant_key LIMIT 1",
                     {"merchant_key": str(merchant_key)}).empty


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
    _money(df, "typical_amount", "last_amount")
    df["per_month"] = [a * MONTHLY_FACTOR.get(str(c), 1.0)
                       for a, c in zip(df["typical_amount"], df["cadence"], strict=True)]
    return df


def _limit(n: int) -> int:
    return max(1, min(int(n), MAX_LIMIT))


# Every public function that reads one person's data (takes the Principal second).
PER_USER_FUNCTIONS = (category_names, category_choices, accounts, net_worth, budget_progress,
                      alerts, unusual_activity, monthly_spend, cashflow, trends,
                      search_transactions, transaction_month, has_merchant, recurring)


# --- analytics (analysts: aggregate, de-identified) ---------------------------------------------

_ANALYST_SESSIONS: dict[tuple[str, str | None], AnalystSession] = {}


def _aggregate(lake: Lake, sql: str, params: Params | None = None) -> pd.DataFrame:
    """``sql`` in the analyst sandbox (lake/analyst_sql.py): de-identified tables only, under
    a key made for this process (the page shows no ids, only counts of them), each table
    re-read when its Delta version moves on (checked at most every ``RECHECK_SECONDS``)."""
    key = (lake.root, lake.s3_endpoint)
    with _CACHE_LOCK:
        session = _ANALYST_SESSIONS.get(key)
        if session is None:
            session = _ANALYST_SESSIONS[key] = AnalystSession(
                lake, secrets.token_hex(32), recheck_seconds=RECHECK_SECONDS,
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
            WHERE month >= $since AND coalesce(category_primary, '') NOT IN ({_NOT_SPEND_IN})
            GROUP BY month, category_primary)
        SELECT month, category_primary,
               CASE WHEN people >= $k THEN amount END AS amount,
               CASE WHEN people >= $k THEN txn_count END AS txn_count,
               CASE WHEN people >= $k THEN people END AS people
        FROM cells ORDER BY month, category_primary
        """, {"since": since, "k": k, **_NOT_SPEND})
    shown = cells[cells["people"].notna()].reset_index(drop=True)
    _money(shown, "amount")
    shown["txn_count"] = shown["txn_count"].astype(int)
    shown["people"] = shown["people"].astype(int)
    _named(shown, {}, "category_primary", "category_name")
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
