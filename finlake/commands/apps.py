"""``finlake dashboard`` and ``finlake ui``: the Streamlit dashboard and the Dagster UI, each
served on 127.0.0.1 by a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from finlake.commands.args import tcp_port

if TYPE_CHECKING:
    import argparse

    from core.settings import Settings
    from finlake.commands.args import Subparsers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))  # the checkout


def dashboard(settings: Settings, args: argparse.Namespace) -> int:
    app = os.path.join(ROOT, "dashboard", "app.py")
    return subprocess.call([sys.executable, "-m", "streamlit", "run", app,
                            "--server.address", "127.0.0.1", "--server.port", str(args.port),
                            "--server.headless", "true", "--client.toolbarMode", "minimal",
                            "--browser.gatherUsageStats", "false"])


def ui(settings: Settings, args: argparse.Namespace) -> int:
    from finlake.runner import prepare_instance

    prepare_instance(settings)
    return subprocess.call([sys.executable, "-m", "dagster", "dev", "-m",
                            "finlake.definitions", "-h", "127.0.0.1", "-p", str(args.port)])


def register(sub: Subparsers) -> None:
    dash = sub.add_parser("dashboard", help="open the Streamlit dashboard on 127.0.0.1")
    dash.add_argument("--port", type=tcp_port, default=8501)
    dash.set_defaults(handler=dashboard)

    ui_p = sub.add_parser("ui", help="open the Dagster UI (dagster dev) on 127.0.0.1")
    ui_p.add_argument("--port", type=tcp_port, default=3000)
    ui_p.set_defaults(handler=ui)
