"""The bank's persisted state (``state.json``): seed, users, institutions, dates, issued
public tokens, the rate-limit switch, the fault plan, sticky item errors and the overlay of
bank-side corrections (see :mod:`overlay`).

Only SHA-256 digests of public tokens are stored; access tokens are derived from the seed and
never written. Every write is atomic (temporary file + ``os.replace``) and under a lock.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from connectors.sandbox_bank.ids import sha256_hex
from connectors.sandbox_bank.institutions import BASE_COUNT


class BankState:
    def __init__(self, path: Path, data: dict) -> None:
        self.path = path
        self._data = data
        self._lock = threading.RLock()
        self.seed: int = int(data["seed"])
        self.users: int = int(data["users"])
        self.history_start = date.fromisoformat(data["history_start"])
        self.institutions: int = int(data.get("institutions", BASE_COUNT))

    @classmethod
    def load_or_create(cls, state_dir: Path, *, seed: int, users: int,
                       history_start: date | None, clock: date | None,
                       institutions: int = BASE_COUNT,
                       enforce_rate_limits: bool = True) -> BankState:
        path = Path(state_dir) / "state.json"
        if path.exists():
            return cls(path, json.loads(path.read_text()))
        clock = clock or date.today()
        history_start = history_start or clock - timedelta(days=90)
        if history_start > clock:
            raise ValueError(f"history_start {history_start} is after clock {clock}")
        if users < 1:
            raise ValueError(f"users must be >= 1, got {users}")
        if institutions < BASE_COUNT:
            raise ValueError(f"institutions must be >= {BASE_COUNT}, got {institutions}")
        path.parent.mkdir(parents=True, exist_ok=True)
        state = cls(path, {"version": 1, "seed": seed, "users": users,
                           "institutions": institutions,
                           "enforce_rate_limits": enforce_rate_limits,
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

    # -- optional sections (absent in older state files) ------------------------------------
    def get(self, key: str, default: object = None) -> object:
        """A deep copy of an optional section (``default`` when absent)."""
        with self._lock:
            return copy.deepcopy(self._data.get(key, default))

    def put(self, key: str, value: object) -> None:
        """Replace (or with None: drop) an optional section and save."""
        if key in ("seed", "users", "institutions", "history_start", "clock", "public_tokens"):
            raise KeyError(f"{key} is not an optional section")
        with self._lock:
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = copy.deepcopy(value)
            self.save()

    @property
    def enforce_rate_limits(self) -> bool:
        return bool(self.get("enforce_rate_limits", True))
