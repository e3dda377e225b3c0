"""Server-side rate limits (a token bucket per institution) and request-log measurements."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable


class TokenBuckets:
    """One bucket per key: burst = qps tokens, refilled at qps tokens per second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, qps: float, now: float) -> int | None:
        """Take a token: None when allowed, else the whole seconds (>= 1) to wait."""
        with self._lock:
            tokens, at = self._buckets.get(key, (float(qps), now))
            tokens = min(float(qps), tokens + max(0.0, now - at) * qps)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / qps))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


def max_rate(log: Iterable[dict], institution_id: str, window_s: float = 1.0,
             endpoints: Iterable[str] | None = None) -> int:
    """The most requests to ``institution_id`` (optionally only on ``endpoints``) that arrived
    within any window ``[t, t + window_s)``; rejected requests count too."""
    wanted = set(endpoints) if endpoints is not None else None
    times = sorted(e["monotonic"] for e in log if e.get("institution_id") == institution_id
                   and (wanted is None or e.get("endpoint") in wanted))
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def request_counts(log: Iterable[dict]) -> dict[tuple[str | None, int | str], int]:
    """(institution_id, 200 or the error_code) -> number of requests."""
    return dict(Counter((e.get("institution_id"), e.get("error_code") or e["status"])
                        for e in log))
