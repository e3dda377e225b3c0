"""One writer at a time: the lake-wide writer lease, and each run's sign of life.

Every job that writes the lake (nightly, replay, on-demand sync, forget, maintenance, weekly
categories, release, gold rebuild, key retirement) holds the writer lease for its whole run.
Both kinds of lock below are released by the operating system or the database when their
holder dies, so a killed run never blocks anything, and is recognised as dead:

- ``writer``: one per lake; who holds it is recorded beside it, so a waiter can say what it
  waits for ("waiting for a nightly run 1a2b3c4d started at ...");
- ``run-<id>``: held by a run's process from its start (while it waits for the writer lock
  too) to its end. A run Dagster still calls STARTED whose life lock is free is dead.

Locally the locks are ``fcntl`` locks on files under ``<home>/locks`` (one machine). In
production they are PostgreSQL session advisory locks (any number of machines share them);
the holder's description is kept in a one-row table.

A thread that holds the writer lease may enter it again (a CLI command that holds it and
runs a Dagster job in-process): the inner hold is a no-op. Other threads wait.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

WRITER = "writer"
log = logging.getLogger(__name__)
SAY_EVERY = 60.0  # seconds between "still waiting" lines


class LakeBusy(Exception):
    """Another writer holds the lease and the wait ran out (or was not allowed)."""


@dataclass(frozen=True)
class Holder:
    job: str
    run_id: str
    pid: int
    host: str
    started_at: str  # ISO time, UTC

    def describe(self) -> str:
        when = self.started_at[:19].replace("T", " ")
        return (f"a {self.job} run ({self.run_id[:12]}, pid {self.pid} on {self.host}) "
                f"started at {when} UTC")


UNKNOWN = Holder("unknown", "?", 0, "?", "?")


class Locks(Protocol):
    """Named exclusive locks that die with their holder."""

    def try_lock(self, name: str) -> bool: ...
    def unlock(self, name: str) -> None: ...
    def is_held(self, name: str) -> bool: ...  # by anyone, this process included
    def write_note(self, name: str, note: dict[str, Any] | None) -> None: ...
    def read_note(self, name: str) -> dict[str, Any] | None: ...


class FileLocks:
    """``fcntl.flock`` on ``<dir>/<name>.lock``; the note is ``<dir>/<name>.json``."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self._fds: dict[str, int] = {}

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.lock"

    def try_lock(self, name: str) -> bool:
        if name in self._fds:
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fds[name] = fd
        return True

    def unlock(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            if name != WRITER:  # a run's file is its own: gone with it
                self._path(name).unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def is_held(self, name: str) -> bool:
        if name in self._fds:
            return True
        try:
            fd = os.open(self._path(name), os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock this probe took
        return False

    def write_note(self, name: str, note: dict[str, Any] | None) -> None:
        """The note is for people (who holds the lease, that a run did start): a disk that
        refuses it (full, read-only) must not stop the run; the lock is what excludes."""
        path = self.dir / f"{name}.json"
        try:
            if note is None:
                path.unlink(missing_ok=True)
                return
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            try:
                tmp.write_text(json.dumps(note))
                tmp.replace(path)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            log.info("could not write the lock note %s: %s", path, exc)

    def read_note(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.dir / f"{name}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None


class PostgresLocks:
    """PostgreSQL session advisory locks (``pg_try_advisory_lock(space, crc32(scope name))``)
    on one connection that lives as long as this object; notes in ``finlake_lock_notes``.
    ``scope`` (the lake's root) keeps two lakes sharing a database apart."""

    SPACE = 0x46494E4C  # "FINL": keeps finlake's locks apart from anyone else's

    def __init__(self, connect: Callable[[], Any], scope: str = "") -> None:
        self._connect = connect
        self.scope = scope
        self._conn: Any = None
        self._held: set[str] = set()
        self._guard = threading.Lock()

    def _cursor(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS finlake_lock_notes "
                            "(name text PRIMARY KEY, note text NOT NULL)")
        return self._conn.cursor()

    def _key(self, name: str) -> tuple[int, int]:
        return self.SPACE, zlib.crc32(f"{self.scope} {name}".encode()) - 2**31

    def try_lock(self, name: str) -> bool:
        with self._guard:
            if name in self._held:
                return False
            with self._cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s, %s)", self._key(name))
                got = bool(cur.fetchone()[0])
            if got:
                self._held.add(name)
            return got

    def unlock(self, name: str) -> None:
        with self._guard:
            if name in self._held:
                self._held.discard(name)
                with self._cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s, %s)", self._key(name))

    def is_held(self, name: str) -> bool:
        with self._guard:
            if name in self._held:
                return True
            space, key = self._key(name)
            with self._cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND classid = %s::oid AND objid = %s::oid AND objsubid = 2 "
                            "AND granted", (space, key % 2**32))
                return cur.fetchone()[0] > 0

    def write_note(self, name: str, note: dict[str, Any] | None) -> None:
        with self._guard, self._cursor() as cur:
            if note is None:
                cur.execute("DELETE FROM finlake_lock_notes WHERE name = %s",
                            (f"{self.scope} {name}",))
            else:
                cur.execute("INSERT INTO finlake_lock_notes VALUES (%s, %s) ON CONFLICT (name) "
                            "DO UPDATE SET note = EXCLUDED.note",
                            (f"{self.scope} {name}", json.dumps(note)))

    def read_note(self, name: str) -> dict[str, Any] | None:
        with self._guard, self._cursor() as cur:
            cur.execute("SELECT note FROM finlake_lock_notes WHERE name = %s",
                        (f"{self.scope} {name}",))
            row = cur.fetchone()
        return json.loads(row[0]) if row else None


# What each thread of this process holds: (lake key, thread) -> [holder, depth]. A thread
# may enter its own hold again; another thread of the process waits like another process.
_HELD: dict[tuple[str, int], list[Any]] = {}
_HELD_GUARD = threading.Lock()


class WriterLease:
    """The writer lease over ``locks``; ``key`` names the lake (re-entry is per lake)."""

    def __init__(self, locks: Locks, key: str, *, wait: float,
                 say: Callable[[str], None] = print, poll: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.locks, self.key, self.wait = locks, key, wait
        self.say, self.poll, self.clock = say, poll, clock

    def holder(self) -> Holder | None:
        """Who writes the lake now (None: no one)."""
        if not self.locks.is_held(WRITER):
            return None
        note = self.locks.read_note(WRITER)
        try:
            return Holder(**note) if note else UNKNOWN
        except TypeError:
            return UNKNOWN

    def _mine(self) -> tuple[str, int]:
        return self.key, threading.get_ident()

    def held_here(self) -> bool:
        return self._mine() in _HELD

    @contextmanager
    def hold(self, job: str, run_id: str) -> Iterator[Holder]:
        """Hold the lease for ``job``'s run ``run_id``; waits up to ``wait`` seconds for the
        current holder, saying what it waits for, then raises :class:`LakeBusy`."""
        with _HELD_GUARD:
            mine = _HELD.get(self._mine())
            if mine is not None:
                mine[1] += 1
        if mine is not None:
            try:
                yield mine[0]
            finally:
                with _HELD_GUARD:
                    mine[1] -= 1
            return
        me = Holder(job, run_id, os.getpid(), socket.gethostname(),
                    datetime.now(UTC).isoformat(timespec="seconds"))
        self._acquire(me)
        with _HELD_GUARD:
            _HELD[self._mine()] = [me, 1]
        try:
            self.locks.write_note(WRITER, asdict(me))
            yield me
        finally:
            with _HELD_GUARD:
                _HELD.pop(self._mine(), None)
            try:
                self.locks.write_note(WRITER, None)
            finally:
                self.locks.unlock(WRITER)

    def _acquire(self, me: Holder) -> None:
        start = self.clock()
        said_at: float | None = None
        while not self.locks.try_lock(WRITER):
            other = self.holder() or UNKNOWN
            waited = self.clock() - start
            if waited >= self.wait:
                raise LakeBusy(
                    f"{other.describe()} is writing the lake"
                    + (f" (waited {waited:.0f}s)" if self.wait > 0 else "")
                    + f": the {me.job} run can start once it has finished; `finlake runs` "
                    "lists what runs")
            if said_at is None or self.clock() - said_at >= SAY_EVERY:
                self.say(f"waiting for {other.describe()} to finish writing the lake "
                         f"(up to {self.wait:.0f}s)")
                said_at = self.clock()
            time.sleep(min(self.poll, max(0.0, self.wait - waited)))

    @contextmanager
    def alive(self, run_id: str) -> Iterator[None]:
        """Mark run ``run_id`` alive for as long as the block runs in this process. A note
        beside the lock says the run did start: a free lock with a note is a dead run."""
        name = f"run-{run_id}"
        if not self.locks.try_lock(name):
            yield  # already marked by this process (an in-process re-entry)
            return
        try:
            self.locks.write_note(name, {"pid": os.getpid(), "host": socket.gethostname()})
            yield
        finally:
            try:
                self.locks.write_note(name, None)
            finally:
                self.locks.unlock(name)

    def is_alive(self, run_id: str) -> bool:
        return self.locks.is_held(f"run-{run_id}")

    def life(self, run_id: str) -> str:
        """``alive``; ``dead`` (it started and its process is gone, without ending);
        ``unknown`` (it never marked itself: not started yet, or from before this lease)."""
        name = f"run-{run_id}"
        if self.locks.is_held(name):
            return "alive"
        return "dead" if self.locks.read_note(name) is not None else "unknown"

    def bury(self, run_id: str) -> None:
        """Remove a dead run's note (once it is marked failed)."""
        if not self.locks.is_held(f"run-{run_id}"):
            self.locks.write_note(f"run-{run_id}", None)
