"""Partner failure classification and the retry policy of the system design.

| class               | retry? | how                                                     |
| RATE_LIMITED        | yes    | exponential backoff honouring Retry-After               |
| INVALID_CREDENTIALS | no     | mark credentials expired after 3 failures in a row      |
| MFA_REQUIRED        | no     | suspend sync until the user resolves it                 |
| INSTITUTION_DOWN    | later  | 1 h, then 6 h, then daily                               |
| TIMEOUT             | yes    | up to 3 retries, then treated as INSTITUTION_DOWN       |
| UNKNOWN_5XX         | yes    | exponential backoff with full jitter, for up to 24 h    |
| BAD_PAYLOAD, CLIENT_ERROR | no |                                                          |
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import urllib3.exceptions as u3

from connectors.partner import PartnerError

HOUR = 3600.0
DAY = 86400.0


class ErrorClass(StrEnum):
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    MFA_REQUIRED = "MFA_REQUIRED"
    INSTITUTION_DOWN = "INSTITUTION_DOWN"
    TIMEOUT = "TIMEOUT"
    UNKNOWN_5XX = "UNKNOWN_5XX"
    BAD_PAYLOAD = "BAD_PAYLOAD"
    CLIENT_ERROR = "CLIENT_ERROR"


PARTNER_CODES: dict[str, ErrorClass] = {
    "RATE_LIMIT_EXCEEDED": ErrorClass.RATE_LIMITED,
    **dict.fromkeys(("ITEM_LOGIN_REQUIRED", "ACCESS_NOT_GRANTED", "USER_PERMISSION_REVOKED",
                     "NO_ACCOUNTS", "INVALID_CREDENTIALS"), ErrorClass.INVALID_CREDENTIALS),
    **dict.fromkeys(("INVALID_MFA", "INVALID_SEND_METHOD", "USER_INPUT_TIMEOUT", "ITEM_LOCKED"),
                    ErrorClass.MFA_REQUIRED),
    **dict.fromkeys(("INSTITUTION_DOWN", "INSTITUTION_NOT_RESPONDING",
                     "INSTITUTION_NOT_AVAILABLE", "PLANNED_MAINTENANCE"),
                    ErrorClass.INSTITUTION_DOWN),
    "INTERNAL_SERVER_ERROR": ErrorClass.UNKNOWN_5XX,
}

_CONNECTION_LOST = (ConnectionError, u3.NewConnectionError, u3.ProtocolError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it wraps: MaxRetryError.reason and explicit ``raise ... from``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        reason = getattr(cur, "reason", None) if isinstance(cur, u3.MaxRetryError) else None
        cur = reason if isinstance(reason, BaseException) else cur.__cause__


def _is_payload_error(exc: BaseException) -> bool:
    try:
        from connectors.sync import PartnerPayloadError
    except ImportError:  # connectors.sync is importing us: compare by name
        return any(c.__name__ == "PartnerPayloadError" for c in type(exc).__mro__)
    return isinstance(exc, PartnerPayloadError)


def _classify_partner(err: PartnerError) -> ErrorClass:
    cls = PARTNER_CODES.get(err.code)
    if cls is not None:
        return cls
    if err.status == 429:
        return ErrorClass.RATE_LIMITED
    if 400 <= err.status < 500:
        return ErrorClass.CLIENT_ERROR
    return ErrorClass.UNKNOWN_5XX  # >= 500, or no HTTP status at all (status 0: transport)


def classify(exc: BaseException) -> ErrorClass:
    """The retry class of a failed partner call.

    Walks the wrapped causes; a connection refused/reset (or any other network failure) is
    UNKNOWN_5XX; anything unrecognised (a bug on our side) is CLIENT_ERROR: not retried.
    """
    for e in _chain(exc):
        if isinstance(e, PartnerError):
            return _classify_partner(e)
        if _is_payload_error(e):
            return ErrorClass.BAD_PAYLOAD
        if isinstance(e, _CONNECTION_LOST):  # before timeouts: NewConnectionError is one
            return ErrorClass.UNKNOWN_5XX
        if isinstance(e, TimeoutError | u3.TimeoutError):  # socket.timeout is TimeoutError
            return ErrorClass.TIMEOUT
    for e in _chain(exc):
        if isinstance(e, OSError | u3.HTTPError):
            return ErrorClass.UNKNOWN_5XX
    return ErrorClass.CLIENT_ERROR


def _headers_of(exc: BaseException) -> object | None:
    for e in (exc, exc.__cause__):
        headers = getattr(e, "headers", None)
        if headers is not None:
            return headers
    return None


def retry_after_seconds(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds to wait from the error's Retry-After header (delta-seconds or HTTP date).

    Reads a ``headers`` attribute (mapping or list of pairs) on the error or its cause; None
    when there is no usable header. ``now`` (epoch seconds) is for tests.
    """
    headers = _headers_of(exc)
    if headers is None:
        return None
    items: Any = headers.items() if isinstance(headers, Mapping) else headers
    try:
        value = next((v for k, v in items if str(k).lower() == "retry-after"), None)
    except (TypeError, ValueError):
        return None
    if value is None:
        return None
    text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class Decision:
    retry_now: bool  # retry within this run after ``delay`` seconds
    delay: float
    next_attempt_in: float | None  # seconds until a later run should retry; None: don't
    credential_status: str | None  # "expired" | "mfa_required" | None
    reason: str


@dataclass
class RetryPolicy:
    """Tunables of the retry table; ``decide`` is pure apart from the jitter ``rng``.

    ``rng`` defaults to an OS-seeded generator so workers don't retry in lockstep; pass
    ``random.Random(seed)`` for reproducible jitter.
    """

    base_delay: float = 1.0
    max_delay: float = 60.0
    max_rate_limit_retries: int = 6
    max_timeout_retries: int = 3
    max_5xx_retries: int = 4
    credential_failure_limit: int = 3
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    down_schedule: tuple[float, ...] = (HOUR, 6 * HOUR, DAY)
    defer_5xx_first: float = 300.0
    give_up_5xx_after: float = DAY
    nightly: float = DAY

    def backoff(self, attempt: int) -> float:
        """Exponential base delay after failed attempt number ``attempt`` (1, 2, ...)."""
        return min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 62))

    def _jittered(self, attempt: int) -> float:
        """Backoff stretched by up to ``jitter`` of itself: attempt n+1 never waits less."""
        base = self.backoff(attempt)
        return min(self.max_delay, base * (1.0 + self.jitter * self.rng.random()))

    def decide(self, error: ErrorClass, attempt: int, *, retry_after: float | None = None,
               consecutive_credential_failures: int = 0, down_streak: int = 0,
               first_failure_age: float = 0.0) -> Decision:
        """What to do after attempt number ``attempt`` (1 = the first call) failed with ``error``.

        ``consecutive_credential_failures`` and ``down_streak`` count this failure too (0 is
        read as 1); ``first_failure_age`` is the seconds since this run of 5xx failures began.
        """
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        error = ErrorClass(error)
        if error is ErrorClass.RATE_LIMITED:
            return self._rate_limited(attempt, retry_after)
        if error is ErrorClass.INVALID_CREDENTIALS:
            n = max(1, consecutive_credential_failures)
            if n >= self.credential_failure_limit:
                return Decision(False, 0.0, None, "expired",
                                f"invalid credentials {n} times in a row: expired, re-link")
            return Decision(False, 0.0, self.nightly, None,
                            f"invalid credentials ({n}/{self.credential_failure_limit}); "
                            "retry next nightly run")
        if error is ErrorClass.MFA_REQUIRED:
            return Decision(False, 0.0, None, "mfa_required",
                            "user action required (MFA); sync suspended until resolved")
        if error is ErrorClass.INSTITUTION_DOWN:
            return self._down(down_streak, "institution down")
        if error is ErrorClass.TIMEOUT:
            if attempt <= self.max_timeout_retries:
                return Decision(True, self._jittered(attempt), None, None,
                                f"timeout: retry {attempt}/{self.max_timeout_retries}")
            return self._down(down_streak, f"timeout after {self.max_timeout_retries} retries, "
                                           "treated as institution down")
        if error is ErrorClass.UNKNOWN_5XX:
            return self._server_error(attempt, first_failure_age)
        return Decision(False, 0.0, None, None, f"{error.value}: not retryable")

    def _rate_limited(self, attempt: int, retry_after: float | None) -> Decision:
        floor = retry_after if retry_after is not None and retry_after > 0 else 0.0
        if attempt <= self.max_rate_limit_retries and floor <= self.max_delay:
            delay = max(self._jittered(attempt), floor)
            return Decision(True, delay, None, None,
                            f"rate limited: retry {attempt}/{self.max_rate_limit_retries}")
        return Decision(False, 0.0, max(self.max_delay, floor), None,
                        f"rate limited after {attempt} attempts: deferred")

    def _down(self, down_streak: int, why: str) -> Decision:
        n = max(1, down_streak)
        wait = self.down_schedule[min(n, len(self.down_schedule)) - 1]
        return Decision(False, 0.0, wait, None, f"{why} (streak {n}): next try in {wait:g}s")

    def _server_error(self, attempt: int, age: float) -> Decision:
        if age >= self.give_up_5xx_after:
            return Decision(False, 0.0, None, None,
                            f"server errors for {age / HOUR:.1f} h since the first failure: "
                            f"giving up after {self.give_up_5xx_after / HOUR:g} h")
        if attempt <= self.max_5xx_retries:  # full jitter: uniform in [0, backoff]
            return Decision(True, self.rng.uniform(0.0, self.backoff(attempt)), None, None,
                            f"server error: retry {attempt}/{self.max_5xx_retries}")
        # Later runs: wait as long again as the failures have lasted (the waits double),
        # with one last try at the give-up horizon.
        wait = min(max(self.defer_5xx_first, age), self.give_up_5xx_after - age)
        return Decision(False, 0.0, wait, None,
                        f"server error after {attempt} attempts: next try in {wait:g}s")
