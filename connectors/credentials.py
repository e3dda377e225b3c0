"""The ``credentials`` table: one row per linked partner item, token sealed by the vault."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.vault import Sealed, Vault
from lake.catalog import Lake
from lake.small_tables import upsert_rows
from lake.tables import CREDENTIALS


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
    def __init__(self, lake: Lake, vault: Vault) -> None:
        self.lake = lake
        self.vault = vault
        self._lock = threading.Lock()  # one writer at a time from this process

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
        return self.vault.open(cred.credentials_id, cred.sealed)

    def link(self, user_id: str, institution_id: str, item_id: str, token: str) -> Credential:
        """Store (or re-link) an item: its token is sealed, its status becomes active."""
        cid = credentials_id_for(item_id)
        sealed = self.vault.seal(cid, token)
        row = {
            "credentials_id": cid, "user_id": user_id, "institution_id": institution_id,
            "item_id": item_id, "encrypted_token": sealed.encrypted_token,
            "wrapped_key": sealed.wrapped_key, "key_id": sealed.key_id, "status": "active",
            "failure_count": 0, "created_at": datetime.now(UTC),
        }
        with self._lock:
            upsert_rows(self.lake, CREDENTIALS, [row])
        return Credential(cid, user_id, institution_id, item_id, "active", sealed)

    def set_status(self, cred: Credential, status: str, failure_count: int = 0) -> None:
        """Mark credentials expired / mfa_required / active (sync stops until re-linked)."""
        with self._lock:
            rows = [r for r in self._rows() if r["credentials_id"] == cred.credentials_id]
            for r in rows:
                r.update(status=status, failure_count=failure_count)
            upsert_rows(self.lake, CREDENTIALS, rows)
