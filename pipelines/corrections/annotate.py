"""Write a person's tags and note on one of their transactions (delta-rs, no Spark).

The dashboard (dashboard/annotate.py) and the CLI (finlake/commands/annotate.py) check that
the transaction is the person's (:func:`resolve` here for the CLI, the dashboard's scoped
DuckDB for the dashboard), then call these. Each change is checked first (the rules are in
pipelines/corrections/annotations.py), written in one Delta commit per table, and recorded in
the audit log with counts only: never a tag, a note or an id.

A pending transaction that has posted is ``superseded`` in silver and its tags and note were
carried to the posted one (pipelines/silver/merge.py): :func:`resolve` sends a change to it to
the posted transaction, so nothing is written where nobody sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from lake.arrow import arrow_schema
from lake.audit_log import audit
from lake.delta import sql_literal
from lake.small_tables import append_rows, read_rows, upsert_rows
from lake.tables import TRANSACTION_NOTES, TRANSACTION_TAGS, TRANSACTIONS
from pipelines.corrections.annotations import (
    AnnotationError,
    normalise_note,
    parse_tags,
    tags_after,
)

if TYPE_CHECKING:
    from lake.lake import Lake

ACTION = "annotate_transaction"


@dataclass
class Annotations:
    """A transaction's tags (sorted) and note (None: no note)."""

    tags: list[str] = field(default_factory=list)
    note: str | None = None


def _mine(user_id: str, txn_ids: Sequence[str]) -> object:
    import pyarrow.dataset as ds

    return (ds.field("user_id") == user_id) & ds.field("txn_id").isin(list(txn_ids))


def annotations_of(lake: Lake, user_id: str, txn_ids: Sequence[str]) -> dict[str, Annotations]:
    """Transaction id -> its tags and note, for each of ``txn_ids`` (none: empty)."""
    out = {t: Annotations() for t in txn_ids}
    if not txn_ids:
        return out
    for r in read_rows(lake, TRANSACTION_TAGS, _mine(user_id, txn_ids)):
        out[r["txn_id"]].tags.append(r["tag"])
    for r in read_rows(lake, TRANSACTION_NOTES, _mine(user_id, txn_ids)):
        out[r["txn_id"]].note = r["note"]
    for a in out.values():
        a.tags.sort()
    return out


def resolve(lake: Lake, user_id: str, txn_id: str) -> str:
    """The id of the person's transaction that a change to ``txn_id`` is for: ``txn_id``
    itself, or the posted transaction a pending one has become. Raises
    :class:`AnnotationError` when ``user_id`` has no such transaction (anybody else's is
    refused the same way) or it was removed."""
    import pyarrow.dataset as ds

    rows = read_rows(lake, TRANSACTIONS, (ds.field("user_id") == user_id)
                     & (ds.field("txn_id") == txn_id))
    if not rows:
        raise AnnotationError(f"No transaction {txn_id!r} of user {user_id!r}: check the id "
                              "(finlake sql \"SELECT txn_id, description FROM transactions\").")
    row = rows[0]
    if row["status"] == "superseded" and row["superseded_by"]:
        posted = read_rows(lake, TRANSACTIONS, (ds.field("account_id") == row["account_id"])
                           & (ds.field("partner_txn_id") == row["superseded_by"]))
        if posted and posted[0]["user_id"] == user_id:
            return str(posted[0]["txn_id"])
    if row["status"] != "live":
        raise AnnotationError(f"Transaction {txn_id!r} was removed by the bank: there is "
                              "nothing to tag. Nothing was changed.")
    return txn_id


def _tag_rows(user_id: str, txn_id: str, tags: Iterable[str], source: str) -> list[dict]:
    now = datetime.now(UTC)
    return [{"user_id": user_id, "txn_id": txn_id, "tag": t, "source": source,
             "created_at": now} for t in tags]


def _write_tags(lake: Lake, user_id: str, txn_id: str, before: list[str], after: list[str],
                source: str) -> None:
    """Make the transaction's tags ``after`` in one commit (added inserted, dropped deleted)."""
    added = [t for t in after if t not in before]
    dropped = [t for t in before if t not in after]
    dt = lake.delta(TRANSACTION_TAGS)
    if dt is None:
        append_rows(lake, TRANSACTION_TAGS, _tag_rows(user_id, txn_id, added, source))
        return
    if not dropped:
        upsert_rows(lake, TRANSACTION_TAGS, _tag_rows(user_id, txn_id, added, source),
                    update=False)
        return
    source_rows = pa.Table.from_pylist(_tag_rows(user_id, txn_id, after, source),
                                       schema=arrow_schema(TRANSACTION_TAGS))
    this = f"t.user_id = {sql_literal(user_id)} AND t.txn_id = {sql_literal(txn_id)}"
    (dt.merge(source_rows, predicate="t.user_id = s.user_id AND t.txn_id = s.txn_id AND "
                                     "t.tag = s.tag", source_alias="s", target_alias="t")
     .when_not_matched_insert_all()
     .when_not_matched_by_source_delete(predicate=this)
     .execute())


def change_tags(lake: Lake, user_id: str, txn_id: str, *, actor: str, source: str,
                add: str | Iterable[str] = (), remove: str | Iterable[str] = (),
                replace: str | Iterable[str] | None = None) -> list[str]:
    """Add ``add`` and remove ``remove`` (or, with ``replace``, make the tags exactly those)
    on the person's transaction ``txn_id`` (already checked to be theirs); its tags after.
    Tags are normalised (:func:`parse_tags`); a bad one refuses the whole change."""
    before = annotations_of(lake, user_id, [txn_id])[txn_id].tags
    if replace is not None:
        wanted = [] if _blank(replace) else parse_tags(replace)
        after = tags_after([], wanted)
    else:
        after = tags_after(before, [] if _blank(add) else parse_tags(add),
                           [] if _blank(remove) else parse_tags(remove))
    if after != before:
        _write_tags(lake, user_id, txn_id, before, after, source)
        added, removed = len(set(after) - set(before)), len(set(before) - set(after))
        audit(lake, actor, ACTION, user_id, tags_added=added, tags_removed=removed)
    return after


def _blank(texts: str | Iterable[str]) -> bool:
    pieces = [texts] if isinstance(texts, str) else list(texts)
    return all(isinstance(p, str) and not p.replace(",", "").strip() for p in pieces)


def set_note(lake: Lake, user_id: str, txn_id: str, text: str, *, actor: str,
             source: str) -> str:
    """The person's note on their transaction ``txn_id`` (replacing any); the note stored."""
    note = normalise_note(text)
    if annotations_of(lake, user_id, [txn_id])[txn_id].note == note:
        return note
    upsert_rows(lake, TRANSACTION_NOTES, [{"user_id": user_id, "txn_id": txn_id, "note": note,
                                           "source": source, "updated_at": datetime.now(UTC)}])
    audit(lake, actor, ACTION, user_id, note="set", note_chars=len(note))
    return note


def clear_note(lake: Lake, user_id: str, txn_id: str, *, actor: str) -> bool:
    """Remove the note on the person's transaction ``txn_id``; whether there was one."""
    if annotations_of(lake, user_id, [txn_id])[txn_id].note is None:
        return False
    dt = lake.delta(TRANSACTION_NOTES)
    if dt is not None:
        dt.delete(f"user_id = {sql_literal(user_id)} AND txn_id = {sql_literal(txn_id)}")
    audit(lake, actor, ACTION, user_id, note="cleared")
    return True


__all__ = ["ACTION", "AnnotationError", "Annotations", "annotations_of", "change_tags",
           "clear_note", "resolve", "set_note"]
