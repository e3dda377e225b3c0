"""Raw layout: every partner page lands once, under its sync date, user, item and update.

``raw/transactions_sync/sync_date=D/user=U/item=I/update=N/attempt=A/page-00001.json`` holds
one response wrapped in an envelope (``meta`` + the partner's ``response``); the attempt's
``_manifest.json`` is written only after every page of the update has landed, so readers
take pages from complete updates only. One user's objects sit under ``user=U`` of each date.

A response the partner sent that cannot be read at all is kept as received, as
``.../attempt=A/rejected-K.json`` (no manifest needed: the merge quarantines it whole).

Nothing lands with a full account, routing or card number in it: partner free text (a
transaction's name and descriptions, a counterparty's name, an account's names) can carry
them, so it is masked (:func:`core.redaction.redact`) before a page lands, and an
unreadable body is masked as text. Masking depends on the text alone, so a retried landing
writes the same bytes.
A quarantined record fixed by an operator is landed beside them as
``.../item=I/release=<record_id>/page-00001.json``: a one-record page whose meta keeps the
record's original place in the change stream, so replaying the day gives the same result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.redaction import redact, redact_bytes
from lake.objectstore import ObjectNotFound, ObjectStore

RAW_PREFIX = "raw/transactions_sync"
STATE_PREFIX = "state/sync"
# The partner's free text in a page, masked before it lands: field -> True (a string), a
# spec for an object, or [spec] for a list of objects; "*" masks every string of an object.
TRANSACTION_TEXT: dict[str, Any] = {
    "name": True, "original_description": True, "merchant_name": True, "account_owner": True,
    "counterparties": [{"name": True}], "location": {"address": True}, "payment_meta": "*"}
ACCOUNT_TEXT: dict[str, Any] = {"name": True, "official_name": True}


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


def save_cursor(store: ObjectStore, item_id: str, cursor: str, update_seq: int,
                expected: tuple[str | None, int] | None = None) -> bool:
    """Move an item's cursor forward. With ``expected`` (the cursor and update count the
    sync started from) this is a compare-and-set: if another sync moved the cursor since,
    it is left where that sync put it (never moved back) and False is returned. Writers hold
    the lake's writer lease (lake/lease.py), so this only guards against a lease bypassed."""
    if expected is not None:
        current = load_cursor(store, item_id)
        if current != expected or update_seq < current[1]:
            return False
    body = json.dumps({"cursor": cursor, "update_seq": update_seq}, sort_keys=True)
    store.put(f"{STATE_PREFIX}/item={item_id}.json", body.encode())
    return True


def _masked(value: Any, spec: Any) -> Any:
    """``value`` with the free text ``spec`` names masked (a copy if anything changed)."""
    if isinstance(value, str):  # (also where an object was due: still partner free text)
        return redact(value, registered=False)
    if isinstance(value, list) and isinstance(spec, list):
        items = [_masked(v, spec[0]) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict) and (spec == "*" or isinstance(spec, dict)):
        specs = dict.fromkeys(value, "*") if spec == "*" else spec
        copy = dict(value)
        for name, inner in specs.items():
            if name in value:
                copy[name] = _masked(value[name], inner)
        return value if all(copy[k] is value[k] for k in value) else copy
    return value  # not the type the partner schema says: left for the contract to judge


def masked_response(body: dict[str, Any]) -> dict[str, Any]:
    """A ``/transactions/sync`` response with its free text masked (the same object if there
    was nothing to mask); records of the wrong shape are left as they are."""
    out = dict(body)
    for key, spec in (("added", TRANSACTION_TEXT), ("modified", TRANSACTION_TEXT),
                      ("accounts", ACCOUNT_TEXT)):
        if key in body:
            out[key] = _masked(body[key], [spec])
    return body if all(out[k] is body[k] for k in body) else out


def land_page(store: ObjectStore, ref: UpdateRef, page: int, body: dict[str, Any],
              institution_id: str, landed_at: str, contract_error: str | None = None) -> str:
    """Land one partner response (free text masked), wrapped with where it sits in the
    change stream."""
    key = ref.page_key(page)
    meta = {"raw_ref": key, "sync_date": ref.sync_date.isoformat(), "user_id": ref.user_id,
            "item_id": ref.item_id, "institution_id": institution_id,
            "update_seq": ref.update_seq, "attempt": ref.attempt, "page": page,
            "landed_at": landed_at,
            "contract_error": contract_error and redact(contract_error, registered=False)}
    store.put_once(key, json.dumps({"meta": meta, "response": masked_response(body)}).encode())
    return key


def land_rejected(store: ObjectStore, ref: UpdateRef, page: int, raw: bytes) -> str:
    """Keep an unreadable partner response as received, but for numbers masked as text."""
    key = rejected_key(ref, page)
    store.put_once(key, redact_bytes(raw))
    return key


def complete_update(store: ObjectStore, ref: UpdateRef, pages: list[str], completed_at: str,
                    counts: dict[str, int]) -> None:
    """Write the attempt's manifest: from now on its pages are visible to the merge."""
    manifest = {"pages": pages, "update_seq": ref.update_seq, "item_id": ref.item_id,
                "user_id": ref.user_id, "completed_at": completed_at, **counts}
    store.put_once(ref.manifest_key, json.dumps(manifest, sort_keys=True).encode())
