"""A person's tags and notes on their transactions, as the Transactions page reads them: the
tags and note of the rows on a page, every tag they use (the tag filter), and which of their
transactions a change is for.

Reads go through :func:`~dashboard.data.queries.frame` (only the signed-in person's rows).
The search itself (text matching tags and notes, the tag filter) is in dashboard/data/txns.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dashboard.auth import Principal
from dashboard.data.queries import frame, scope_of

if TYPE_CHECKING:
    from lake.lake import Lake


def annotations_for(lake: Lake, who: Principal, txn_ids: Sequence[str] = ()
                    ) -> dict[str, tuple[list[str], str | None]]:
    """Transaction id -> (its tags, sorted; its note or None) for each of ``txn_ids``."""
    ids = sorted({str(t) for t in txn_ids})
    scope_of(who)
    out: dict[str, tuple[list[str], str | None]] = {t: ([], None) for t in ids}
    if not ids:
        return out
    tags = frame(lake, who, "SELECT txn_id, tag FROM transaction_tags WHERE user_id = $user "
                            "AND txn_id IN (SELECT unnest($ids)) ORDER BY txn_id, tag",
                 {"ids": ids})
    for txn_id, tag in zip(tags["txn_id"], tags["tag"], strict=True):
        out[txn_id][0].append(str(tag))
    notes = frame(lake, who, "SELECT txn_id, note FROM transaction_notes WHERE user_id = $user "
                             "AND txn_id IN (SELECT unnest($ids))", {"ids": ids})
    for txn_id, note in zip(notes["txn_id"], notes["note"], strict=True):
        out[txn_id] = (out[txn_id][0], str(note))
    return out


def tags_in_use(lake: Lake, who: Principal) -> list[str]:
    """Every tag the person has on a transaction, sorted."""
    df = frame(lake, who, "SELECT DISTINCT tag FROM transaction_tags WHERE user_id = $user "
                          "ORDER BY tag")
    return [str(t) for t in df["tag"]]


def annotated_transaction(lake: Lake, who: Principal, txn_id: str = "") -> str | None:
    """The person's transaction a tag or note for ``txn_id`` goes on: ``txn_id`` when it is
    theirs and live, the posted transaction when it was their pending one that has posted,
    else None (anybody else's, removed, unknown)."""
    df = frame(lake, who,
               "SELECT coalesce(p.txn_id, t.txn_id) AS txn_id, coalesce(p.status, t.status) "
               "AS status FROM transactions t LEFT JOIN transactions p ON t.status = "
               "'superseded' AND p.account_id = t.account_id AND p.partner_txn_id = "
               "t.superseded_by WHERE t.user_id = $user AND t.txn_id = $txn_id",
               {"txn_id": str(txn_id)})
    if df.empty or df["status"].iloc[0] != "live":
        return None
    return str(df["txn_id"].iloc[0])


PER_USER_FUNCTIONS = (annotations_for, tags_in_use, annotated_transaction)
