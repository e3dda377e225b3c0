"""Raw layout: every partner page lands once, under its sync date, user, item and update.

``raw/transactions_sync/sync_date=D/user=U/item=I/update=N/attempt=A/page-00001.json`` holds
one response wrapped in an envelope (``meta`` + the partner's ``response``); the attempt's
``_manifest.json`` is written only after every page of the update has landed, so readers
take pages from complete updates only. One user's objects sit under ``user=U`` of each date.

A response the partner sent that cannot be read at all is kept as received, as
``.../attempt=A/rejected-K.json`` (no manifest needed: the merge quarantines it whole).
A quarantined record fixed by an operator is landed beside them as
``.../item=I/release=<record_id>/page-00001.json``: a one-record page whose meta keeps the
record's original place in the change stream, so replaying the day gives the same result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from lake.objectstore import ObjectNotFound, ObjectStore

RAW_PREFIX = "raw/transactions_sync"
STATE_PREFIX = "state/sync"


@dataclass(frozen=True)
class UpdateRef:
    sync_date: date
    user_id: str
    item_id: str
    update_seq: int
    attempt: str

    @property
    def prefix(self) -> str:
        return (
            f"{RAW_PREFIX}/sync_date={self.sync_date.isoformat()}/user={self.user_id}/"
            f"item={self.item_id}/update={self.update_seq:010d}/attempt={self.attempt}"
        )

    def page_key(self, page: int) -> str:
        return f"{self.prefix}/page-{page:05d}.json"

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}/_manifest.json"


def date_prefix(sync_date: date) -> str:
    return f"{RAW_PREFIX}/sync_date={sync_date.isoformat()}/"


def complete_pages(store: ObjectStore, sync_date: date, user_id: str | None = None,
                   item_id: str | None = None) -> list[str]:
    """Keys of every page of a complete update landed on ``sync_date`` (optionally one
    user's, or one item's of that user)."""
    return partition_pages(store, sync_date, user_id, item_id, releases=False)


def partition_pages(store: ObjectStore, sync_date: date, user_id: str | None = None,
                    item_id: str | None = None, *, releases: bool = True) -> list[str]:
    """Pages of complete updates, plus (unless ``releases`` is False) released fixes and
    unreadable responses kept for quarantine."""
    prefix = date_prefix(sync_date)
    if user_id:
        prefix += f"user={user_id}/" + (f"item={item_id}/" if item_id else "")
    pages: list[str] = []
    for key in store.list(prefix):
        if key.endswith("/_manifest.json"):
            pages.extend(json.loads(store.get(key))["pages"])
        elif releases and (key.endswith(".json") and "/release=" in key
                           or "/rejected-" in key):  # a fix, or a body that could not be read
            pages.append(key)
    return sorted(pages)


def rejected_key(ref: UpdateRef, page: int) -> str:
    """Where an unreadable partner response is kept, exactly as received, for quarantine."""
    return f"{ref.prefix}/rejected-{page:05d}.json"


def release_key(sync_date: date, user_id: str, item_id: str, record_id: str) -> str:
    return (f"{date_prefix(sync_date)}user={user_id}/item={item_id}/release={record_id}/"
            "page-00001.json")


def load_cursor(store: ObjectStore, item_id: str) -> tuple[str | None, int]:
    """The saved cursor of an item and the number of updates completed so far."""
    try:
        state = json.loads(store.get(f"{STATE_PREFIX}/item={item_id}.json"))
    except ObjectNotFound:
        return None, 0
    return state.get("cursor"), int(state.get("update_seq", 0))


def save_cursor(store: ObjectStore, item_id: str, cursor: str, update_seq: int) -> None:
    body = json.dumps({"cursor": cursor, "update_seq": update_seq}, sort_keys=True)
    store.put(f"{STATE_PREFIX}/item={item_id}.json", body.encode())


def land_page(store: ObjectStore, ref: UpdateRef, page: int, body: dict[str, Any],
              institution_id: str, landed_at: str, contract_error: str | None = None) -> str:
    """Land one partner response, wrapped with where it sits in the change stream."""
    key = ref.page_key(page)
    meta = {"raw_ref": key, "sync_date": ref.sync_date.isoformat(), "user_id": ref.user_id,
            "item_id": ref.item_id, "institution_id": institution_id,
            "update_seq": ref.update_seq, "attempt": ref.attempt, "page": page,
            "landed_at": landed_at, "contract_error": contract_error}
    store.put_once(key, json.dumps({"meta": meta, "response": body}).encode())
    return key


def complete_update(store: ObjectStore, ref: UpdateRef, pages: list[str], completed_at: str,
                    counts: dict[str, int]) -> None:
    """Write the attempt's manifest: from now on its pages are visible to the merge."""
    manifest = {"pages": pages, "update_seq": ref.update_seq, "item_id": ref.item_id,
                "user_id": ref.user_id, "completed_at": completed_at, **counts}
    store.put_once(ref.manifest_key, json.dumps(manifest, sort_keys=True).encode())
