"""Failure classification, the retry policy table and the per-institution circuit breaker."""

from __future__ import annotations

import dataclasses
import random
import socket
import sys
import threading
from email.utils import formatdate

import pytest
import urllib3.exceptions as u3

from connectors.breaker import CircuitBreaker
from connectors.partner import PartnerError
from connectors.retry import Decision, ErrorClass, RetryPolicy, classify, retry_after_seconds
from connectors.sync import PartnerPayloadError

E = ErrorClass

# The partner's error codes as the BRIEF lists them, with the HTTP status Plaid sends.
PARTNER_CODES = [
    ("RATE_LIMIT_EXCEEDED", 429, E.RATE_LIMITED),
    ("ITEM_LOGIN_REQUIRED", 400, E.INVALID_CREDENTIALS),
    ("ACCESS_NOT_GRANTED", 400, E.INVALID_CREDENTIALS),
    ("USER_PERMISSION_REVOKED", 400, E.INVALID_CREDENTIALS),
    ("NO_ACCOUNTS", 400, E.INVALID_CREDENTIALS),
    ("INVALID_CREDENTIALS", 400, E.INVALID_CREDENTIALS),
    ("INVALID_MFA", 400, E.MFA_REQUIRED),
    ("INVALID_SEND_METHOD", 400, E.MFA_REQUIRED),
    ("USER_INPUT_TIMEOUT", 400, E.MFA_REQUIRED),
    ("ITEM_LOCKED", 400, E.MFA_REQUIRED),
    ("INSTITUTION_DOWN", 400, E.INSTITUTION_DOWN),
    ("INSTITUTION_NOT_RESPONDING", 400, E.INSTITUTION_DOWN),
    ("INSTITUTION_NOT_AVAILABLE", 400, E.INSTITUTION_DOWN),
    ("PLANNED_MAINTENANCE", 400, E.INSTITUTION_DOWN),
    ("INTERNAL_SERVER_ERROR", 500, E.UNKNOWN_5XX),
]


@pytest.mark.parametrize(("code", "status", "expected"), PARTNER_CODES)
def test_partner_codes(code: str, status: int, expected: ErrorClass) -> None:
    assert classify(PartnerError(status, code, "x")) is expected


@pytest.mark.parametrize(("status", "code", "expected"), [
    (429, "SOMETHING_NEW", E.RATE_LIMITED),
    (503, "UNKNOWN", E.UNKNOWN_5XX),
    (502, "PLANNED_MAINTENANCE", E.INSTITUTION_DOWN),  # the code is more specific
    (400, "INVALID_REQUEST", E.CLIENT_ERROR),
    (400, "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", E.CLIENT_ERROR),
    (0, "UNKNOWN", E.UNKNOWN_5XX),  # plaid-python's status 0: a transport failure
])
def test_partner_statuses(status: int, code: str, expected: ErrorClass) -> None:
    assert classify(PartnerError(status, code, "x")) is expected


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        raise outer from inner
    except BaseException as exc:  # noqa: BLE001 - only to attach __cause__
        return exc


def _socket_timeout() -> BaseException:
    """A real socket read timeout (socket.timeout is TimeoutError since Python 3.10)."""
    a, b = socket.socketpair()
    try:
        a.settimeout(0.01)
        a.recv(1)
    except OSError as exc:
        return exc
    finally:
        a.close()
        b.close()
    raise AssertionError("recv did not time out")


def _max_retry(reason: Exception) -> u3.MaxRetryError:
    return u3.MaxRetryError(None, "/transactions/sync", reason)  # type: ignore[arg-type]


READ_TIMEOUT = u3.ReadTimeoutError(None, "/transactions/sync", "Read timed out.")  # type: ignore[arg-type]


@pytest.mark.parametrize(("exc", "expected"), [
    (READ_TIMEOUT, E.TIMEOUT),
    (u3.ConnectTimeoutError("connect timed out"), E.TIMEOUT),
    (TimeoutError(), E.TIMEOUT),
    (_socket_timeout(), E.TIMEOUT),
    (_max_retry(READ_TIMEOUT), E.TIMEOUT),
    (_max_retry(u3.ConnectTimeoutError("t")), E.TIMEOUT),
    (_chained(RuntimeError("call failed"), TimeoutError()), E.TIMEOUT),
    (ConnectionRefusedError(111, "Connection refused"), E.UNKNOWN_5XX),
    (ConnectionResetError(104, "Connection reset by peer"), E.UNKNOWN_5XX),
    (u3.ProtocolError("Connection aborted.", ConnectionResetError()), E.UNKNOWN_5XX),
    (_max_retry(u3.NewConnectionError(None, "refused")), E.UNKNOWN_5XX),  # type: ignore[arg-type]
    (PartnerPayloadError("unreadable page"), E.BAD_PAYLOAD),
    (ValueError("a bug of ours"), E.CLIENT_ERROR),
])
def test_transport_errors(exc: BaseException, expected: ErrorClass) -> None:
    assert classify(exc) is expected


def test_payload_error_matched_by_name_while_sync_is_importing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class PartnerPayloadError(RuntimeError):
        pass

    monkeypatch.setitem(sys.modules, "connectors.sync", None)  # the import now fails
    assert classify(PartnerPayloadError("x")) is E.BAD_PAYLOAD
    assert classify(RuntimeError("x")) is E.CLIENT_ERROR


# ------------------------------------------------------------------ Retry-After


def _with_headers(headers: object) -> PartnerError:
    err = PartnerError(429, "RATE_LIMIT_EXCEEDED", "slow down")
    err.headers = headers  # type: ignore[attr-defined,assignment]
    return err


def test_retry_after_header() -> None:
    assert retry_after_seconds(_with_headers({"Retry-After": "7"})) == 7.0
    assert retry_after_seconds(_with_headers({"retry-after": b"2.5"})) == 2.5
    assert retry_after_seconds(_with_headers([("Retry-After", "-3")])) == 0.0
    now = 1_700_000_000.0
    date = formatdate(now + 120, usegmt=True)
    assert retry_after_seconds(_with_headers({"Retry-After": date}), now=now) == 120.0
    assert retry_after_seconds(_with_headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(_with_headers({"X-Other": "1"})) is None
    assert retry_after_seconds(PartnerError(429, "RATE_LIMIT_EXCEEDED", "x")) is None


# ------------------------------------------------------------------ policy


def policy(seed: int = 7, **kw: float) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(seed), **kw)  # type: ignore[arg-type]


def test_rate_limited_backoff_grows_with_bounded_jitter() -> None:
    for seed in range(50):
        p = policy(seed)
        delays = [p.decide(E.RATE_LIMITED, n).delay for n in range(1, 7)]
        assert delays == sorted(delays) and len(set(delays)) == 6, delays
        for n, d in enumerate(delays, 1):
            base = 2.0 ** (n - 1)
            assert base <= d <= base * 1.5
    draws = {policy(s).decide(E.RATE_LIMITED, 3).delay for s in range(20)}
    assert len(draws) > 10  # jitter is there


def test_rate_limited_honours_retry_after_then_defers() -> None:
    p = policy()
    d = p.decide(E.RATE_LIMITED, 1, retry_after=10.0)
    assert d.retry_now and d.delay >= 10.0
    long = p.decide(E.RATE_LIMITED, 1, retry_after=600.0)  # past max_delay: a later run
    assert not long.retry_now and long.next_attempt_in == 600.0
    assert p.decide(E.RATE_LIMITED, 6).retry_now
    last = p.decide(E.RATE_LIMITED, 7)
    assert not last.retry_now and last.next_attempt_in == p.max_delay


def test_invalid_credentials_expire_after_three_in_a_row() -> None:
    p = policy()
    for n in (1, 2):
        d = p.decide(E.INVALID_CREDENTIALS, 1, consecutive_credential_failures=n)
        assert not d.retry_now and d.credential_status is None and d.next_attempt_in == 86400
    d = p.decide(E.INVALID_CREDENTIALS, 1, consecutive_credential_failures=3)
    assert not d.retry_now and d.credential_status == "expired" and d.next_attempt_in is None


def test_mfa_suspends() -> None:
    d = policy().decide(E.MFA_REQUIRED, 1)
    assert d == Decision(False, 0.0, None, "mfa_required", d.reason)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.retry_now = True  # type: ignore[misc]


def test_institution_down_schedule() -> None:
    p = policy()
    waits = [p.decide(E.INSTITUTION_DOWN, 1, down_streak=n) for n in (1, 2, 3, 4, 10)]
    assert [d.next_attempt_in for d in waits] == [3600, 21600, 86400, 86400, 86400]
    assert not any(d.retry_now for d in waits)


def test_timeouts_retry_three_times_then_institution_down() -> None:
    p = policy()
    retries = [p.decide(E.TIMEOUT, n) for n in (1, 2, 3)]
    assert all(d.retry_now for d in retries)
    assert retries[0].delay < retries[1].delay < retries[2].delay
    d = p.decide(E.TIMEOUT, 4)
    assert not d.retry_now and d.next_attempt_in == 3600 and "institution down" in d.reason
    assert p.decide(E.TIMEOUT, 4, down_streak=2).next_attempt_in == 21600


def test_server_errors_full_jitter_then_defer_then_give_up() -> None:
    p = policy()
    for n in range(1, 5):
        draws = [p.decide(E.UNKNOWN_5XX, n).delay for _ in range(200)]
        cap = min(p.max_delay, 2.0 ** (n - 1))
        assert all(0.0 <= x <= cap for x in draws)
        assert min(draws) < cap * 0.1 and max(draws) > cap * 0.9  # full jitter
    deferred = [p.decide(E.UNKNOWN_5XX, 5, first_failure_age=a) for a in (0, 300, 600, 1200)]
    assert not any(d.retry_now for d in deferred)
    assert [d.next_attempt_in for d in deferred] == [300, 300, 600, 1200]  # doubling
    assert p.decide(E.UNKNOWN_5XX, 5, first_failure_age=86000).next_attempt_in == 400
    gone = p.decide(E.UNKNOWN_5XX, 1, first_failure_age=86400)
    assert not gone.retry_now and gone.next_attempt_in is None and "giving up" in gone.reason


@pytest.mark.parametrize("error", [E.BAD_PAYLOAD, E.CLIENT_ERROR])
def test_not_retryable(error: ErrorClass) -> None:
    d = policy().decide(error, 1)
    assert not d.retry_now and d.next_attempt_in is None and d.credential_status is None


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError):
        policy().decide(E.TIMEOUT, 0)


# ------------------------------------------------------------------ circuit breaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, reset_after=60, clock=clock)
    b.record_failure("bank")
    b.record_failure("bank")
    b.record_success("bank")  # resets the count of failures in a row
    b.record_failure("bank")
    b.record_failure("bank")
    assert b.state("bank") == "closed" and b.allow("bank")
    b.record_failure("bank")
    assert b.state("bank") == "open" and not b.allow("bank")
    assert b.allow("other-bank") and b.state("other-bank") == "closed"
    clock.now = 59.9
    assert not b.allow("bank")


def test_breaker_half_open_single_trial_then_closes_or_reopens() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, reset_after=60, clock=clock)
    b.record_failure("bank")
    clock.now = 60
    assert b.state("bank") == "half_open"
    assert b.allow("bank") and not b.allow("bank")  # exactly one trial
    b.record_failure("bank")
    assert b.state("bank") == "open" and not b.allow("bank")
    clock.now = 120
    assert b.allow("bank")
    b.record_success("bank")
    assert b.state("bank") == "closed" and b.allow("bank") and b.allow("bank")


def test_breaker_half_open_trial_is_single_across_threads() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, reset_after=10, clock=clock)
    b.record_failure("bank")
    clock.now = 10
    results: list[bool] = []
    start = threading.Barrier(16)

    def call() -> None:
        start.wait()
        results.append(b.allow("bank"))

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
