"""Per-institution token buckets shared by every sync worker.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second. ``acquire``
*reserves* a token atomically (the bucket may go negative: that is the queue of callers
already waiting) and then sleeps until the reservation is due, so waiters are served in
order and each acquisition costs one round trip. ``try_acquire`` never reserves ahead.

Backends: Redis (production; one Lua script, the Redis server's clock), SQLite (embedded
default; several processes on one machine) and an in-process one (tests, single process).
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    import redis

Sleep = Callable[[float], None]
URL_HELP = "use redis://host:port/db, sqlite:///path or memory://"


class RateLimitTimeout(TimeoutError):
    """Taking a token would have meant waiting longer than the caller's timeout."""

    def __init__(self, key: str, wait: float, timeout: float) -> None:
        super().__init__(f"rate limit {key!r}: next token in {wait:.3f}s > timeout {timeout}s")
        self.key = key
        self.wait = wait
        self.timeout = timeout


class RateLimiter(Protocol):
    def acquire(self, key: str, rate: float, burst: int, timeout: float | None = None) -> float:
        """Block until a token for ``key`` is ours; return the seconds waited."""
        ...

    def try_acquire(self, key: str, rate: float, burst: int) -> float:
        """0.0 if a token was taken now, else the seconds until one is available."""
        ...


def _check(rate: float, burst: int) -> None:
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"rate must be a positive number of tokens per second, got {rate!r}")
    if int(burst) != burst or burst < 1:
        raise ValueError(f"burst must be an integer >= 1, got {burst!r}")


_EPS = 1e-9  # float noise in the refill must not leave a due token 1e-14 s away


def _refill_and_take(tokens: float | None, updated: float | None, now: float, rate: float,
                     burst: int, max_wait: float) -> tuple[bool, float, float, float]:
    """The bucket arithmetic: (taken, wait, tokens after, timestamp after)."""
    if tokens is None or updated is None:
        tokens, updated = float(burst), now
    if now > updated:  # a clock that steps back never adds tokens
        tokens, updated = min(float(burst), tokens + (now - updated) * rate), now
    wait = 0.0 if tokens >= 1.0 - _EPS else (1.0 - tokens) / rate
    if wait <= max_wait:
        return True, wait, tokens - 1.0, updated
    return False, wait, tokens, updated


class _Bucket:
    """``acquire``/``try_acquire`` on top of one atomic backend operation, ``_reserve``."""

    def __init__(self, sleep: Sleep) -> None:
        self._sleep = sleep

    def _reserve(self, key: str, rate: float, burst: int,
                 max_wait: float | None) -> tuple[bool, float]:
        raise NotImplementedError

    def acquire(self, key: str, rate: float, burst: int, timeout: float | None = None) -> float:
        """Block until a token for ``key`` is ours and return the seconds waited.

        Raises ``RateLimitTimeout`` (taking nothing) if that would take longer than ``timeout``.
        """
        _check(rate, burst)
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
        taken, wait = self._reserve(key, float(rate), int(burst), timeout)
        if not taken:
            raise RateLimitTimeout(key, wait, timeout if timeout is not None else math.inf)
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_acquire(self, key: str, rate: float, burst: int) -> float:
        """Take a token now and return 0.0, or take none and return the seconds to wait."""
        _check(rate, burst)
        taken, wait = self._reserve(key, float(rate), int(burst), 0.0)
        return 0.0 if taken else wait


class LocalRateLimiter(_Bucket):
    """In-process and thread-safe (unit tests, single-process runs)."""

    def __init__(self, *, sleep: Sleep = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(sleep)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def _reserve(self, key: str, rate: float, burst: int,
                 max_wait: float | None) -> tuple[bool, float]:
        with self._lock:
            tokens, updated = self._buckets.get(key, (None, None))
            taken, wait, tokens, updated = _refill_and_take(
                tokens, updated, self._clock(), rate, burst,
                math.inf if max_wait is None else max_wait)
            self._buckets[key] = (tokens, updated)
            return taken, wait


_SCHEMA = """CREATE TABLE IF NOT EXISTS buckets (
    key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL)"""


class SqliteRateLimiter(_Bucket):
    """Buckets in one SQLite file: correct across processes on one machine (not over NFS)."""

    def __init__(self, path: Path | str, *, sleep: Sleep = time.sleep,
                 clock: Callable[[], float] = time.time, busy_timeout: float = 30.0,
                 idle_after: float = 86400.0) -> None:
        super().__init__(sleep)
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._idle_after = idle_after
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # One short-lived connection per call: safe with threads and with fork().
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _reserve(self, key: str, rate: float, burst: int,
                 max_wait: float | None) -> tuple[bool, float]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading the bucket
            try:
                row = conn.execute("SELECT tokens, updated_at FROM buckets WHERE key = ?",
                                   (key,)).fetchone()
                now = self._clock()
                taken, wait, tokens, updated = _refill_and_take(
                    row[0] if row else None, row[1] if row else None, now, rate, burst,
                    math.inf if max_wait is None else max_wait)
                if row is None:  # a new key: a cheap moment to forget long-idle ones
                    conn.execute("DELETE FROM buckets WHERE updated_at < ?",
                                 (now - self._idle_after,))
                conn.execute(
                    "INSERT INTO buckets (key, tokens, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET tokens = excluded.tokens, "
                    "updated_at = excluded.updated_at", (key, tokens, updated))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return taken, wait
        finally:
            conn.close()


# KEYS[1] bucket; ARGV: rate, burst, max_wait (-1 = unbounded). Returns {taken, wait}.
# Tokens and the refill time (integer microseconds of the server's TIME) live in a hash
# that expires once the bucket would be full again (an absent bucket reads as full).
_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'us')
local tokens = tonumber(h[1])
local updated = tonumber(h[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
if now > updated then
  tokens = math.min(burst, tokens + (now - updated) / 1000000 * rate)
  updated = now
end
local wait = 0
if tokens < 1 - 1e-9 then wait = (1 - tokens) / rate end
if max_wait >= 0 and wait > max_wait then
  return {0, string.format('%.17g', wait)}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'us', string.format('%.0f', updated))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {1, string.format('%.17g', wait)}
"""


class RedisRateLimiter(_Bucket):
    """Buckets in Redis, updated by one Lua script on the server's clock (any number of hosts)."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "finlake:bucket:",
                 *, sleep: Sleep = time.sleep, client: redis.Redis | None = None) -> None:
        import redis

        super().__init__(sleep)
        self.prefix = prefix
        self.client = client if client is not None else redis.Redis.from_url(url)
        # register_script sends EVALSHA and loads the script once if the server lacks it.
        self._script = self.client.register_script(_LUA)

    def _reserve(self, key: str, rate: float, burst: int,
                 max_wait: float | None) -> tuple[bool, float]:
        unbounded = max_wait is None or math.isinf(max_wait)
        args: list[str | int] = [repr(rate), burst, -1 if unbounded else repr(max_wait)]
        taken, wait = self._script(keys=[self.prefix + key], args=args)
        return int(taken) == 1, float(wait)


def _reachable(limiter: RedisRateLimiter, parts: SplitResult) -> RedisRateLimiter:
    """Fail before the first partner call when Redis is down: otherwise every item's sync
    fails on the limiter and is recorded as the institution's failure."""
    import redis

    from core.errors import ServiceUnavailable

    try:
        limiter.client.ping()
    except redis.RedisError as exc:
        where = f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"
        raise ServiceUnavailable(
            f"cannot reach Redis for the shared rate limits at {where}: {exc}; check "
            "FINLAKE_RATE_LIMITER and that Redis is running") from None
    return limiter


def rate_limiter_from_url(url: str, *, sleep: Sleep = time.sleep) -> RateLimiter:
    """``redis://`` (or ``rediss://``) → Redis, ``sqlite:///abs/path.db`` → SQLite,
    ``memory://`` → in-process."""
    parts = urlsplit(url or "")
    scheme = parts.scheme.lower()
    if scheme in ("redis", "rediss"):
        return _reachable(RedisRateLimiter(url, sleep=sleep), parts)
    if scheme == "sqlite":
        path = url[len("sqlite://"):].split("?", 1)[0]
        if parts.netloc or not path.startswith("/") or path == "/":
            raise ValueError(f"bad sqlite rate limiter URL {url!r}: {URL_HELP} "
                             "(sqlite:/// followed by an absolute path)")
        # sqlite:////abs (SQLAlchemy's absolute form) names the same file as sqlite:///abs
        return SqliteRateLimiter(Path("/" + path.lstrip("/")), sleep=sleep)
    if scheme == "memory":
        return LocalRateLimiter(sleep=sleep)
    raise ValueError(f"unsupported rate limiter URL {url!r}: {URL_HELP}")
