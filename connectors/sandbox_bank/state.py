"""The bank's persisted state (``state.json``): seed, users, dates, issued public tokens.

Only SHA-256 digests of public tokens are stored; access tokens are derived from the seed and
never written. Every write is atomic (temporary file + ``os.replace``) and under a lock.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from connectors.sandbox_bank.ids import sha256_hex


class BankState:
    def __init__(self, path: Path, data: dict) -> None:
        self.path = path
        self._data = data
        self._lock = threading.RLock()
        self.seed: int = int(data["seed"])
        self.users: int = int(data["users"])
        self.history_start = date.fromisoformat(data["history_start"])

    @classmethod
    def load_or_create(cls, state_dir: Path, *, seed: int, users: int,
                       history_start: date | None, clock: date | None) -> BankState:
        path = Path(state_dir) / "state.json"
        if path.exists():
            return cls(path, json.loads(path.read_text()))
        clock = clock or date.today()
        history_start = history_start or clock - timedelta(days=90)
        if history_start > clock:
            raise ValueError(f"history_start {history_start} is after clock {clock}")
        if users < 1:
            raise ValueError(f"users must be >= 1, got {users}")
        path.parent.mkdir(parents=True, exist_ok=True)
        state = cls(path, {"version": 1, "seed": seed, "users": users,
                           "history_start": history_start.isoformat(),
                           "clock": clock.isoformat(), "public_tokens": []})
        state.save()
        return state

    def save(self) -> None:
        with self._lock:
            tmp = self.path.with_name(f".state.{os.getpid()}.{threading.get_ident()}.tmp")
            with open(tmp, "w") as f:
                json.dump(self._data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

    @property
    def clock(self) -> date:
        return date.fromisoformat(self._data["clock"])

    def advance_to(self, day: date) -> None:
        with self._lock:
            if day < self.clock:
                raise ValueError(f"the sandbox clock only moves forward: it is {self.clock}, "
                                 f"cannot go back to {day}")
            self._data["clock"] = day.isoformat()
            self.save()

    def issue_public_token(self, item_id: str, make: Callable[[int], str]) -> str:
        """Issue the ``make(n)``-th public token (n = tokens issued so far) for ``item_id``."""
        with self._lock:
            issued = self._data["public_tokens"]
            token = make(len(issued))
            issued.append({"sha256": sha256_hex(token), "item_id": item_id, "exchanged": False})
            self.save()
            return token

    def exchange_public_token(self, token: str) -> str | None:
        """The item of an issued, not yet exchanged public token (now used up), else None."""
        digest = sha256_hex(token)
        with self._lock:
            entry = next((t for t in self._data["public_tokens"] if t["sha256"] == digest), None)
            if entry is None or entry["exchanged"]:
                return None
            entry["exchanged"] = True
            self.save()
            return str(entry["item_id"])
