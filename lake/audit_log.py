"""The audit log: an append-only Delta table of who did what, and when.

Rows name the person concerned only by a random pseudonym (``audit_subjects``), and their
``detail`` holds counts, category codes and table versions, never ids, descriptions or
tokens. Forgetting a person deletes their pseudonym row: their audit rows stay (the table is
``delta.appendOnly``, nothing can rewrite it) but can no longer be tied to anyone.

Writers call :meth:`AuditLog.record` (buffered, thread-safe) and :meth:`AuditLog.flush`; the
sync sweep flushes when it ends, even when it fails, so a decryption is logged with the run
that made it. :func:`audit` records and flushes one event.
"""

from __future__ import annotations

import getpass
import json
import secrets
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lake.lake import Lake
from lake.small_tables import append_rows, read_rows
from lake.tables import AUDIT_LOG, AUDIT_SUBJECTS

ACTIONS = frozenset({
    "decrypt_credential", "link_credential", "revoke_credential", "rotate_keys", "request_sync",
    "override_transaction", "override_merchant", "add_category", "set_budget", "clear_budget",
    "dismiss_alert",
    "import_file",
    "keep_duplicate", "add_manual_account", "add_manual_transaction",
    "annotate_transaction",
    "split_transaction",
    "add_rule", "remove_rule", "move_rule",
    "export", "identified_query", "analyst_query", "sign_in", "sign_in_failed", "sign_out",
    "create_login",
    "disable_login", "forget_user",
})


def cli_actor() -> str:
    """``cli:<os user>``: the operator who ran a command."""
    try:
        who = getpass.getuser()
    except Exception:  # no login name (some containers)
        who = "unknown"
    return f"cli:{who}"


class AuditLog:
    """Buffered appends to ``audit_log``; one pseudonym per person from ``audit_subjects``."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._pending: list[tuple[str | None, dict[str, Any]]] = []  # (user id, row)
        self._subjects: dict[str, str] | None = None
        self._new: dict[str, str] = {}  # pseudonyms made since the last flush

    def subject(self, user_id: str) -> str:
        """The person's pseudonym: the stored one, or a new one that :meth:`flush` stores
        (one MERGE for all the new people of a run, not one per person)."""
        with self._lock:
            if self._subjects is None:
                self._subjects = {r["user_id"]: r["subject"]
                                  for r in read_rows(self.lake, AUDIT_SUBJECTS)}
            known = self._subjects.get(user_id)
            if known is None:
                known = self._subjects[user_id] = "s_" + secrets.token_hex(10)
                self._new[user_id] = known
            return known

    def record(self, actor: str, action: str, user_id: str | None = None,
               detail: Mapping[str, Any] | None = None, *, subject: str | None = None) -> None:
        """``subject``: a pseudonym given directly (a deletion certificate, written after the
        person's pseudonym row is gone)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; known: {sorted(ACTIONS)}")
        if user_id is not None:
            subject = self.subject(user_id)
        at = datetime.now(UTC)
        row = {"audit_id": uuid.uuid4().hex, "occurred_at": at, "actor": actor, "action": action,
               "subject": subject, "detail": json.dumps(dict(detail or {}), sort_keys=True,
                                                        default=str), "day": at.date()}
        with self._lock:
            self._pending.append((user_id, row))

    def discard_user(self, user_id: str) -> None:
        """The person was just forgotten: store no pseudonym for them; their buffered rows keep
        the one they were given, which then leads nowhere."""
        with self._lock:
            self._new.pop(user_id, None)
            if self._subjects is not None:
                self._subjects.pop(user_id, None)
            self._pending = [(None if u == user_id else u, r) for u, r in self._pending]

    def flush(self) -> int:
        """Store new pseudonyms, then append the buffered events in one commit; returns how
        many events."""
        from lake.small_tables import upsert_rows

        with self._lock:
            pending, self._pending = self._pending, []
            new, self._new = self._new, {}
        try:
            if new:
                now = datetime.now(UTC)
                upsert_rows(self.lake, AUDIT_SUBJECTS, [
                    {"user_id": u, "subject": s, "created_at": now} for u, s in new.items()],
                    update=False)
                # Another writer may have stored one first: theirs wins (update=False).
                stored = {r["user_id"]: r["subject"]
                          for r in read_rows(self.lake, AUDIT_SUBJECTS)}
                for user_id, row in pending:
                    if user_id in new and user_id in stored:
                        row["subject"] = stored[user_id]
                with self._lock:
                    self._subjects = stored
            if pending:
                append_rows(self.lake, AUDIT_LOG, [row for _, row in pending])
        except Exception:
            with self._lock:  # keep them for the next flush
                self._pending[:0] = pending
                self._new = {**new, **self._new}
            raise
        return len(pending)


def audit(lake: Lake, actor: str, action: str, user_id: str | None = None,
          **detail: Any) -> None:
    """Record one event and commit it now."""
    log = AuditLog(lake)
    log.record(actor, action, user_id, detail)
    log.flush()
