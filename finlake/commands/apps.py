"""``finlake dashboard`` and ``finlake ui``: the Streamlit dashboard and the Dagster UI, each
served on 127.0.0.1 by a child process.

The child runs in its own process group (``dagster dev`` starts a webserver, a daemon and
code servers; Streamlit its server). SIGTERM, SIGINT or SIGHUP to ``finlake`` is passed to the
whole group; whatever is still running after :data:`GRACE_SECONDS` is killed, so stopping
the command never leaves a server behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from finlake.commands.args import tcp_port

if TYPE_CHECKING:
    import argparse
    from types import FrameType

    from core.settings import Settings
    from finlake.commands.args import Subparsers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))  # the checkout
GRACE_SECONDS = 15.0  # for the children to stop after the signal, before they are killed
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of the group is gone
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process we may not signal: still there
        return True
    return True


def _stop(child: subprocess.Popen, sig: int, grace: float) -> None:
    """Pass ``sig`` to the child's group; after ``grace`` seconds kill what is left."""
    _signal_group(child.pid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if child.poll() is not None and not _group_alive(child.pid):
            return
        time.sleep(0.1)
    _signal_group(child.pid, signal.SIGKILL)
    child.wait()


def serve(argv: list[str], grace: float = GRACE_SECONDS) -> int:
    """Run ``argv`` in a new process group until it exits or this process is told to stop;
    then stop the whole group. Returns the child's exit status (128 + signal when stopped)."""
    received: list[int] = []

    def on_signal(sig: int, frame: FrameType | None) -> None:
        received.append(sig)

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        child = subprocess.Popen(argv, start_new_session=True)
        try:
            while child.poll() is None and not received:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=0.5)
        finally:
            # Stopped by a signal, or the child ended (its own children may live on), or this
            # process is failing: in every case nothing of the group outlives the command.
            _stop(child, received[0] if received else signal.SIGTERM, grace)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 + received[0] if received else child.returncode


def dashboard(settings: Settings, args: argparse.Namespace) -> int:
    app = os.path.join(ROOT, "dashboard", "app.py")
    return serve([sys.executable, "-m", "streamlit", "run", app,
                  "--server.address", "127.0.0.1", "--server.port", str(args.port),
                  "--server.headless", "true", "--client.toolbarMode", "minimal",
                  "--browser.gatherUsageStats", "false"])


def ui(settings: Settings, args: argparse.Namespace) -> int:
    from finlake.location import write_workspace
    from finlake.runner import prepare_instance

    prepare_instance(settings)
    workspace = write_workspace(settings.dagster_home)
    return serve([sys.executable, "-m", "dagster", "dev", "-w", str(workspace),
                  "-h", "127.0.0.1", "-p", str(args.port)])


def register(sub: Subparsers) -> None:
    dash = sub.add_parser("dashboard", help="open the Streamlit dashboard on 127.0.0.1")
    dash.add_argument("--port", type=tcp_port, default=8501)
    dash.set_defaults(handler=dashboard)

    ui_p = sub.add_parser("ui", help="open the Dagster UI (dagster dev) on 127.0.0.1")
    ui_p.add_argument("--port", type=tcp_port, default=3000)
    ui_p.set_defaults(handler=ui)
