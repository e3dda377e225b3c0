"""The ``finlake`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from core.file_modes import keep_files_private
from finlake.commands import (
    annotate,
    apps,
    category,
    duplicate,
    engine,
    file_import,
    forget,
    gold,
    keys,
    link,
    login,
    maintain,
    manual,
    pipeline,
    quarantine,
    rule,
    runs,
    sandbox,
    sandbox_bank,
    split,
    sql,
)
from finlake.commands.args import Parser

# The command groups, in the order `finlake --help` lists their commands.
GROUPS = (pipeline, category, rule, annotate, gold, quarantine, file_import, keys, forget, login,
          maintain, runs, sandbox, link, sql, apps, engine, sandbox_bank, duplicate,
          manual, split)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="finlake", description="Personal-finance lakehouse.")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback when a command fails (before COMMAND)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)  # each parser's set_defaults(handler=...) names what runs it
    return p


def main(argv: list[str] | None = None) -> int:
    keep_files_private()  # before anything is written; the processes it starts inherit it
    args = build_parser().parse_args(argv)
    from core import redaction  # after parsing: `finlake --help` needs neither
    from core.settings import ConfigError, load_settings

    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"finlake: configuration error: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    redaction.install()  # no token or account number reaches a log
    from finlake.preflight import home_problem

    command = " ".join([args.command] + [v for k, v in vars(args).items()
                                         if k.endswith("_command") and v])
    refusal = home_problem(settings, command)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    try:
        return args.handler(settings, args)
    except Exception as exc:
        from finlake.failures import explain

        line = None if args.debug else explain(exc, settings)
        if line is None:
            raise
        print(f"finlake: {line} (finlake --debug shows the traceback)", file=sys.stderr)
        return 1


def entry() -> None:
    """Console entry point. Exits without running the interpreter's teardown: delta-rs's
    native threads can still be winding down after a read and abort it ("terminate called
    without an active exception", delta-io/delta-rs#2184), turning a finished command's exit
    code into 134. Output is flushed and logging shut down first."""
    try:
        code = main()
    except SystemExit as exc:  # argparse errors, --help
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
