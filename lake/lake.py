"""The lake: an object store plus where each registered table lives in it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from lake.objectstore import ObjectStore, open_store
from lake.tables import REGISTRY, Table

if TYPE_CHECKING:
    from deltalake import DeltaTable


@dataclass(frozen=True)
class Lake:
    """Lake root (local directory or ``s3://bucket/prefix``) and how to reach it."""

    root: str
    s3_endpoint: str | None = None

    @cached_property
    def store(self) -> ObjectStore:
        return open_store(self.root, self.s3_endpoint)

    def uri(self, t: Table) -> str:
        return self.store.uri(t.key)

    def exists(self, t: Table) -> bool:
        return bool(self.store.list(f"{t.key}/_delta_log/"))

    def storage_options(self) -> dict[str, str]:
        """delta-rs options for the store (credentials come from the usual AWS variables)."""
        if not self.root.startswith("s3://"):
            return {}
        opts = {"AWS_S3_ALLOW_UNSAFE_RENAME": "true", "conditional_put": "etag"}
        if self.s3_endpoint:
            opts["AWS_ENDPOINT_URL"] = self.s3_endpoint
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts

    def delta(self, t: Table) -> DeltaTable | None:
        """The table through delta-rs (history, maintenance, DuckDB), or None if not created."""
        from deltalake import DeltaTable

        if not self.exists(t):
            return None
        return DeltaTable(self.uri(t), storage_options=self.storage_options())

    def tables(self) -> list[Table]:
        """Registered tables that exist in this lake."""
        return [t for t in REGISTRY.values() if self.exists(t)]
