"""The sandbox bank: persisted clock and tokens, Plaid endpoints, ground truth, request log."""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from connectors.sandbox_bank import changes as ch
from connectors.sandbox_bank import errors as er
from connectors.sandbox_bank.errors import BankError, error_body, invalid_field
from connectors.sandbox_bank.generator import Generator
from connectors.sandbox_bank.ids import plaid_id, short_hash, uuid4_from
from connectors.sandbox_bank.state import BankState
from connectors.sandbox_bank.world import INSTITUTIONS, INSTITUTIONS_BY_ID, Item, World

log = logging.getLogger(__name__)
Response = tuple[int, dict]
PLAID_ROUTES = {
    "/sandbox/public_token/create": "public_token_create",
    "/item/public_token/exchange": "public_token_exchange",
    "/transactions/sync": "transactions_sync", "/accounts/get": "accounts_get",
    "/accounts/balance/get": "accounts_balance_get",
    "/institutions/get_by_id": "institutions_get_by_id", "/item/get": "item_get",
}
SANDBOX_ROUTES = {"/sandbox/clock/get", "/sandbox/clock/advance", "/sandbox/truth",
                  "/sandbox/items"}


def _endpoint(fn: Callable[[SandboxBank, dict], dict]) -> Callable[[SandboxBank, dict], Response]:
    """Adds the request_id and turns :class:`BankError` into a Plaid error response."""

    @functools.wraps(fn)
    def wrapper(self: SandboxBank, body: dict) -> Response:
        try:
            result = fn(self, body)
        except BankError as e:
            return e.status, e.body(self._request_id(fn.__name__, body, e.error_code))
        return 200, {**result, "request_id": self._request_id(fn.__name__, body, result)}

    return wrapper


class SandboxBank:
    """A deterministic Plaid-speaking bank whose world is a pure function of its seed."""

    def __init__(self, state: BankState) -> None:
        self._state = state
        self._lock = threading.RLock()
        self.state_dir = state.path.parent
        self.seed = state.seed
        self.history_start = state.history_start
        self.world = World(self.seed, state.users)
        self.gen = Generator(self.world)
        self.request_log: list[dict] = []
        self._diffs: OrderedDict[tuple, list[ch.Change]] = OrderedDict()
        self._balances: dict[tuple[str, date], dict] = {}

    @classmethod
    def open(cls, state_dir: Path, *, seed: int = 7, users: int = 20,
             history_start: date | None = None, clock: date | None = None) -> SandboxBank:
        """Load ``state_dir/state.json``, or create it (keyword arguments apply only then).

        Defaults: ``clock`` today, ``history_start`` 90 days before the clock.
        """
        return cls(BankState.load_or_create(Path(state_dir), seed=seed, users=users,
                                            history_start=history_start, clock=clock))

    # -- clock and listings ---------------------------------------------------------------
    @property
    def clock(self) -> date:
        """The bank shows the world as of the end of this day."""
        return self._state.clock

    def advance_to(self, day: date) -> None:
        """Move the clock forward (or leave it); moving it backwards raises ValueError."""
        self._state.advance_to(day)

    def institutions(self) -> list[dict]:
        return [i.public() for i in INSTITUTIONS]

    def users(self) -> list[str]:
        return list(self.world.users)

    def items(self) -> list[dict]:
        """Every item with its access token (for the sandbox's own link flow and tests)."""
        return [{"user_id": i.user_id, "institution_id": i.institution_id, "item_id": i.item_id,
                 "access_token": i.access_token} for i in self.world.items]

    # -- HTTP entry point -----------------------------------------------------------------
    def handle(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        """Serve one HTTP request (used by the server); every call lands in the request log."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        body = body if isinstance(body, dict) else None
        institution_id = self._institution_of(body or {})
        if body is None:
            status, resp = 400, error_body(400, "INVALID_REQUEST", "INVALID_BODY",
                                           "request body must be a JSON object",
                                           self._request_id(path, {}))
        elif path in PLAID_ROUTES:
            client_id = headers.get("plaid-client-id") or body.get("client_id")
            secret = headers.get("plaid-secret") or body.get("secret")
            if not client_id or not secret:
                status, resp = 400, er.invalid_api_keys().body(self._request_id(path, body))
            else:
                fault = self._maybe_fault(path, institution_id)
                status, resp = fault or getattr(self, PLAID_ROUTES[path])(body)
        elif path in SANDBOX_ROUTES:
            status, resp = self._sandbox(path, body)
        else:
            status, resp = 404, error_body(404, "INVALID_REQUEST", "NOT_FOUND",
                                           f"unknown endpoint {path}", self._request_id(path, {}))
        with self._lock:
            self.request_log.append({"monotonic": time.monotonic(), "wall_time": time.time(),
                                     "endpoint": path, "institution_id": institution_id,
                                     "status": status})
        return status, resp

    def _maybe_fault(self, endpoint: str, institution_id: str | None) -> Response | None:
        """Hook for a later fault plan (errors per institution); no faults for now."""
        return None

    def _institution_of(self, body: dict) -> str | None:
        token = body.get("access_token")
        item = self.world.items_by_token.get(token) if isinstance(token, str) else None
        if item:
            return item.institution_id
        ins = body.get("institution_id")
        return ins if isinstance(ins, str) and ins in INSTITUTIONS_BY_ID else None

    def _request_id(self, name: str, body: dict, result: object = None) -> str:
        """Deterministic: equal ids mean equal request, clock and response."""
        canon = json.dumps([body, result], sort_keys=True, default=str)
        return plaid_id(self.seed, self.clock, name, canon, length=15)

    def _sandbox(self, path: str, body: dict) -> Response:
        rid = self._request_id(path, body)
        try:
            if path == "/sandbox/clock/advance":
                try:
                    self.advance_to(date.fromisoformat(str(body.get("day"))))
                except ValueError as e:
                    raise invalid_field(f"day: {e}") from e
            elif path == "/sandbox/truth":
                return 200, {"transactions": self.truth(str(body.get("access_token")),
                                                        body.get("cursor"))}
            elif path == "/sandbox/items":
                return 200, {"items": [{k: i[k] for k in ("user_id", "institution_id", "item_id")}
                                       for i in self.items()]}
            return 200, {"clock": self.clock.isoformat()}
        except BankError as e:
            return e.status, e.body(rid)

    # -- Plaid endpoints ------------------------------------------------------------------
    def _item(self, body: dict) -> Item:
        token = body.get("access_token")
        item = self.world.items_by_token.get(token) if isinstance(token, str) else None
        if item is None:
            log.info("rejected access token %s", short_hash(str(token)))
            raise er.invalid_access_token()
        return item

    @_endpoint
    def public_token_create(self, body: dict) -> dict:
        ins_id = body.get("institution_id")
        if ins_id not in INSTITUTIONS_BY_ID:
            raise BankError(400, "INVALID_INPUT", "INVALID_INSTITUTION",
                            f"invalid institution_id {ins_id!r}")
        user_id = (body.get("options") or {}).get("override_username")
        item = self.world.item_for(str(user_id), ins_id)
        if item is None:
            raise BankError(400, "ITEM_ERROR", "INVALID_CREDENTIALS",
                            f"user {user_id!r} has no accounts at {ins_id}",
                            "The credentials you provided were incorrect.")
        token = self._state.issue_public_token(
            item.item_id,
            lambda n: "public-sandbox-" + uuid4_from(self.seed, "public", item.item_id, n))
        return {"public_token": token}

    @_endpoint
    def public_token_exchange(self, body: dict) -> dict:
        item_id = self._state.exchange_public_token(str(body.get("public_token")))
        if item_id is None:
            raise BankError(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN",
                            "provided public token is invalid, expired or already used")
        item = self.world.items_by_id[item_id]
        return {"access_token": item.access_token, "item_id": item.item_id}

    @_endpoint
    def transactions_sync(self, body: dict) -> dict:
        item = self._item(body)
        count = body.get("count", 100)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 500:
            raise invalid_field("count must be an integer between 1 and 500")
        clock, text = self.clock, body.get("cursor") or None
        if text is None:
            cur = ch.Cursor(None, clock, 0)
        else:
            try:
                cur = ch.decode_cursor(item, str(text))
            except ValueError as e:
                raise invalid_field(f"cursor: {e}") from e
            if cur.offset is None:
                if cur.until > clock:
                    raise invalid_field("cursor: position is in the bank's future")
                cur = ch.Cursor(cur.until, clock, 0)
            elif cur.until != clock:
                raise er.mutation_during_pagination()
        changes = self._diff(item, cur.since, cur.until)
        offset = cur.offset or 0
        page, has_more = changes[offset:offset + count], offset + count < len(changes)
        nxt = ch.Cursor(cur.since, cur.until, offset + count) if has_more \
            else ch.Cursor(cur.until, cur.until)
        return {"added": [p for k, p in page if k == "added"],
                "modified": [p for k, p in page if k == "modified"],
                "removed": [p for k, p in page if k == "removed"],
                "next_cursor": ch.encode_cursor(item, nxt), "has_more": has_more,
                "accounts": self._accounts(item, clock),
                "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE"}

    @_endpoint
    def accounts_get(self, body: dict) -> dict:
        item = self._item(body)
        return {"accounts": self._accounts(item, self.clock), "item": ch.item_json(item)}

    @_endpoint
    def accounts_balance_get(self, body: dict) -> dict:
        item = self._item(body)
        return {"accounts": self._accounts(item, self.clock), "item": ch.item_json(item)}

    @_endpoint
    def institutions_get_by_id(self, body: dict) -> dict:
        ins = INSTITUTIONS_BY_ID.get(str(body.get("institution_id")))
        if ins is None:
            raise BankError(400, "INVALID_INPUT", "INVALID_INSTITUTION",
                            f"invalid institution_id {body.get('institution_id')!r}")
        return {"institution": ch.institution_json(ins)}

    @_endpoint
    def item_get(self, body: dict) -> dict:
        return {"item": ch.item_json(self._item(body))}

    def _accounts(self, item: Item, day: date) -> list[dict]:
        out = []
        for acct in item.accounts:
            key = (acct.account_id, day)
            if key not in self._balances:
                self._balances[key] = ch.balances(self.gen, acct, day, self.history_start)
            out.append(ch.account_json(acct, dict(self._balances[key])))
        return out

    def _diff(self, item: Item, since: date | None, until: date) -> list[ch.Change]:
        key = (item.item_id, since, until)
        with self._lock:
            if key in self._diffs:
                self._diffs.move_to_end(key)
                return self._diffs[key]
        result = ch.diff(self.gen, item, since, until, self.history_start)
        with self._lock:
            self._diffs[key] = result
            while len(self._diffs) > 128:
                self._diffs.popitem(last=False)
        return result

    # -- ground truth ---------------------------------------------------------------------
    def truth(self, access_token: str, cursor: str | None) -> list[dict]:
        """The live instances a perfect client holds after applying every update up to
        ``cursor`` (a completed update's ``next_cursor``; None/"" = nothing synced yet),
        with the true ``category_detailed`` and ``mcc``."""
        item = self._item({"access_token": access_token})
        if not cursor:
            return []
        try:
            cur = ch.decode_cursor(item, cursor)
        except ValueError as e:
            raise invalid_field(f"cursor: {e}") from e
        if cur.offset is not None:
            raise invalid_field("cursor: truth needs the cursor of a completed update "
                                "(the next_cursor of a page with has_more = false)")
        return ch.live_at(self.gen, item, cur.until, self.history_start)

    def truth_for_user(self, user_id: str, cursors_by_item: Mapping[str, str | None]
                       ) -> list[dict]:
        """Truth over all of a user's items; items missing from the mapping count as unsynced."""
        out: list[dict] = []
        for item in self.world.items:
            if item.user_id == user_id:
                out.extend(self.truth(item.access_token, cursors_by_item.get(item.item_id)))
        return out
