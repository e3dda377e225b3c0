"""Fault plans: which failures the sandbox bank injects, per institution, from a seed.

A :class:`FaultPlan` maps institution ids to lists of :class:`Fault`. Every request to an
institution on a faultable endpoint (``/transactions/sync``, ``/accounts/*``) gets the next
number of that institution's request counter (from 0, reset when a plan is set). Fault ``i``
of the list *fires* for request ``n`` when ``after_calls <= n < after_calls + calls`` (no
upper bound when ``calls`` is None) and ``draw(seed, institution, n, i) < rate``; the first
firing fault that fits the request is injected (see :mod:`injector`). Decisions depend only on
the plan, the seed and the request numbers, so a run is reproducible.

Kinds (parameters with their defaults in :data:`KINDS`):

- errors: ``rate_limit`` (429 with Retry-After), ``login_required`` and ``mfa_required``
  (sticky for the item unless ``sticky=False``), ``institution_down``, ``server_error``;
- ``timeout``: the answer comes ``delay`` seconds late;
- sync only (:data:`SYNC_ONLY`): ``mutation`` (a page cursor is refused mid-pagination),
  ``duplicate_ids`` (``count`` ids sent again with corrected details), ``empty_results``
  (nothing new, cursor unmoved);
- ``reissued_ids`` (sync only, later updates): ``count`` posted transactions the client
  already has are sent again in ``added`` under NEW transaction ids, the old ids kept (never
  removed): the partner then lists both, one real purchase (ground truth:
  :meth:`~connectors.sandbox_bank.overlay.Overlay.reissues`, ``/sandbox/truth``'s
  ``reissues``);
- ``wrong_balance``: balances multiplied by ``factor`` on the wire;
- ``malformed_records`` (sync only): ``count`` records of the page's ``added``/``modified``
  get one wrong field each on the wire (amount as a string, amount NaN, currency "ZZZ",
  date "2026-02-30", or no transaction_id); the bank's truth is unchanged, nothing is
  re-sent, and the fault log lists the ``breaks`` (transaction id, field, how);
- ``unreadable_page`` (sync only): HTTP 200 with the first half of the real body (truncated
  JSON); nothing moves, so the request's cursor stays valid and a retry gets the real page;
- ``leaky_descriptions`` (sync only): ``count`` records of the page's ``added``/``modified``
  carry a full account number, a routing number and/or a Luhn-valid card number in their
  ``original_description`` and (unless ``in_name=False``) their ``name``, as some banks print
  them in transfer descriptions ("ONLINE TRANSFER TO CHK 000123456789 ROUTING 021000021",
  "PAYMENT CARD 4111 1111 1111 1111"); the bank's truth is unchanged (so a leaked ``name``
  differs from the truth's), and the fault log lists the ``leaks`` (transaction id, the text
  and every number in it) for tests to look for.

Operators pick a plan with ``--faults SPEC`` (``python -m connectors.sandbox_bank``,
``finlake sandbox-bank``, ``finlake demo``); :mod:`fault_files` reads the SPEC.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from connectors.sandbox_bank.ids import digest, rng

if TYPE_CHECKING:
    pass

# kind -> allowed parameters with their defaults
KINDS: dict[str, dict[str, Any]] = {
    "rate_limit": {"retry_after": 1},
    "login_required": {"sticky": True},
    "mfa_required": {"sticky": True},
    "institution_down": {"error_code": None},
    "timeout": {"delay": 3.0},
    "server_error": {},
    "mutation": {},
    "duplicate_ids": {"count": 2},
    "wrong_balance": {"factor": 1000.0, "all_accounts": False},
    "empty_results": {},
    "malformed_records": {"count": 2},
    "unreadable_page": {},
    "leaky_descriptions": {"count": 2, "in_name": True},
    "reissued_ids": {"count": 1},
}
MAX_DELAY = 600.0  # a timeout's answer comes at most this late (a server thread waits it out)
# kinds added after plans from every_kind were relied on (acceptance runs, seeds in tests)
ADDED_LATER = ("leaky_descriptions", "reissued_ids")
INSTITUTION_DOWN_CODES = ("INSTITUTION_DOWN", "INSTITUTION_NOT_RESPONDING",
                          "INSTITUTION_NOT_AVAILABLE", "PLANNED_MAINTENANCE")
SYNC_ONLY = frozenset({"mutation", "duplicate_ids", "empty_results", "malformed_records",
                       "unreadable_page", "leaky_descriptions", "reissued_ids"})


class Fault:
    """One failure mode: ``Fault(kind, rate=1.0, after_calls=0, calls=None, **params)``."""

    __slots__ = ("kind", "rate", "after_calls", "calls", "params")

    def __init__(self, kind: str, rate: float = 1.0, after_calls: int = 0,
                 calls: int | None = None, **params: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
        unknown = set(params) - set(KINDS[kind])
        if unknown:
            raise ValueError(f"{kind}: unknown parameter(s) {sorted(unknown)}")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError(f"{kind}: rate must be a number in [0, 1], got {rate!r}")
        if isinstance(after_calls, bool) or not isinstance(after_calls, int) or after_calls < 0:
            raise ValueError(f"{kind}: after_calls must be an integer >= 0")
        if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int)
                                  or calls < 1):
            raise ValueError(f"{kind}: calls must be None or an integer >= 1")
        merged = {**KINDS[kind], **params}
        _check_params(kind, merged)
        self.kind = kind
        self.rate = float(rate)
        self.after_calls = after_calls
        self.calls = calls
        self.params: dict[str, Any] = merged

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def in_window(self, n: int) -> bool:
        return n >= self.after_calls and (self.calls is None or n < self.after_calls + self.calls)

    def to_json(self) -> dict:
        extra = {k: v for k, v in self.params.items() if v != KINDS[self.kind][k]}
        out: dict = {"kind": self.kind, "rate": self.rate, "after_calls": self.after_calls,
                     "calls": self.calls}
        return {**out, **extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        if not isinstance(data, Mapping) or "kind" not in data:
            raise ValueError(f"a fault must be an object with a kind, got {data!r}")
        return cls(**dict(data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fault) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_json().items() if k != "kind")
        return f"Fault({self.kind!r}, {args})"


def _check_params(kind: str, p: dict[str, Any]) -> None:
    def bad(name: str, want: str) -> ValueError:
        return ValueError(f"{kind}: {name} must be {want}, got {p[name]!r}")

    if kind == "rate_limit" and (isinstance(p["retry_after"], bool)
                                 or not isinstance(p["retry_after"], int)
                                 or p["retry_after"] < 1):
        raise bad("retry_after", "an integer >= 1")
    for flag in ("sticky", "in_name"):
        if flag in p and not isinstance(p[flag], bool):
            raise bad(flag, "a boolean")
    if kind == "institution_down" and p["error_code"] not in (None, *INSTITUTION_DOWN_CODES):
        raise bad("error_code", f"None or one of {INSTITUTION_DOWN_CODES}")
    if kind == "timeout" and (isinstance(p["delay"], bool)
                              or not isinstance(p["delay"], int | float)
                              or not 0 <= p["delay"] <= MAX_DELAY):
        raise bad("delay", f"a number of seconds from 0 to {MAX_DELAY:.0f}")
    if kind in ("duplicate_ids", "malformed_records", "leaky_descriptions",
                "reissued_ids") and (
            isinstance(p["count"], bool) or not isinstance(p["count"], int) or p["count"] < 1):
        raise bad("count", "an integer >= 1")
    if kind == "wrong_balance":
        if isinstance(p["factor"], bool) or not isinstance(p["factor"], int | float) \
                or p["factor"] in (0, 1):
            raise bad("factor", "a number other than 0 and 1 (e.g. 1000 or -1)")
        if not isinstance(p["all_accounts"], bool):
            raise bad("all_accounts", "a boolean")


def draw(seed: int, institution_id: str, n: int, index: int) -> float:
    """The uniform [0, 1) number deciding whether fault ``index`` fires for request ``n``."""
    return int.from_bytes(digest(seed, "fault", institution_id, n, index)[:8], "big") / 2 ** 64


class FaultPlan(Mapping[str, tuple[Fault, ...]]):
    """Institution id -> faults (in priority order). Immutable."""

    def __init__(self, faults: Mapping[str, Iterable[Fault | Mapping[str, Any]]] | None = None
                 ) -> None:
        plan: dict[str, tuple[Fault, ...]] = {}
        for ins, items in (faults or {}).items():
            if not isinstance(ins, str):
                raise ValueError(f"institution ids must be strings, got {ins!r}")
            if isinstance(items, Mapping | str | bytes):
                raise ValueError(f"{ins}: expected a list of faults")
            plan[ins] = tuple(f if isinstance(f, Fault) else Fault.from_json(f) for f in items)
        self._plan = plan

    def __getitem__(self, institution_id: str) -> tuple[Fault, ...]:
        return self._plan[institution_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plan)

    def __len__(self) -> int:
        return len(self._plan)

    def __repr__(self) -> str:
        return f"FaultPlan({self._plan!r})"

    def firing(self, seed: int, institution_id: str, n: int) -> list[Fault]:
        """The faults of ``institution_id`` that fire for its request number ``n``."""
        return [f for i, f in enumerate(self._plan.get(institution_id, ()))
                if f.in_window(n) and draw(seed, institution_id, n, i) < f.rate]

    def to_json(self) -> dict[str, list[dict]]:
        return {ins: [f.to_json() for f in faults] for ins, faults in self._plan.items()}

    @classmethod
    def from_json(cls, data: object) -> FaultPlan:
        if not isinstance(data, Mapping):
            raise ValueError("plan must be an object: institution_id -> list of faults")
        return cls(data)

    @classmethod
    def every_kind(cls, institution_ids: Iterable[str], seed: int) -> FaultPlan:
        """A plan covering every fault kind across ``institution_ids`` (shuffled by ``seed``):
        one kind per institution when there are at least as many institutions as kinds (the
        rest stay healthy), else up to two (more only below six institutions)."""
        ids = list(dict.fromkeys(institution_ids))
        if not ids:
            raise ValueError("every_kind needs at least one institution")
        rng(seed, "every-kind").shuffle(ids)
        kinds = [k for k in KINDS if k not in ADDED_LATER]
        rng(seed, "every-kind-order").shuffle(kinds)
        kinds += ADDED_LATER  # after the shuffle: a seed's plan for the others is unchanged
        plan: dict[str, list[Fault]] = {}
        for i, kind in enumerate(kinds):
            plan.setdefault(ids[i % len(ids)], []).append(_ACCEPTANCE[kind])
        return cls(plan)


# moderate settings: every kind shows up in a run of a few dozen requests per institution,
# and institutions with transient faults still make progress
_ACCEPTANCE: dict[str, Fault] = {
    "rate_limit": Fault("rate_limit", 0.3, retry_after=1),
    "login_required": Fault("login_required", 1.0, after_calls=3, calls=1),
    "mfa_required": Fault("mfa_required", 1.0, after_calls=2, calls=1),
    "institution_down": Fault("institution_down", 0.4),
    "timeout": Fault("timeout", 0.2, delay=3.0),
    "server_error": Fault("server_error", 0.3),
    "mutation": Fault("mutation", 0.5),
    "duplicate_ids": Fault("duplicate_ids", 0.3),
    "wrong_balance": Fault("wrong_balance", 0.25),
    "empty_results": Fault("empty_results", 0.3),
    "malformed_records": Fault("malformed_records", 0.3),
    "unreadable_page": Fault("unreadable_page", 0.2),
    # names are compared with the bank's truth, which a leak on the wire does not change
    "leaky_descriptions": Fault("leaky_descriptions", 0.3, in_name=False),
    "reissued_ids": Fault("reissued_ids", 0.3),
}
