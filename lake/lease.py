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
the holder's description is kept in a one-row table (lake/locks.py).

A thread that holds the writer lease may enter it again (a CLI command that holds it and
runs a Dagster job in-process): the inner hold is a no-op. Other threads wait.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from lake.locks import WRITER, FileLocks, Locks, PostgresLocks

__all__ = ["FileLocks", "Holder", "LakeBusy", "Locks", "PostgresLocks", "WriterLease"]
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
        """Remove a dead run's note and lock file (once it is marked failed)."""
        if not self.locks.is_held(f"run-{run_id}"):
            self.locks.write_note(f"run-{run_id}", None)
            self.locks.discard(f"run-{run_id}")
