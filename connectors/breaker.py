"""A circuit breaker per institution: stop calling a bank that keeps failing, probe it later.

closed --(failure_threshold failures in a row)--> open --(reset_after s)--> half_open;
half_open lets exactly one trial call through: its success closes the circuit, its failure
opens it again for another ``reset_after``. The caller decides which failures count (those
that mean institution trouble, not e.g. one user's bad credentials).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Circuit:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trial_started: float | None = None  # when the half-open trial call was let through


class CircuitBreaker:
    """Thread-safe; one circuit per key (institution id). State lives in this process."""

    def __init__(self, failure_threshold: int = 5, reset_after: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_after < 0:
            raise ValueError("reset_after must be >= 0")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def _circuit(self, key: str) -> _Circuit:
        c = self._circuits.get(key)
        if c is None:
            c = self._circuits[key] = _Circuit()
        return c

    def _current(self, c: _Circuit, now: float) -> BreakerState:
        """The state as of ``now``: an open circuit whose cool-down has passed is half-open."""
        if c.state is BreakerState.OPEN and now - c.opened_at >= self.reset_after:
            c.state, c.trial_started = BreakerState.HALF_OPEN, None
        return c.state

    def allow(self, key: str) -> bool:
        """May a call to ``key`` go ahead? In half-open only the one trial call may."""
        with self._lock:
            c = self._circuit(key)
            now = self._clock()
            state = self._current(c, now)
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.OPEN:
                return False
            # A trial whose caller never reported back (crashed) is replaced after reset_after.
            if c.trial_started is None or now - c.trial_started >= self.reset_after:
                c.trial_started = now
                return True
            return False

    def record_success(self, key: str) -> None:
        with self._lock:
            c = self._circuit(key)
            if self._current(c, self._clock()) is BreakerState.OPEN:
                return  # a call from before the circuit opened: proves nothing now
            self._circuits[key] = _Circuit()

    def record_failure(self, key: str) -> None:
        with self._lock:
            c = self._circuit(key)
            now = self._clock()
            state = self._current(c, now)
            if state is BreakerState.OPEN:
                return  # a straggler from before the circuit opened
            c.failures += 1
            if state is BreakerState.HALF_OPEN or c.failures >= self.failure_threshold:
                c.state, c.opened_at, c.trial_started = BreakerState.OPEN, now, None

    def state(self, key: str) -> str:
        """closed, open or half_open (an open circuit whose cool-down is over is half_open)."""
        with self._lock:
            c = self._circuits.get(key)
            return (self._current(c, self._clock()) if c else BreakerState.CLOSED).value

    def failures(self, key: str) -> int:
        """Consecutive counted failures for ``key``."""
        with self._lock:
            c = self._circuits.get(key)
            return c.failures if c else 0
