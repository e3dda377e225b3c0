"""Applies a :class:`FaultPlan` to requests: request counters, sticky item errors, fault log.

Error faults (``rate_limit``, ``login_required``, ``mfa_required``, ``institution_down``,
``server_error``) are answered here; the bank carries out the others (``timeout``,
``mutation``, ``duplicate_ids``, ``reissued_ids``, ``wrong_balance``, ``empty_results``,
``malformed_records``, ``unreadable_page``, ``leaky_descriptions``) and records them with
:meth:`FaultInjector.record`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from connectors.sandbox_bank import errors as er
from connectors.sandbox_bank.errors import BankError
from connectors.sandbox_bank.faults import INSTITUTION_DOWN_CODES, SYNC_ONLY, Fault, FaultPlan
from connectors.sandbox_bank.state import BankState

SYNC = "/transactions/sync"
FAULTABLE = frozenset({SYNC, "/accounts/get", "/accounts/balance/get"})
# what a /transactions/sync request's cursor is: no cursor, a completed position, a page of
# a first (full) update, a page of a later update, or unreadable
CURSOR_KINDS = ("initial", "complete", "page_initial", "page", "invalid")


@dataclass(frozen=True)
class Decision:
    n: int  # the request's number at its institution
    kind: str | None  # the fault kind injected (also for a sticky item error), None: none
    fault: Fault | None  # the plan's fault (None for a sticky item error)
    error: BankError | None  # answer with this error instead of serving


@dataclass
class Injection:
    """A fault the bank carries out while serving a request."""

    fault: Fault
    n: int
    rng: random.Random  # seeded from (plan seed, institution, n): reproducible choices
    details: dict = field(default_factory=dict)  # what was done, for the fault log


def _fits(kind: str, endpoint: str, cursor_kind: str | None) -> bool:
    if kind in SYNC_ONLY and endpoint != SYNC:
        return False
    if kind == "mutation":
        return cursor_kind in ("page_initial", "page")
    if kind == "empty_results":
        return cursor_kind in ("initial", "complete")
    if kind in ("duplicate_ids", "reissued_ids"):  # a later update: the client has some
        return cursor_kind in ("complete", "page")
    if kind in ("malformed_records", "unreadable_page", "leaky_descriptions"):
        return cursor_kind != "invalid"  # a request the bank answers with a page
    return True


class FaultInjector:
    def __init__(self, state: BankState) -> None:
        self._state = state
        self._lock = threading.RLock()
        cfg = state.get("faults")
        self._plan = FaultPlan.from_json(cfg["plan"]) if isinstance(cfg, dict) else FaultPlan()
        self._seed = int(cfg["seed"]) if isinstance(cfg, dict) else 0
        stuck = state.get("stuck_items", {})
        self._stuck: dict[str, str] = stuck if isinstance(stuck, dict) else {}
        self._counters: dict[str, int] = {}
        self._down: dict[str, int] = {}
        self.fault_log: list[dict] = []
        self.wrong_balances: list[dict] = []

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    @property
    def seed(self) -> int:
        return self._seed

    def set_plan(self, plan: FaultPlan, seed: int) -> None:
        """Install ``plan``; request counters restart at 0 (sticky errors stay)."""
        with self._lock:
            self._plan, self._seed = plan, int(seed)
            self._counters.clear()
            self._down.clear()
            self._state.put("faults", {"seed": self._seed, "plan": plan.to_json()})

    def clear(self) -> None:
        """No plan, no sticky item errors, counters back to 0 (the logs stay)."""
        with self._lock:
            self._plan, self._seed = FaultPlan(), 0
            self._counters.clear()
            self._down.clear()
            self._stuck.clear()
            self._state.put("faults", None)
            self._state.put("stuck_items", None)

    def stuck_items(self) -> dict[str, str]:
        """item_id -> the sticky fault kind it suffers from."""
        with self._lock:
            return dict(self._stuck)

    def resolve(self, item_id: str) -> bool:
        """The user fixed the item (re-login, MFA): its sticky error ends. False if none."""
        with self._lock:
            if self._stuck.pop(item_id, None) is None:
                return False
            self._state.put("stuck_items", self._stuck or None)
            return True

    def record(self, institution_id: str, item_id: str, kind: str, n: int, endpoint: str,
               **details: object) -> None:
        with self._lock:
            self.fault_log.append({"institution_id": institution_id, "item_id": item_id,
                                   "kind": kind, "request": n, "endpoint": endpoint,
                                   "error_code": None, "sticky": False, **details})

    def decide(self, institution_id: str, item_id: str, endpoint: str,
               cursor_kind: str | None) -> Decision:
        """Number the request and choose its fault (errors are recorded here)."""
        with self._lock:
            n = self._counters.get(institution_id, 0)
            self._counters[institution_id] = n + 1
            if item_id in self._stuck:
                err = self._sticky_error(self._stuck[item_id])
                self.record(institution_id, item_id, self._stuck[item_id], n, endpoint,
                            error_code=err.error_code, sticky=True)
                return Decision(n, self._stuck[item_id], None, err)
            for fault in self._plan.firing(self._seed, institution_id, n):
                if not _fits(fault.kind, endpoint, cursor_kind):
                    continue
                error = self._error(fault, institution_id, item_id)
                if error is not None:
                    self.record(institution_id, item_id, fault.kind, n, endpoint,
                                error_code=error.error_code)
                return Decision(n, fault.kind, fault, error)
            return Decision(n, None, None, None)

    @staticmethod
    def _sticky_error(kind: str) -> BankError:
        return er.invalid_mfa() if kind == "mfa_required" else er.item_login_required()

    def _error(self, fault: Fault, institution_id: str, item_id: str) -> BankError | None:
        kind = fault.kind
        if kind == "rate_limit":
            return er.rate_limit_exceeded(int(fault["retry_after"]),
                                          f"too many requests to {institution_id}")
        if kind in ("login_required", "mfa_required"):
            if fault["sticky"]:
                self._stuck[item_id] = kind
                self._state.put("stuck_items", self._stuck)
            return self._sticky_error(kind)
        if kind == "institution_down":
            i = self._down.get(institution_id, 0)
            self._down[institution_id] = i + 1
            return er.institution_error(fault["error_code"]
                                        or INSTITUTION_DOWN_CODES[i % len(INSTITUTION_DOWN_CODES)])
        if kind == "server_error":
            return er.internal_server_error()
        return None
