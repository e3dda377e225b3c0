"""Token buckets: Redis (the real server on 127.0.0.1:6379), SQLite across processes, local."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from connectors.ratelimit import (
    LocalRateLimiter,
    RateLimitTimeout,
    RedisRateLimiter,
    SqliteRateLimiter,
    rate_limiter_from_url,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
RATE, BURST = 50.0, 5


def max_in_window(stamps: list[float], rate: float, burst: int) -> float:
    """The largest excess of acquisitions over burst + rate*t across all windows [a, b]."""
    stamps = sorted(stamps)
    worst = -float("inf")
    for i, a in enumerate(stamps):
        for j in range(i, len(stamps)):
            worst = max(worst, (j - i + 1) - (burst + rate * (stamps[j] - a)))
    return worst


# A token's timestamp is taken when its sleep ends, which can be a little late; one token
# of slack absorbs that scheduling noise.
SLACK = 1.0


class FakeTime:
    """A clock and a sleep that advances it (deterministic waits)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------- Redis


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required for the rate limiter tests and is not reachable at "
                    f"{REDIS_URL} ({exc}); start redis-server on 127.0.0.1:6379", pytrace=False)
    prefix = f"finlake:test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_redis_burst_then_rate(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    n = 30
    t0 = time.perf_counter()
    waits = [limiter.acquire("bank-a", RATE, BURST) for _ in range(n)]
    elapsed = time.perf_counter() - t0
    expected = (n - BURST) / RATE  # 0.5 s
    assert waits[:BURST] == [0.0] * BURST
    assert expected * 0.95 <= elapsed <= expected + 0.25, elapsed
    ttl = cast(int, limiter.client.pttl(redis_prefix + "bank-a"))
    assert 0 < ttl <= 1000 + 1000 * BURST / RATE + 50  # expires once idle and full again


def test_redis_try_acquire_takes_nothing_when_empty(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    assert [limiter.try_acquire("k", 10.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.try_acquire("k", 10.0, 3)
    assert 0.05 < wait <= 0.1
    again = limiter.try_acquire("k", 10.0, 3)
    assert 0 < again <= wait  # the failed try reserved nothing
    time.sleep(again + 0.01)
    assert limiter.try_acquire("k", 10.0, 3) == 0.0
    assert limiter.try_acquire("other", 10.0, 3) == 0.0  # keys are independent


def test_redis_timeout_raises_and_takes_nothing(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    assert limiter.acquire("k", 2.0, 1, timeout=0.0) == 0.0
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("k", 2.0, 1, timeout=0.1)  # next token is ~0.5 s away
    assert 0.3 < limiter.try_acquire("k", 2.0, 1) <= 0.5


def test_redis_two_clients_in_threads_share_one_bucket(redis_prefix: str) -> None:
    limiters = [RedisRateLimiter(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    per_thread, stamps, lock = 15, [], threading.Lock()

    def work(limiter: RedisRateLimiter) -> None:
        for _ in range(per_thread):
            limiter.acquire("shared", RATE, BURST)
            with lock:
                stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(stamps) - t0
    expected = (2 * per_thread - BURST) / RATE
    assert expected * 0.95 <= elapsed <= expected + 0.25, elapsed
    assert max_in_window(stamps, RATE, BURST) <= SLACK


def test_redis_fake_sleep_gets_the_wait(redis_prefix: str) -> None:
    slept: list[float] = []
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix, sleep=slept.append)
    waits = [limiter.acquire("k", 1.0, 2) for _ in range(4)]
    assert waits[:2] == [0.0, 0.0]
    assert slept == waits[2:]  # nothing slept for free tokens; the queue grows by 1/rate
    assert 0.9 < waits[2] <= 1.0 and 1.9 < waits[3] <= 2.0


# ---------------------------------------------------------------- SQLite


def _sqlite_worker(path: str, k: int, start: float, out: mp.Queue) -> None:
    limiter = SqliteRateLimiter(Path(path))
    while time.time() < start:
        time.sleep(0.001)
    stamps = []
    for _ in range(k):
        limiter.acquire("bank-b", RATE, BURST)
        stamps.append(time.time())
    out.put(stamps)


def test_sqlite_shared_by_four_processes(tmp_path: Path) -> None:
    path, k, procs = str(tmp_path / "buckets.db"), 15, 4
    SqliteRateLimiter(Path(path))  # create the schema once
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()
    start = time.time() + 0.3
    workers = [ctx.Process(target=_sqlite_worker, args=(path, k, start, out))
               for _ in range(procs)]
    for w in workers:
        w.start()
    stamps = [s for _ in workers for s in out.get(timeout=15)]
    for w in workers:
        w.join(timeout=5)
        assert w.exitcode == 0
    assert len(stamps) == procs * k
    assert max(stamps) - start >= (procs * k - BURST) / RATE - 0.005
    assert max(stamps) - start <= (procs * k - BURST) / RATE + 0.5
    assert max_in_window(stamps, RATE, BURST) <= SLACK


def test_sqlite_semantics_with_fake_clock(tmp_path: Path) -> None:
    ft = FakeTime()
    limiter = SqliteRateLimiter(tmp_path / "b.db", clock=ft.clock, sleep=ft.sleep)
    assert [limiter.try_acquire("k", 4.0, 2) for _ in range(2)] == [0.0, 0.0]
    assert limiter.try_acquire("k", 4.0, 2) == pytest.approx(0.25)
    assert limiter.acquire("k", 4.0, 2) == pytest.approx(0.25)
    assert ft.slept == [pytest.approx(0.25)]
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("k", 4.0, 2, timeout=0.2)
    ft.now += 10  # refills up to burst only
    assert [limiter.try_acquire("k", 4.0, 2) for _ in range(3)][:2] == [0.0, 0.0]


# ---------------------------------------------------------------- local


def test_local_burst_rate_and_timeout() -> None:
    ft = FakeTime()
    limiter = LocalRateLimiter(clock=ft.clock, sleep=ft.sleep)
    waits = [limiter.acquire("k", 10.0, 3) for _ in range(6)]
    assert waits == [0.0, 0.0, 0.0] + [pytest.approx(0.1)] * 3
    assert ft.now == pytest.approx(1000.3)
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("k", 10.0, 3, timeout=0.05)
    assert limiter.try_acquire("k", 10.0, 3) == pytest.approx(0.1)
    ft.now += 0.1
    assert limiter.try_acquire("k", 10.0, 3) == 0.0


def test_local_is_thread_safe() -> None:
    limiter = LocalRateLimiter()
    taken: list[float] = []

    def work() -> None:
        for _ in range(200):
            taken.append(limiter.try_acquire("k", 1e-6, 500))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for w in taken if w == 0.0) == 500  # exactly the burst, never more


def test_argument_checks() -> None:
    limiter = LocalRateLimiter()
    for rate, burst in ((0, 1), (-1, 1), (1, 0), (1, 1.5)):
        with pytest.raises(ValueError):
            limiter.acquire("k", rate, burst)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        limiter.acquire("k", 1, 1, timeout=-1)


# ---------------------------------------------------------------- factory


def test_factory(tmp_path: Path, redis_prefix: str) -> None:
    assert isinstance(rate_limiter_from_url("memory://"), LocalRateLimiter)
    lim = rate_limiter_from_url(f"sqlite://{tmp_path}/rl.db")
    assert isinstance(lim, SqliteRateLimiter) and lim.path == tmp_path / "rl.db"
    lim = rate_limiter_from_url(f"sqlite:///{tmp_path}/rl.db")  # four slashes: same file
    assert isinstance(lim, SqliteRateLimiter) and lim.path == tmp_path / "rl.db"
    assert isinstance(rate_limiter_from_url(REDIS_URL), RedisRateLimiter)


@pytest.mark.parametrize("url", ["", "http://x", "postgres://db/x", "sqlite://relative.db",
                                 "sqlite:///", "memory", "/tmp/x.db"])
def test_factory_rejects(url: str) -> None:
    with pytest.raises(ValueError, match="use redis://host:port/db, sqlite:///path or memory://"):
        rate_limiter_from_url(url)
