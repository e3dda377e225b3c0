"""What people change from the dashboard on a transaction besides its category: its tags and
note (shown and searched at once; the nightly carries them to the posted transaction when a
pending one posts).

Like dashboard/actions.py: the signed-in :class:`~dashboard.auth.Principal` only, on their
own transactions (anybody else's is refused as if it did not exist), everything checked before
anything is written, a refusal raised as :class:`~dashboard.actions.ActionError` with what to
do, and the change recorded in the audit log with counts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboard.actions import SOURCE, ActionError
from dashboard.auth import DASHBOARD, Principal
from dashboard.data import annotations, queries
from lake.tables import TRANSACTION_NOTES, TRANSACTION_TAGS, TRANSACTIONS
from pipelines.corrections import annotate
from pipelines.corrections.annotations import (
    AnnotationError,
    normalise_note,
    parse_tags,
    tags_after,
)

if TYPE_CHECKING:
    from lake.lake import Lake


@dataclass(frozen=True)
class Saved:
    """What a save left on the transaction, and whether anything changed."""

    tags: list[str]
    note: str | None
    changed: bool


def save(lake: Lake, who: Principal, txn_id: str, tags_text: str, note_text: str) -> Saved:
    """Make the tags of the person's transaction ``txn_id`` exactly those in ``tags_text``
    (comma-separated; empty: none) and its note ``note_text`` (empty: none). Both are checked
    first: a bad tag or note refuses the whole change and nothing is written."""
    user = queries.scope_of(who)
    target = annotations.annotated_transaction(lake, who, str(txn_id))
    if target is None:
        raise ActionError("That transaction is not one of yours (or no longer exists).")
    try:
        tags = tags_after([], parse_tags(tags_text)) if tags_text.replace(",", "").strip() \
            else []
        note = normalise_note(note_text) if note_text.strip() else None
    except AnnotationError as error:
        raise ActionError(str(error)) from None
    changed = _write(lake, who, user, target, tags, note)
    # A nightly may have just marked the pending row as posted: its carry-over may have read
    # the tags before this write, so the change goes on the posted row too.
    queries.changed(lake, TRANSACTIONS)
    now = annotations.annotated_transaction(lake, who, target)
    if now is not None and now != target:
        changed = _write(lake, who, user, now, tags, note) or changed
    return Saved(tags, note, changed=changed)


def _write(lake: Lake, who: Principal, user: str, target: str, tags: list[str],
           note: str | None) -> bool:
    """Make ``target``'s tags and note these (already checked); whether anything changed."""
    before_tags, before_note = annotations.annotations_for(lake, who, [target])[target]
    if tags == before_tags and note == before_note:
        return False
    if tags != before_tags:
        annotate.change_tags(lake, user, target, actor=DASHBOARD, source=SOURCE, replace=tags)
        queries.changed(lake, TRANSACTION_TAGS)
    if note != before_note:
        if note is None:
            annotate.clear_note(lake, user, target, actor=DASHBOARD)
        else:
            annotate.set_note(lake, user, target, note, actor=DASHBOARD, source=SOURCE)
        queries.changed(lake, TRANSACTION_NOTES)
    return True
