"""The ``credentials`` table: one row per linked partner item, token sealed by the vault."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from connectors.vault import Sealed, Vault
from lake.arrow import arrow_schema
from lake.catalog import Lake
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
        """Store (or re-link) an item; an existing row for the item is replaced."""
        from deltalake import write_deltalake

        cid = credentials_id_for(item_id)
        sealed = self.vault.seal(cid, token)
        rows = [r for r in self._rows() if r["credentials_id"] != cid]
        rows.append({
            "credentials_id": cid, "user_id": user_id, "institution_id": institution_id,
            "item_id": item_id, "encrypted_token": sealed.encrypted_token,
            "wrapped_key": sealed.wrapped_key, "key_id": sealed.key_id, "status": "active",
            "failure_count": 0, "created_at": datetime.now(UTC),
        })
        write_deltalake(
            self.lake.uri(CREDENTIALS),
            pa.Table.from_pylist(rows, schema=arrow_schema(CREDENTIALS)),
            mode="overwrite",
            storage_options=self.lake.storage_options() or None,
        )
        return Credential(cid, user_id, institution_id, item_id, "active", sealed)
