"""The embedded sandbox bank: one in-process server per state directory."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.server import RunningBank, serve

_lock = threading.Lock()
_running: dict[str, RunningBank] = {}


def embedded_bank(state_dir: str | Path, *, seed: int = 7, users: int = 20,
                  history_start: date | None = None, clock: date | None = None) -> RunningBank:
    """Start (or reuse) the in-process bank for ``state_dir`` and return it.

    The bank's state (seed, users, clock, issued tokens) lives in ``state_dir``, so a later
    command continues with the same bank; the keyword arguments apply only when it is new.
    """
    key = str(Path(state_dir).resolve())
    with _lock:
        if key not in _running:
            bank = SandboxBank.open(Path(key), seed=seed, users=users,
                                    history_start=history_start, clock=clock)
            _running[key] = serve(bank)
        return _running[key]


def stop_all() -> None:
    with _lock:
        for running in _running.values():
            running.stop()
        _running.clear()
