"""The sandbox bank: persisted clock and tokens, Plaid endpoints (see :mod:`endpoints`), ground
truth, request log, server-side rate limits and the fault plan (see :mod:`faults`)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from connectors.sandbox_bank import changes as ch
from connectors.sandbox_bank import errors as er
from connectors.sandbox_bank import limits
from connectors.sandbox_bank.endpoints import PlaidEndpoints, Response
from connectors.sandbox_bank.errors import BankError, error_body
from connectors.sandbox_bank.faults import SYNC_ONLY, Fault, FaultPlan
from connectors.sandbox_bank.generator import Generator
from connectors.sandbox_bank.ids import rng
from connectors.sandbox_bank.injector import FAULTABLE, SYNC, FaultInjector, Injection
from connectors.sandbox_bank.institutions import BASE_COUNT
from connectors.sandbox_bank.overlay import Overlay
from connectors.sandbox_bank.sandbox_api import SANDBOX_ROUTES, sandbox_call
from connectors.sandbox_bank.state import BankState
from connectors.sandbox_bank.world import Item, World

PLAID_ROUTES = {
    "/sandbox/public_token/create": "public_token_create",
    "/item/public_token/exchange": "public_token_exchange",
    "/transactions/sync": "transactions_sync", "/accounts/get": "accounts_get",
    "/accounts/balance/get": "accounts_balance_get",
    "/institutions/get_by_id": "institutions_get_by_id", "/item/get": "item_get",
    "/item/remove": "item_remove",
}
RATE_LIMITED = FAULTABLE  # /transactions/sync and /accounts/*


class Reply(NamedTuple):
    status: int
    body: dict | bytes  # bytes: sent as they are (an ``unreadable_page`` fault)
    headers: dict[str, str]  # extra HTTP headers (Retry-After)


class SandboxBank(PlaidEndpoints):
    """A deterministic Plaid-speaking bank whose world is a pure function of its seed."""

    def __init__(self, state: BankState) -> None:
        self._state = state
        self._lock = threading.RLock()
        self.state_dir = state.path.parent
        self.seed = state.seed
        self.history_start = state.history_start
        self.world = World(self.seed, state.users, state.institutions)
        self.gen = Generator(self.world)
        self.overlay = Overlay(state)
        self.faults = FaultInjector(state)
        self._buckets = limits.TokenBuckets()
        self.request_log: list[dict] = []
        self._diffs: OrderedDict[tuple, list[ch.Change]] = OrderedDict()
        self._balances: dict[tuple[str, date, int], dict] = {}

    @classmethod
    def open(cls, state_dir: Path, *, seed: int = 7, users: int = 20,
             history_start: date | None = None, clock: date | None = None,
             institutions: int = BASE_COUNT, enforce_rate_limits: bool = True) -> SandboxBank:
        """Load ``state_dir/state.json``, or create it (keyword arguments apply only then).

        Defaults: ``clock`` today, ``history_start`` 90 days before the clock, 7 institutions,
        rate limits enforced.
        """
        return cls(BankState.load_or_create(
            Path(state_dir), seed=seed, users=users, history_start=history_start, clock=clock,
            institutions=institutions, enforce_rate_limits=enforce_rate_limits))

    # -- clock and listings ---------------------------------------------------------------
    def advance_to(self, day: date) -> None:
        """Move the clock forward (or leave it); moving it backwards raises ValueError."""
        self._state.advance_to(day)

    def institutions(self) -> list[dict]:
        return [i.public() for i in self.world.institutions]

    def users(self) -> list[str]:
        return list(self.world.users)

    def items(self) -> list[dict]:
        """Every item with its access token (for the sandbox's own link flow and tests)."""
        return [{"user_id": i.user_id, "institution_id": i.institution_id, "item_id": i.item_id,
                 "access_token": i.access_token} for i in self.world.items]

    # -- rate limits and faults -----------------------------------------------------------
    @property
    def enforce_rate_limits(self) -> bool:
        return self._state.enforce_rate_limits

    @enforce_rate_limits.setter
    def enforce_rate_limits(self, on: bool) -> None:
        self._state.put("enforce_rate_limits", bool(on))
        self._buckets.reset()

    def set_fault_plan(self, plan: Mapping[str, Iterable[Fault | Mapping[str, Any]]],
                       seed: int) -> FaultPlan:
        """Install (and persist) a fault plan; institutions' request counters restart at 0."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        plan = plan if isinstance(plan, FaultPlan) else FaultPlan(plan)
        unknown = sorted(set(plan) - set(self.world.institutions_by_id))
        if unknown:
            raise ValueError(f"unknown institution(s) in the fault plan: {unknown}")
        self.faults.set_plan(plan, seed)
        return plan

    def clear_fault_plan(self) -> None:
        """Remove the plan and every sticky item error (corrections already made stay)."""
        self.faults.clear()

    @property
    def fault_plan(self) -> FaultPlan:
        return self.faults.plan

    @property
    def fault_log(self) -> list[dict]:
        """Every injected fault: institution_id, item_id, kind, request (the institution's
        request number), endpoint, error_code, sticky, and details of the kind."""
        return self.faults.fault_log

    @property
    def wrong_balances(self) -> list[dict]:
        """Every account balance the ``wrong_balance`` fault falsified."""
        return self.faults.wrong_balances

    @property
    def broken_records(self) -> list[dict]:
        """Every record the ``malformed_records`` fault sent broken: institution_id, item_id,
        request, transaction_id, account_id, section, field and how."""
        return [{"institution_id": e["institution_id"], "item_id": e["item_id"],
                 "request": e["request"], **b}
                for e in list(self.fault_log) if e["kind"] == "malformed_records"
                for b in e["breaks"]]

    def resolve_item(self, item_id: str) -> bool:
        """End an item's sticky login/MFA error (the user re-linked); False if it had none."""
        return self.faults.resolve(item_id)

    def max_rate(self, institution_id: str, window_s: float = 1.0,
                 endpoints: Iterable[str] | None = None) -> int:
        """Most requests to the institution that arrived within any ``window_s`` seconds."""
        with self._lock:
            log = list(self.request_log)
        return limits.max_rate(log, institution_id, window_s, endpoints)

    def request_counts(self) -> dict[tuple[str | None, int | str], int]:
        """(institution_id, 200 or error_code) -> number of requests."""
        with self._lock:
            log = list(self.request_log)
        return limits.request_counts(log)

    # -- HTTP entry point -----------------------------------------------------------------
    def handle(self, path: str, body: Any, headers: Mapping[str, str] | None = None
               ) -> Response | tuple[int, bytes]:
        """Serve one HTTP request; every call lands in the request log. The body is bytes
        (not JSON) only when an ``unreadable_page`` fault cut it."""
        reply = self.respond(path, body, headers)
        return reply.status, reply.body

    def respond(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
        """:meth:`handle` with the extra HTTP response headers (used by the server)."""
        t0, wall = time.monotonic(), time.time()
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        body = body if isinstance(body, dict) else None
        token = (body or {}).get("access_token")
        item = self.world.items_by_token.get(token) if isinstance(token, str) else None
        kind = None
        if body is None:
            reply = Reply(400, error_body(400, "INVALID_REQUEST", "INVALID_BODY",
                                          "request body must be a JSON object",
                                          self._request_id(path, {})), {})
        elif path in PLAID_ROUTES:
            client_id = headers.get("plaid-client-id") or body.get("client_id")
            secret = headers.get("plaid-secret") or body.get("secret")
            if not client_id or not secret:
                reply = self._error_reply(er.invalid_api_keys(), path, body)
            elif path in RATE_LIMITED and item is not None:
                reply, kind = self._guarded(path, body, item, t0)
            else:
                status, resp = getattr(self, PLAID_ROUTES[path])(body)
                reply = Reply(status, resp, {})
        elif path in SANDBOX_ROUTES:
            status, resp = sandbox_call(self, path, body)
            reply = Reply(status, resp, {})
        else:
            reply = Reply(404, error_body(404, "INVALID_REQUEST", "NOT_FOUND",
                                          f"unknown endpoint {path}",
                                          self._request_id(path, {})), {})
        if item is None and reply.status == 200 and path in PLAID_ROUTES:
            item = self.world.items_by_id.get(str(reply.body.get("item_id")))
        institution_id = item.institution_id if item else self._institution_of(body or {})
        with self._lock:
            self.request_log.append({
                "monotonic": t0, "wall_time": wall, "endpoint": path,
                "institution_id": institution_id, "item_id": item.item_id if item else None,
                "status": reply.status,
                "error_code": reply.body.get("error_code") if reply.status != 200 else None,
                "fault": kind})
        return reply

    def _institution_of(self, body: dict) -> str | None:
        ins = body.get("institution_id")
        return ins if isinstance(ins, str) and ins in self.world.institutions_by_id else None

    def _error_reply(self, err: BankError, path: str, body: dict) -> Reply:
        return Reply(err.status, err.body(self._request_id(path, body, err.error_code)),
                     dict(err.headers))

    def _guarded(self, path: str, body: dict, item: Item, now: float
                 ) -> tuple[Reply, str | None]:
        """A request subject to the institution's rate limit and fault plan."""
        ins = self.world.institutions_by_id[item.institution_id]
        if self.enforce_rate_limits:
            wait = self._buckets.take(ins.institution_id, ins.rate_limit_qps, now)
            if wait is not None:
                err = er.rate_limit_exceeded(
                    wait, f"{ins.institution_id} allows {ins.rate_limit_qps} requests/s")
                return self._error_reply(err, path, body), None
        cursor_kind = self._cursor_kind(body, item) if path == SYNC else None
        d = self.faults.decide(ins.institution_id, item.item_id, path, cursor_kind)
        if d.error is not None:
            return self._error_reply(d.error, path, body), d.kind
        serve = getattr(self, PLAID_ROUTES[path])
        if d.fault is None:
            status, resp = serve(body)
            return Reply(status, resp, {}), None
        fault = d.fault
        inj = Injection(fault, d.n, rng(self.faults.seed, "inject", ins.institution_id, d.n))
        if fault.kind == "timeout":
            time.sleep(float(fault["delay"]))
        status, resp = serve(body, inj=inj) if fault.kind in SYNC_ONLY else serve(body)
        if fault.kind == "wrong_balance" and status == 200:
            self._falsify_balances(resp, inj, item, path)
        sent: dict | bytes = resp
        if fault.kind == "unreadable_page" and status == 200:
            sent = self._cut(resp, inj)
        code = resp.get("error_code") if status != 200 else None
        applied = (fault.kind in ("timeout", "wrong_balance")
                   or (fault.kind == "mutation" and code == er.mutation_during_pagination()
                       .error_code)
                   or (fault.kind in ("empty_results", "unreadable_page") and status == 200)
                   or (fault.kind in ("duplicate_ids", "reissued_ids")
                       and bool(inj.details.get("transaction_ids")))
                   or (fault.kind == "malformed_records" and bool(inj.details.get("breaks")))
                   or (fault.kind == "leaky_descriptions" and bool(inj.details.get("leaks"))))
        if not applied:
            return Reply(status, resp, {}), None
        self.faults.record(ins.institution_id, item.item_id, fault.kind, d.n, path,
                           error_code=code, **inj.details)
        return Reply(status, sent, {}), fault.kind

    @staticmethod
    def _cursor_kind(body: dict, item: Item) -> str:
        text = body.get("cursor") or None
        if text is None:
            return "initial"
        try:
            cur = ch.decode_cursor(item, str(text))
        except ValueError:
            return "invalid"
        if cur.offset is None:
            return "complete"
        return "page" if cur.since is not None else "page_initial"

    @staticmethod
    def _cut(resp: dict, inj: Injection) -> bytes:
        """The first half of the body the server would send: truncated JSON. Serving a page
        changes nothing in the bank, so the request's cursor stays valid for a retry."""
        full = json.dumps(resp).encode()
        sent = full[:len(full) // 2]
        inj.details.update(bytes_sent=len(sent), bytes_full=len(full),
                           sha256=hashlib.sha256(sent).hexdigest())
        return sent

    def _falsify_balances(self, resp: dict, inj: Injection, item: Item, path: str) -> None:
        accounts = resp.get("accounts") or []
        if not accounts:
            return
        chosen = accounts if inj.fault["all_accounts"] else [inj.rng.choice(accounts)]
        factor = float(inj.fault["factor"])
        for acct in chosen:
            bal = acct["balances"]
            true_current = bal["current"]
            for key in ("current", "available"):
                if bal.get(key) is not None:
                    bal[key] = round(bal[key] * factor, 2)
            self.faults.wrong_balances.append({
                "institution_id": item.institution_id, "item_id": item.item_id,
                "account_id": acct["account_id"], "request": inj.n, "endpoint": path,
                "factor": factor, "true_current": true_current, "reported_current": bal["current"]})
        inj.details.update(account_ids=[a["account_id"] for a in chosen], factor=factor)
