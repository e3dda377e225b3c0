"""``finlake ui`` and ``finlake dashboard`` stop with every process they started when told
to stop (SIGTERM from a service manager, SIGINT from Ctrl-C): nothing keeps serving, and
nothing of theirs is left running (issue 25, item 9)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finlake.commands.apps import GRACE_SECONDS
from tests.support.servers import free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def processes() -> dict[int, tuple[int, int, str, str]]:
    """Every live process: pid -> (parent pid, process group, state, start time), from
    /proc (the start time tells a process from a later one given the same pid)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "(comm) ": state, ppid, pgrp
        out[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0], fields[19])
    return out


def family(root: int) -> set[int]:
    """``root`` and all its descendants, and every process in their process groups."""
    table = processes()
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found or pid not in table:
            continue
        found.add(pid)
        todo += [p for p, row in table.items() if row[0] == pid]
    groups = {table[p][1] for p in found}
    return found | {p for p, row in table.items() if row[1] in groups}


def running(pids: set[int]) -> set[int]:
    """Those of ``pids`` still alive (a zombie waiting to be reaped runs nothing)."""
    table = processes()
    return {p for p in pids if p in table and table[p][2] != "Z"}


def identities(pids: set[int]) -> set[tuple[int, str]]:
    table = processes()
    return {(p, table[p][3]) for p in pids if p in table}


def start(command: str, home: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "FINLAKE_HOME": str(home)}
    for name in ("FINLAKE_S3_BUCKET", "FINLAKE_ENV", "FINLAKE_PARTNER_HOST"):
        env.pop(name, None)
    with log.open("wb") as out:
        # Its own session, as a service manager or a terminal would start it.
        return subprocess.Popen([sys.executable, "-m", "finlake.cli", command, "--port",
                                 str(port)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def served(command: str, proc: subprocess.Popen, port: int, log: Path) -> set[int]:
    """Wait until ``command`` serves on ``port`` with all its processes up; returns them."""
    try:
        wait_for_port(port, proc, f"finlake {command}", timeout=240)
    except RuntimeError:
        raise RuntimeError(log.read_text(errors="replace")[-3000:]) from None
    # dagster dev: itself, the webserver, the daemon and the code server (3 levels deep).
    wanted = 4 if command == "ui" else 2
    deadline = time.monotonic() + 120
    while len(running(family(proc.pid))) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    return running(family(proc.pid))


@pytest.mark.parametrize(("command", "sig"), [("ui", signal.SIGTERM),
                                              ("ui", signal.SIGINT),
                                              ("dashboard", signal.SIGTERM)])
def test_a_signal_stops_the_command_and_every_process_it_started(
        tmp_path: Path, command: str, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    log = tmp_path / f"{command}.log"
    proc = start(command, home, port, log)
    before: set[int] = set()
    started = identities({proc.pid})
    try:
        before |= served(command, proc, port, log)
        started |= identities(before)
        assert len(before) >= (4 if command == "ui" else 2), (before, log.read_text())
        proc.send_signal(sig)
        proc.wait(timeout=GRACE_SECONDS + 60)
        deadline = time.monotonic() + 30  # init reaps the orphans
        while running(before) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = running(before)
        assert not left, {p: Path(f"/proc/{p}/cmdline").read_bytes() for p in left}
        assert proc.returncode == 128 + sig
        with pytest.raises(OSError):  # nothing serves any more
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:  # whatever is left of this test's processes (the same processes, not others
        # that were given a pid of theirs since)
        left = identities(family(proc.pid) if proc.poll() is None else set()) | started
        for pid, _ in left & identities(running({p for p, _ in left})):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
