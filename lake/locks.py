"""Named exclusive locks that die with their holder, with a note beside each: ``fcntl``
locks on files (one machine) and PostgreSQL session advisory locks (any number of machines).
The lake's writer lease (lake/lease.py) is built on them."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

WRITER = "writer"
log = logging.getLogger(__name__)


class Locks(Protocol):
    """Named exclusive locks that die with their holder."""

    def try_lock(self, name: str) -> bool: ...
    def unlock(self, name: str) -> None: ...
    def is_held(self, name: str) -> bool: ...  # by anyone, this process included
    def write_note(self, name: str, note: dict[str, Any] | None) -> None: ...
    def read_note(self, name: str) -> dict[str, Any] | None: ...
    def discard(self, name: str) -> None: ...  # a lock no one will take again (a dead run's)


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

    def discard(self, name: str) -> None:
        """Remove the file of a run's lock that no process holds: a run that ends removes
        its own (``unlock``); one killed leaves it for whoever buries the run."""
        if name != WRITER and not self.is_held(name):
            self._path(name).unlink(missing_ok=True)

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

    def discard(self, name: str) -> None:
        """Nothing to remove: an advisory lock is gone with the session that held it."""


def pg_connect(timeout: int = 10) -> Any:
    """A connection to Dagster's PostgreSQL (``DAGSTER_PG_*``): also the writer lease's."""
    import psycopg2

    env = os.environ
    return psycopg2.connect(host=env.get("DAGSTER_PG_HOST"), port=env.get("DAGSTER_PG_PORT"),
                            dbname=env.get("DAGSTER_PG_DB"), user=env.get("DAGSTER_PG_USER"),
                            password=env.get("DAGSTER_PG_PASSWORD"), connect_timeout=timeout)
