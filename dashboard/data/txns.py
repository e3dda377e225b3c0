"""A person's transactions: the search behind the Transactions page and the spending
drill-down (:class:`TxnFilter`, one page at a time), and the look-ups a change is checked
with (a transaction's month, whether the person has a merchant).

Each function reads through :func:`~dashboard.data.queries.frame`, so it sees only the
signed-in person's rows. Only live rows are listed: a pending row its posted version replaced
is ``superseded`` in silver (pipelines/silver/merge.py), so one purchase is listed once.
Pending rows that have not posted yet are listed (``pending`` is true) but count in no
spending total until they post (pipelines/gold/spend.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashboard.auth import Principal
from dashboard.data.queries import as_float, capped, frame
from dashboard.data.taxonomy import add_names, category_names
from pipelines.categories.reference import categories, primary_of
from pipelines.gold.flows import (
    NO_CATEGORY_PRIMARY,
    NOT_SPEND_PRIMARY,
    TRANSFER_DETAILED,
    UNCATEGORISED,
)

if TYPE_CHECKING:
    from lake.lake import Lake

PAGE_SIZE = 50
# A category shown to people: the dashboard's choice first, then what silver applied.
# (A dashboard override or merchant rule is applied to silver and gold by the next nightly
# run; until then the transaction list already shows it.)
SHOWN_CATEGORY = "coalesce(o.category, t.user_category, m.category, t.category)"


@dataclass(frozen=True)
class TxnFilter:
    text: str = ""
    min_amount: float | None = None
    max_amount: float | None = None
    start: date | None = None
    end: date | None = None
    category: str | None = None  # a detailed code, or a primary code (all its details)
    month: str | None = None  # YYYY-MM of the posting date
    # Only what counts as spending in ``category`` (pipelines/gold/flows.py): the rows its
    # spending total is made of, plus its pending ones. Needs ``category``.
    spending: bool = False


# Each bound a filter may set: the TxnFilter field (also the parameter), its condition.
_BOUNDS = (("min_amount", "abs(t.amount) >= $min_amount"),
           ("max_amount", "abs(t.amount) <= $max_amount"),
           ("start", "coalesce(t.posted_date, t.authorized_date) >= $start"),
           ("end", "coalesce(t.posted_date, t.authorized_date) <= $end"))


def _txn_where(f: TxnFilter) -> tuple[str, dict[str, Any]]:
    where, params = ["t.user_id = $user", "t.status = 'live'"], {}
    if f.text.strip():
        like = "%" + "".join("\\" + ch if ch in "\\%_" else ch for ch in f.text.strip()) + "%"
        where.append("(t.description ILIKE $like ESCAPE '\\' OR t.merchant ILIKE $like "
                     "ESCAPE '\\')")
        params["like"] = like
    for name, condition in _BOUNDS:
        value = getattr(f, name)
        if value is not None:
            where.append(condition)
            params[name] = value
    if f.month:
        where.append("t.posted_month = $month")
        params["month"] = f.month
    if f.spending and not f.category:
        raise ValueError("spending rows are those of one category: give the category")
    if f.category == UNCATEGORISED:  # no category: none, or one neither taxonomy nor person has
        where.append(f"({SHOWN_CATEGORY} IS NULL OR {SHOWN_CATEGORY} NOT IN "
                     "(SELECT unnest($known)) AND "
                     f"{SHOWN_CATEGORY} NOT IN (SELECT category FROM custom_categories WHERE "
                     "user_id = $user AND coalesce(category_primary, $category) <> $category))")
        params.update(known=[c["category"] for c in categories()], category=f.category)
    elif f.category:
        details = [c["category"] for c in categories() if c["category_primary"] == f.category]
        if details:  # a primary category: all its details, and the person's own under it
            where.append(f"({SHOWN_CATEGORY} IN (SELECT unnest($details)) OR {SHOWN_CATEGORY} "
                         "IN (SELECT category FROM custom_categories "
                         "WHERE user_id = $user AND category_primary = $category))")
            params.update(details=details, category=f.category)
        else:
            where.append(f"{SHOWN_CATEGORY} = $category")
            params["category"] = f.category
    if f.spending:
        where.extend(_spending(primary_of(f.category)))
        params["transfer_detailed"] = list(TRANSFER_DETAILED)
    return " AND ".join(where), params


def _spending(primary: str) -> list[str]:
    """The conditions a row of ``primary`` meets when it counts as spending (the rule of
    pipelines/gold/flows.py, as gold's classify applies it)."""
    if primary in NOT_SPEND_PRIMARY:
        return ["false"]
    out = [f"coalesce({SHOWN_CATEGORY}, '') NOT IN (SELECT unnest($transfer_detailed))"]
    if primary in NO_CATEGORY_PRIMARY:  # money in without a category is income
        out.append("coalesce(t.amount, 0) >= 0")
    return out


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
    size, start = capped(page_size), max(0, int(page)) * capped(page_size)
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
    as_float(df, "amount")
    df["pending"] = df["pending"].fillna(False).astype(bool)
    df["change_pending"] = df["change_pending"].fillna(False).astype(bool)
    add_names(df, names, "category", "category_name")
    return df


def pending_counts(lake: Lake, who: Principal, f: TxnFilter = TxnFilter()) -> dict[str, int]:
    """How many of the person's live transactions matching ``f`` are pending (not posted
    yet), per category shown (``UNCATEGORIZED`` for none, as gold names it)."""
    where, params = _txn_where(f)
    df = frame(lake, who,
               f"SELECT coalesce({SHOWN_CATEGORY}, $uncategorised) AS category, "
               f"count(*) AS n {_TXN_FROM} WHERE {where} AND t.pending GROUP BY 1 ORDER BY 1",
               {**params, "uncategorised": UNCATEGORISED})
    return {str(c): int(n) for c, n in zip(df["category"], df["n"], strict=True)}


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


# Every public function here that reads one person's data (takes the Principal second).
PER_USER_FUNCTIONS = (search_transactions, pending_counts, transaction_month, has_merchant)
