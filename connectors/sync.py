"""The partner sync loop: pull ``/transactions/sync`` pages and land each one, write-once.

Pages land as they arrive; the attempt's manifest is written after the last page, and only
then is the item's cursor saved. If the partner reports a mutation during pagination the
loop restarts from the cursor it started with, under a new attempt id. A response that cannot
be read at all is kept as received, numbers masked (``rejected-K.json``, for quarantine), and
the attempt fails without moving the cursor.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import plaid
from plaid.api import plaid_api
from plaid.model.transactions_sync_request import TransactionsSyncRequest

from connectors.credentials import Credential
from connectors.partner import PartnerError, as_partner_error
from core.crashpoints import crash_point
from lake.objectstore import ObjectStore
from lake.raw import (
    UpdateRef,
    complete_update,
    land_page,
    land_rejected,
    load_cursor,
    save_cursor,
)

log = logging.getLogger(__name__)

MUTATION = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"


class PartnerPayloadError(RuntimeError):
    """A page could not be read at all (not JSON, or no cursor); its raw body has landed."""

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw  # the body exactly as received


@dataclass(frozen=True)
class SyncResult:
    item_id: str
    user_id: str
    update_seq: int
    attempt: str | None
    pages: int
    added: int
    modified: int
    removed: int
    restarts: int
    seconds: float

    @property
    def changes(self) -> int:
        return self.added + self.modified + self.removed


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _fetch_page(api: plaid_api.PlaidApi, token: str, cursor: str | None, count: int,
                timeout: float) -> tuple[dict[str, Any], str | None]:
    """One partner call: the body as sent, and a contract error if it did not type-check."""
    kwargs: dict[str, Any] = {"access_token": token, "count": count}
    if cursor:
        kwargs["cursor"] = cursor
    contract_error = None
    try:
        api.transactions_sync(TransactionsSyncRequest(**kwargs), _request_timeout=timeout)
    except plaid.ApiException as exc:
        raise as_partner_error(exc) from None
    except plaid.OpenApiException as exc:  # the body arrived but does not match the model
        contract_error = f"{type(exc).__name__}: {exc}"[:500]
    raw = api.api_client.last_response.data
    try:
        body = json.loads(raw)
        body["next_cursor"], body["has_more"]  # noqa: B018 - both must be present
    except (TypeError, ValueError, KeyError) as exc:
        kept = raw if isinstance(raw, bytes) else str(raw or "").encode(errors="surrogatepass")
        raise PartnerPayloadError(f"unreadable /transactions/sync page ({exc})", kept) from None
    return body, contract_error


def sync_item(
    api: plaid_api.PlaidApi,
    store: ObjectStore,
    cred: Credential,
    token: str,
    sync_date: date,
    *,
    count: int = 500,
    max_restarts: int = 3,
    timeout: float = 30.0,
    call_slot: Callable[[], AbstractContextManager[object]] = nullcontext,
    now: Callable[[], datetime] = _utc_now,
) -> SyncResult:
    """Run one update for an item and land it; the cursor moves only after it all landed.

    Every partner request runs inside ``call_slot()`` (the caller's rate limit and
    concurrency cap for the institution).
    """
    t0 = time.perf_counter()
    start_cursor, done = load_cursor(store, cred.item_id)
    for restart in range(max_restarts + 1):
        ref = UpdateRef(sync_date, cred.user_id, cred.item_id, done + 1,
                        now().strftime("%Y%m%dT%H%M%S%fZ"))
        cursor, totals = start_cursor, {"added": 0, "modified": 0, "removed": 0}
        pages: list[str] = []
        try:
            while True:
                try:
                    with call_slot():
                        body, contract_error = _fetch_page(api, token, cursor, count, timeout)
                except PartnerPayloadError as err:  # kept for quarantine; the attempt fails
                    land_rejected(store, ref, len(pages) + 1, err.raw)
                    raise
                n = {k: len(body.get(k) or []) for k in totals}
                if not pages and not body["has_more"] and not sum(n.values()):
                    break  # nothing new: land nothing, the tables stay as they are
                key = land_page(store, ref, len(pages) + 1, body, cred.institution_id,
                                now().isoformat(), contract_error)
                pages.append(key)
                crash_point("sync.after_page")
                for k in totals:
                    totals[k] += n[k]
                cursor = body["next_cursor"]
                if not body["has_more"]:
                    break
        except PartnerError as err:
            if err.code == MUTATION and restart < max_restarts:
                log.info("%s: data changed during pagination, restarting the update",
                         cred.institution_id)
                continue
            raise
        if pages:
            complete_update(store, ref, pages, now().isoformat(), totals)
            crash_point("sync.before_cursor_save")
        if cursor and cursor != start_cursor and not save_cursor(
                store, cred.item_id, cursor, ref.update_seq if pages else done,
                expected=(start_cursor, done)):
            # Another sync of the item moved its cursor meanwhile: its update covers these
            # changes too (pages landed twice merge once), and the newer cursor stays.
            log.warning("%s: the item's cursor moved during this sync; kept the newer one",
                        cred.institution_id)
        return SyncResult(cred.item_id, cred.user_id, ref.update_seq if pages else done,
                          ref.attempt if pages else None, len(pages), totals["added"],
                          totals["modified"], totals["removed"], restart,
                          time.perf_counter() - t0)
    raise AssertionError("unreachable")  # pragma: no cover
