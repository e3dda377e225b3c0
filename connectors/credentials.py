"""The ``credentials`` table: one row per linked partner item, token sealed by the vault."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connectors.vault import Sealed, Vault
from core.redaction import register_secret
from lake.lake import Lake
from lake.small_tables import update_columns, upsert_rows
from lake.tables import CREDENTIALS

if TYPE_CHECKING:
    from lake.audit_log import AuditLog


@dataclass(frozen=True)
class Credential:
    credentials_id: str
    user_id: str
    institution_id: str
    item_id: str
    status: str
    sealed: Sealed

    def __repr__(self) -> str:  # never print the sealed material either
        return f"Credential({self.credentials_id}, user={self.user_id}, item={self.item_id})"


def credentials_id_for(item_id: str) -> str:
    return "cred_" + hashlib.sha256(item_id.encode()).hexdigest()[:16]


class CredentialStore:
    """Sealed credentials; with an ``audit`` log, every decryption and link is recorded as
    ``actor`` (e.g. ``pipeline:nightly``, ``cli:<user>``). Whoever passes the log flushes it
    when the run ends."""

    def __init__(self, lake: Lake, vault: Vault, audit: AuditLog | None = None,
                 actor: str = "unknown") -> None:
        self.lake = lake
        self.vault = vault
        self.audit = audit
        self.actor = actor
        self._lock = threading.Lock()  # one writer at a time from this process

    def _record(self, action: str, cred: Credential) -> None:
        if self.audit is not None:  # no ids or tokens in the detail: the user is a pseudonym
            self.audit.record(self.actor, action, cred.user_id,
                              {"institution_id": cred.institution_id,
                               "key_id": cred.sealed.key_id})

    def _rows(self) -> list[dict]:
        dt = self.lake.delta(CREDENTIALS)
        return dt.to_pyarrow_table().to_pylist() if dt is not None else []

    def all(self) -> list[Credential]:
        return [
            Credential(
                r["credentials_id"], r["user_id"], r["institution_id"], r["item_id"],
                r["status"], Sealed(r["encrypted_token"], r["wrapped_key"], r["key_id"]),
            )
            for r in sorted(self._rows(), key=lambda r: r["credentials_id"])
        ]

    def active(self) -> list[Credential]:
        return [c for c in self.all() if c.status == "active"]

    def token(self, cred: Credential) -> str:
        """Decrypt the access token, in memory, for the partner call about to be made."""
        token = self.vault.open(cred.credentials_id, cred.sealed)
        register_secret(token)  # masked in every log of this process from now on
        self._record("decrypt_credential", cred)
        return token

    def link(self, user_id: str, institution_id: str, item_id: str, token: str) -> Credential:
        """Store (or re-link) an item: its token is sealed, its status becomes active."""
        return self.link_many([(user_id, institution_id, item_id, token)])[0]

    def link_many(self, items: list[tuple[str, str, str, str]]) -> list[Credential]:
        """Store (or re-link) items, each (user_id, institution_id, item_id, token), in one
        write of the table: tokens sealed, statuses active."""
        rows, creds = [], []
        for user_id, institution_id, item_id, token in items:
            cid = credentials_id_for(item_id)
            sealed = self.vault.seal(cid, token)
            rows.append({
                "credentials_id": cid, "user_id": user_id, "institution_id": institution_id,
                "item_id": item_id, "encrypted_token": sealed.encrypted_token,
                "wrapped_key": sealed.wrapped_key, "key_id": sealed.key_id,
                "status": "active", "failure_count": 0, "created_at": datetime.now(UTC)})
            creds.append(Credential(cid, user_id, institution_id, item_id, "active", sealed))
        if rows:
            with self._lock:
                upsert_rows(self.lake, CREDENTIALS, rows)
        for cred in creds:
            self._record("link_credential", cred)
        return creds

    def set_status(self, cred: Credential, status: str, failure_count: int = 0) -> None:
        """Mark credentials expired / mfa_required / active (sync stops until re-linked).
        Only the status columns are written: a key rotation committed meanwhile keeps its
        envelope."""
        with self._lock:
            update_columns(self.lake, CREDENTIALS, [{
                "credentials_id": cred.credentials_id, "status": status,
                "failure_count": failure_count}], ("status", "failure_count"))
