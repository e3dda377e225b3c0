"""A person's transactions: the search behind the Transactions page and the spending
drill-down (:class:`TxnFilter`, one page at a time), and the look-ups a change is checked
with (a transaction's month, whether the person has a merchant).

Each function reads through :func:`~dashboard.data.queries.frame`, so it sees only the
signed-in person's rows. Only live rows are listed: a pending row its posted version replaced
is ``superseded`` in silver (pipelines/silver/merge.py), so one purchase is listed once.
Pending rows that have not posted yet are listed (``pending`` is true) but count in no
spending total until they post (pipelines/gold/spend.py).

The review queue (:func:`review_queue`) lists what needs a look: no category, a category the
categoriser was unsure of, a transaction the bank sent twice with different details. A
person's own category for a transaction (set or confirmed) takes it out of the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.months import months_back
from dashboard.auth import Principal
from dashboard.data.queries import as_float, capped, frame, newest_month, scope_of
from dashboard.data.taxonomy import add_names, category_names
from lake.tables import TRANSACTIONS
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
    tag: str | None = None  # only transactions with this tag (``text`` matches tags too)


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
                     f"ESCAPE '\\' OR {_ANNOTATED_LIKE})")
        params["like"] = like
    if f.tag:
        where.append("t.txn_id IN (SELECT txn_id FROM transaction_tags "
                     "WHERE user_id = $user AND tag = $tag)")
        params["tag"] = f.tag
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
    if f.category == UNCATEGORISED:
        where.append(_UNCATEGORISED_SQL)
        params.update(_uncategorised_params())
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


# The text search also finds a transaction by its tags and note (dashboard/data/annotations.py).
_ANNOTATED_LIKE = (
    "t.txn_id IN (SELECT txn_id FROM transaction_tags WHERE user_id = $user AND tag ILIKE "
    "$like ESCAPE '\\' UNION ALL SELECT txn_id FROM transaction_notes WHERE user_id = $user "
    "AND note ILIKE $like ESCAPE '\\')")


# No category: none, or one neither the taxonomy nor the person has (or the person's own
# under the "uncategorised" primary).
_UNCATEGORISED_SQL = (
    f"({SHOWN_CATEGORY} IS NULL OR {SHOWN_CATEGORY} NOT IN (SELECT unnest($known)) AND "
    f"{SHOWN_CATEGORY} NOT IN (SELECT category FROM custom_categories WHERE user_id = $user "
    "AND coalesce(category_primary, $uncategorised) <> $uncategorised))")


def _uncategorised_params() -> dict[str, Any]:
    return {"known": [c["category"] for c in categories()], "uncategorised": UNCATEGORISED}


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
               -- what gold counts (silver's) is not what is shown yet; a category confirmed
               -- as it was changes nothing there
               {SHOWN_CATEGORY} IS DISTINCT FROM coalesce(t.user_category, t.category)
                   AS change_pending
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
    for flag in ("pending", "change_pending"):
        if flag in df:
            df[flag] = df[flag].fillna(False).astype(bool)
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


def transactions_by_id(lake: Lake, who: Principal, txn_ids: Sequence[str] = ()
                       ) -> pd.DataFrame:
    """The person's transactions among ``txn_ids`` (others' are simply not found): their
    posting month, the category shown (``category``, a code or None) and description."""
    ids = sorted({str(t) for t in txn_ids})
    if not ids:
        scope_of(who)  # the same refusal as a query's for anybody but a signed-in person
        return pd.DataFrame(columns=["txn_id", "posted_month", "category", "description"])
    return frame(lake, who,
                 f"SELECT t.txn_id, t.posted_month, {SHOWN_CATEGORY} AS category, t.description "
                 f"{_TXN_FROM} WHERE t.user_id = $user AND t.txn_id IN (SELECT unnest($ids)) "
                 "ORDER BY t.txn_id", {"ids": ids})


# --- the review queue ------------------------------------------------------------------------

REVIEW_LIMIT = 100  # rows listed at once (the count covers them all)
# The queue holds the newest months' transactions (the lake's newest month and the two
# before it): what is waiting to be looked at, read from 3 month partitions, not 60.
REVIEW_MONTHS = 3
# Why a transaction is in the queue, in the order they are told.
UNCATEGORISED_REASON, LOW_CONFIDENCE, SENT_TWICE = "uncategorised", "low_confidence", "sent_twice"
SENT_AGAIN = "sent_again"
# A split (pipelines/corrections/splits.py) whose transaction the bank has since changed: its
# parts no longer add up, so gold counts the transaction whole until it is split again.
SPLIT_STALE = "split_stale"
REVIEW_REASONS = (UNCATEGORISED_REASON, LOW_CONFIDENCE, SENT_TWICE, SENT_AGAIN, SPLIT_STALE)
# Silver's status of a transaction the bank re-sent under a new id while the first is still
# listed (pipelines/silver/reissued.py): counted once, listed here as sent again until the
# person says it is not a duplicate (`finlake duplicate keep`).
PROBABLE_DUPLICATE = "duplicate"
# The person's own category for the transaction (set or confirmed here, or already copied to
# silver's user_category by a nightly): nothing the categoriser was unsure of is left.
_THEIR_OWN = "(o.category IS NOT NULL OR t.user_category IS NOT NULL)"
_REVIEW_SQL = f"""
    WITH q AS (
        SELECT t.txn_id, coalesce(t.posted_date, t.authorized_date) AS date, t.description,
               t.merchant, t.amount, t.currency, t.pending, t.posted_month, t.updated_at,
               {SHOWN_CATEGORY} AS category, t.category_source,
               t.category_confidence AS confidence,
               {_UNCATEGORISED_SQL} AS {UNCATEGORISED_REASON},
               coalesce(NOT {_THEIR_OWN} AND m.category IS NULL
                        AND coalesce(t.category_source, '') <> 'override'
                        AND t.category_confidence < $threshold, false) AS {LOW_CONFIDENCE},
               coalesce(t.partner_duplicate, false) AND NOT {_THEIR_OWN} AS {SENT_TWICE},
               t.status = '{PROBABLE_DUPLICATE}' AS {SENT_AGAIN},
               coalesce(t.status = 'live' AND (sp.split_sum <> t.amount
                        OR sp.split_low <> t.amount OR sp.split_high <> t.amount), false)
                   AS {SPLIT_STALE}
        {_TXN_FROM}
        LEFT JOIN (SELECT txn_id, sum(amount) AS split_sum, min(txn_amount) AS split_low,
                          max(txn_amount) AS split_high
                   FROM transaction_splits WHERE user_id = $user GROUP BY txn_id) sp
          ON sp.txn_id = t.txn_id
        WHERE t.user_id = $user AND t.status IN ('live', '{PROBABLE_DUPLICATE}')
          AND t.posted_month >= $since)
    SELECT * REPLACE ({LOW_CONFIDENCE} AND NOT {UNCATEGORISED_REASON} AS {LOW_CONFIDENCE}),
           count(*) OVER () AS waiting
    FROM q
    WHERE {UNCATEGORISED_REASON} OR {LOW_CONFIDENCE} OR {SENT_TWICE} OR {SENT_AGAIN}
          OR {SPLIT_STALE}
    ORDER BY posted_month DESC, date DESC NULLS LAST, updated_at DESC, txn_id
    LIMIT $limit
"""


def low_confidence_below() -> float:
    """The confidence under which the categoriser leaves a row uncategorised for review
    (``FINLAKE_CATEGORY_THRESHOLD``, the nightly's threshold, pipelines/categories/): a
    category below it is one the person should look at."""
    from core.settings import load_settings

    return load_settings().category_threshold


def review_queue(lake: Lake, who: Principal, limit: int = REVIEW_LIMIT
                 ) -> tuple[pd.DataFrame, int]:
    """The person's live transactions of the newest :data:`REVIEW_MONTHS` months that need a
    look (newest first, at most ``limit``), and how many there are in all.

    ``reasons`` lists why each is there (:data:`REVIEW_REASONS`): no category; a category the
    categoriser gave with a confidence below :func:`low_confidence_below`; the bank sent it
    again as new with other details (silver's ``partner_duplicate``: it is counted once, but
    its amount, date or description changed); the bank sent an exact copy under a new id
    (``sent_again``: silver's status ``duplicate``, the copy counts in no total); a split
    whose transaction the bank changed since (``split_stale``: counted whole). A category
    the person set or confirmed for the transaction (or for its merchant) takes the first two
    away; set or confirmed for the transaction, the third; a copy stays until the person says
    it is not a duplicate.
    """
    since = months_back(newest_month(lake, TRANSACTIONS, "posted_month"), REVIEW_MONTHS)
    df = frame(lake, who, _REVIEW_SQL,
               {**_uncategorised_params(), "threshold": low_confidence_below(),
                "limit": capped(limit), "since": since})
    waiting = int(df["waiting"].iloc[0]) if len(df) else 0
    df["reasons"] = [tuple(r for r in REVIEW_REASONS if flags[r]) for flags in
                     df[list(REVIEW_REASONS)].to_dict("records")]
    df["confidence"] = df["confidence"].astype(float)
    df = _txn_frame(df.drop(columns=[*REVIEW_REASONS, "waiting", "updated_at"]),
                    category_names(lake, who))
    return df, waiting


# Every public function here that reads one person's data (takes the Principal second).
PER_USER_FUNCTIONS = (search_transactions, pending_counts, transaction_month, has_merchant,
                      transactions_by_id, review_queue)
