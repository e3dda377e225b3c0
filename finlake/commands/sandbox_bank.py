"""``finlake sandbox-bank``: serve the sandbox bank standalone, in a child process."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from finlake.commands.args import FAULTS_HELP, tcp_port

if TYPE_CHECKING:
    import argparse

    from core.settings import Settings
    from finlake.commands.args import Subparsers


def sandbox_bank(settings: Settings, args: argparse.Namespace) -> int:
    faults = [] if args.faults is None else [f"--faults={args.faults}"]
    return subprocess.call([sys.executable, "-m", "connectors.sandbox_bank", "--state-dir",
                            str(settings.sandbox_dir), "--port", str(args.port), *faults])


def register(sub: Subparsers) -> None:
    bank = sub.add_parser("sandbox-bank", help="serve the sandbox bank standalone")
    bank.add_argument("--port", type=tcp_port, required=True)
    bank.add_argument("--faults", metavar="SPEC", help=FAULTS_HELP)
    bank.set_defaults(handler=sandbox_bank)
