"""``python -m connectors.sandbox_bank --state-dir DIR --port P [--faults SPEC]``: serve the
sandbox bank."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import date
from pathlib import Path

from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.fault_files import describe_plan, install_plan, load_plan
from connectors.sandbox_bank.server import serve


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return port


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m connectors.sandbox_bank",
        description="Serve the deterministic sandbox bank (Plaid /transactions/sync dialect).")
    p.add_argument("--state-dir", type=Path, required=True,
                   help="directory holding state.json (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="TCP port (default 0: any free port)")
    p.add_argument("--seed", type=int, default=7, help="world seed (new state only; default 7)")
    p.add_argument("--users", type=_positive, default=20,
                   help="number of users (new state only; default 20)")
    p.add_argument("--institutions", type=_positive, default=7,
                   help="number of institutions, at least 7 (new state only; default 7)")
    p.add_argument("--rate-limits", choices=("on", "off"),
                   help="enforce the institutions' rate limits (persisted; new state: on)")
    p.add_argument("--history-start", type=_day, help="first day of history (new state only)")
    p.add_argument("--clock", type=_day, help="initial clock (new state only; default today)")
    p.add_argument("--faults", metavar="SPEC",
                   help="install a fault plan before serving (persisted): a JSON plan file "
                        "(docs/fault_plans/example.json), every-kind[:SEED], or none to clear")
    args = p.parse_args(argv)
    existed = (args.state_dir / "state.json").exists()
    try:
        bank = SandboxBank.open(args.state_dir, seed=args.seed, users=args.users,
                                history_start=args.history_start, clock=args.clock,
                                institutions=args.institutions)
    except ValueError as e:
        p.error(str(e))
    if args.faults is not None:
        try:
            plan, seed = load_plan(args.faults, [i["institution_id"] for i in bank.institutions()])
        except ValueError as e:  # one line, like argparse's, without the usage block
            p.exit(2, f"{p.prog}: error: argument --faults: {e}\n")
    if args.rate_limits:
        bank.enforce_rate_limits = args.rate_limits == "on"
    if existed:
        print(f"loaded existing state from {args.state_dir} "
              "(seed/users/institutions/dates options ignored)", file=sys.stderr)
    if args.faults is not None:
        print(install_plan(bank, plan, seed), file=sys.stderr)
    elif bank.fault_plan:
        print(f"{describe_plan(bank.fault_plan, bank.faults.seed)} (persisted; --faults none "
              "clears it)", file=sys.stderr)
    stop = threading.Event()  # before the URL is out: whoever reads it may stop us at once
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        running = serve(bank, args.host, args.port)
    except OSError as e:
        p.error(f"cannot listen on {args.host}:{args.port}: {e}")
    print(running.url, flush=True)
    print(f"clock {bank.clock}, {len(bank.users())} users, {len(bank.institutions())} "
          f"institutions, {len(bank.items())} items, rate limits "
          f"{'on' if bank.enforce_rate_limits else 'off'}; Ctrl-C to stop", file=sys.stderr)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
