"""The ``finlake`` command."""

from __future__ import annotations

import argparse
import logging
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import NoReturn

from core import redaction
from core.file_modes import keep_files_private
from core.settings import ConfigError, Settings, load_settings

MAX_USERS = 100_000  # sandbox people a world is built for
MAX_DAYS = 3_650  # days of sandbox data or demo partitions
FAULTS_HELP = ("rehearse partner failures: install a sandbox-bank fault plan (a JSON file, e.g. "
               "docs/fault_plans/example.json; every-kind[:SEED]; or none to clear one)")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _count(most: int) -> Callable[[str], int]:
    """A whole number from 1 to ``most``."""
    def parse(text: str) -> int:
        value = _positive(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"{text} is too many: at most {most:,}")
        return value
    return parse


def _fraction(text: str) -> float:
    """A number from 0 to 1 (no nan, no infinity)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1, e.g. 0.6")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line (argparse's usage block would bury it), exit status 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="finlake", description="Personal-finance lakehouse.")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback when a command fails (before COMMAND)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="sandbox bank -> lake -> gold for the last D days")
    demo.add_argument("--users", type=_count(MAX_USERS), default=20,
                      help="sandbox users (new bank only)")
    demo.add_argument("--days", type=_count(MAX_DAYS), default=7,
                      help="daily partitions ending yesterday")
    demo.add_argument("--faults", metavar="SPEC", help=FAULTS_HELP)

    nightly = sub.add_parser("nightly", help="run (or re-run) one daily partition")
    nightly.add_argument("--date", type=_date, required=True, help="partition, YYYY-MM-DD")
    nightly.add_argument("--replay", action="store_true",
                         help="re-merge landed raw pages only (no partner calls)")

    sub.add_parser("weekly", help="promote crowd rules and retrain the category model now")

    sync = sub.add_parser("sync", help="refresh one account now, all the way to gold")
    sync.add_argument("--account", required=True, help="account_id (see the accounts table)")

    ov = sub.add_parser("override", help="set a category: for a merchant, or one transaction")
    ov.add_argument("--user", required=True)
    target = ov.add_mutually_exclusive_group(required=True)
    target.add_argument("--merchant", help='always categorise this merchant, e.g. "Blue Bottle"')
    target.add_argument("--txn", help="txn_id of one transaction (manual, never auto-changed)")
    ov.add_argument("--category", required=True, help="PFC v2 detailed code or a custom one")

    cat = sub.add_parser("category", help="custom categories")
    cat_sub = cat.add_subparsers(dest="category_command", required=True)
    add = cat_sub.add_parser("add", help="add a custom category for a user")
    add.add_argument("--user", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--primary", required=True, help="taxonomy primary, e.g. FOOD_AND_DRINK")

    ev = sub.add_parser("categorise-eval", help="evaluate categorisation on a labelled CSV")
    ev.add_argument("file", type=Path, help="CSV with header description,amount,category")
    ev.add_argument("--threshold", type=_fraction, default=None,
                    help="model confidence threshold, 0 to 1 (default FINLAKE_CATEGORY_THRESHOLD)")

    lab = sub.add_parser("sandbox-labelled", help="export a labelled CSV from the sandbox world")
    lab.add_argument("--out", type=Path, required=True)
    lab.add_argument("--seed", type=int, default=99, help="world seed (the demo uses 7)")
    lab.add_argument("--users", type=_count(MAX_USERS), default=100)
    lab.add_argument("--days", type=_count(MAX_DAYS), default=60)

    bud = sub.add_parser("budget", help="set, clear or show a user's monthly budgets")
    bud_sub = bud.add_subparsers(dest="budget_command", required=True)
    bset = bud_sub.add_parser("set", help="set a monthly budget (overrides the recommendation)")
    bset.add_argument("--user", required=True)
    bset.add_argument("--category", required=True,
                      help='primary category code or name, e.g. FOOD_AND_DRINK or "Food & drink"')
    bset.add_argument("--amount", required=True, help="per month, e.g. 400")
    bclear = bud_sub.add_parser("clear", help="drop a budget (back to the recommendation)")
    bclear.add_argument("--user", required=True)
    bclear.add_argument("--category", required=True)
    bshow = bud_sub.add_parser("show", help="budgets and progress for the newest month")
    bshow.add_argument("--user", required=True)

    gold = sub.add_parser("gold", help="gold maintenance: full rebuild, alert delivery")
    gold_sub = gold.add_subparsers(dest="gold_command", required=True)
    rebuild = gold_sub.add_parser("rebuild", help="recompute every gold spend cell from silver")
    rebuild.add_argument("--as-of", type=_date, default=None,
                         help="budget day, YYYY-MM-DD (default: newest sync day)")
    gold_sub.add_parser("deliver-alerts", help="send unsent alerts to FINLAKE_ALERT_SINK")

    q = sub.add_parser("quarantine", help="records the raw contract held back; release fixes")
    q_sub = q.add_subparsers(dest="quarantine_command", required=True)
    qlist = q_sub.add_parser("list", help="quarantined records, one per line")
    qlist.add_argument("--date", type=_date, help="only this sync day, YYYY-MM-DD")
    qlist.add_argument("--status", choices=("quarantined", "released", "all"),
                       default="quarantined")
    qlist.add_argument("--limit", type=_positive, default=50)
    qshow = q_sub.add_parser("show", help="one record in full, with its reason and raw object")
    qshow.add_argument("record_id")
    qrel = q_sub.add_parser("release", help="release a fixed record (it must pass the contract)")
    qrel.add_argument("record_id")
    qrel.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                      help="fix one field of the quarantined record (repeatable)")
    qrel.add_argument("--record", dest="record_file", metavar="FILE",
                      help="a JSON file holding the whole fixed record")
    keys = sub.add_parser("keys", help="key-encryption keys of the partner credentials")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    krot = keys_sub.add_parser("rotate", help="re-wrap every credential's data key under a "
                               "new key-encryption key (tokens stay as they are)")
    krot.add_argument("--retire", action="store_true",
                      help="re-encrypt every token under a fresh data key instead, vacuum "
                      "the credentials table's old versions at once, then destroy local key "
                      "files no credential uses: a retired key opens nothing left on disk")
    krot.add_argument("--new-key", action="store_true",
                      help="KMS: create a new key and move the configured alias to it first")
    keys_sub.add_parser("status", help="the current key and how many credentials use each key")
    fg = sub.add_parser("forget-user", help="delete every trace of a person (right to be "
                        "forgotten) and write a deletion certificate")
    fg.add_argument("user_id")
    fg.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    lg = sub.add_parser("login", help="dashboard logins: add, list, disable")
    lg_sub = lg.add_subparsers(dest="login_command", required=True)
    ladd = lg_sub.add_parser("add", help="create a login (the password is asked twice)")
    ladd.add_argument("login", help="the name to sign in with (an e-mail address for OIDC)")
    who = ladd.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", dest="user_id", metavar="USER_ID",
                     help="the person whose data this login sees")
    who.add_argument("--analyst", action="store_true",
                     help="aggregate, de-identified views only")
    ladd.add_argument("--password-stdin", action="store_true",
                      help="read the password from one line of standard input")
    ladd.add_argument("--no-password", action="store_true",
                      help="sign in through the OIDC provider only (login = e-mail)")
    ladd.add_argument("--replace", action="store_true",
                      help="replace an existing login (e.g. to reset its password)")
    lg_sub.add_parser("list", help="every login, its role and user")
    ldis = lg_sub.add_parser("disable", help="refuse every future sign-in of a login")
    ldis.add_argument("login")
    mt = sub.add_parser("maintain", help="compact small files, vacuum old ones and checkpoint "
                        "every Delta table (the maintenance job, now)")
    mt.add_argument("--table", dest="tables", action="append", metavar="T",
                    help="only this table (repeatable); default: every table")
    mt.add_argument("--dry-run", action="store_true",
                    help="print what would be compacted and vacuumed; write nothing")
    mt.add_argument("--min-files", type=_positive, default=None, metavar="N",
                    help="compact only partitions with at least N small files (default 2)")
    runs = sub.add_parser("runs", help="runs under way, who writes the lake, stuck runs")
    runs.add_argument("--clear", action="store_true",
                      help="mark runs whose process is gone as failed, with the reason")
    sub.add_parser("reconcile", help="compare silver with the partner's truth (JSON)")
    sub.add_parser("link-sandbox", help="link every sandbox-bank item")

    sql = sub.add_parser("sql", help="query lake tables with DuckDB")
    sql.add_argument("query", nargs="?",
                     help='e.g. "SELECT count(*) FROM transactions"; none: interactive')
    sql.add_argument("--export", metavar="FILE.duckdb",
                     help="write a DuckDB file with a table per analyst table (for notebooks)")
    sql.add_argument("--replace", action="store_true",
                     help="with --export: overwrite FILE if it exists")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--identified", action="store_true",
                     help="operators only: real ids and descriptions instead of the analysts' "
                          "de-identified tables (recorded in the audit log)")

    dash = sub.add_parser("dashboard", help="open the Streamlit dashboard on 127.0.0.1")
    dash.add_argument("--port", type=_port, default=8501)

    ui = sub.add_parser("ui", help="open the Dagster UI (dagster dev) on 127.0.0.1")
    ui.add_argument("--port", type=_port, default=3000)

    sd = sub.add_parser("spark-delta", help="the Apache Spark + Delta engine "
                        "(FINLAKE_ENGINE=spark-delta): fetch its jars, or serve it")
    sd_sub = sd.add_subparsers(dest="spark_delta_command", required=True, metavar="ACTION")
    sd_sub.add_parser("fetch", help="fetch the Delta, hadoop-aws and AWS SDK jars once (Maven)")
    sds = sd_sub.add_parser("serve", help="run a Spark + Delta Connect server in the foreground")
    sds.add_argument("--port", type=_port, default=15002)
    sds.add_argument("--host", default="127.0.0.1", help="address to listen on")

    bank = sub.add_parser("sandbox-bank", help="serve the sandbox bank standalone")
    bank.add_argument("--port", type=_port, required=True)
    bank.add_argument("--faults", metavar="SPEC", help=FAULTS_HELP)
    return p


def main(argv: list[str] | None = None) -> int:
    keep_files_private()  # before anything is written; the processes it starts inherit it
    args = build_parser().parse_args(argv)
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
        return run(args, settings)
    except Exception as exc:
        from finlake.failures import explain

        line = None if args.debug else explain(exc, settings)
        if line is None:
            raise
        print(f"finlake: {line} (finlake --debug shows the traceback)", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Do the parsed command."""
    from finlake import commands

    if args.command == "demo":
        return commands.demo(settings, users=args.users, days=args.days, faults=args.faults)
    if args.command == "nightly":
        return commands.nightly(settings, args.date, replay=args.replay)
    if args.command == "weekly":
        return commands.weekly(settings)
    if args.command == "sync":
        return commands.sync_account(settings, args.account)
    if args.command in ("override", "category", "categorise-eval", "sandbox-labelled"):
        from finlake import category_commands as cc

        if args.command == "override":
            return cc.override(settings, args.user, args.category, args.merchant, args.txn)
        if args.command == "category":
            return cc.add_category(settings, args.user, args.name, args.primary)
        if args.command == "categorise-eval":
            return cc.categorise_eval(settings, args.file, settings.category_threshold
                                      if args.threshold is None else args.threshold)
        return cc.sandbox_labelled(args.out, args.seed, args.users, args.days)
    if args.command in ("budget", "gold"):
        from finlake import gold_commands as gc

        if args.command == "budget":
            if args.budget_command == "show":
                return gc.budget_show(settings, args.user)
            amount = args.amount if args.budget_command == "set" else None
            return gc.budget_set(settings, args.user, args.category, amount)
        if args.gold_command == "rebuild":
            return gc.gold_rebuild(settings, args.as_of)
        return gc.alerts_deliver(settings)
    if args.command == "quarantine":
        from finlake import quarantine_commands as qc

        if args.quarantine_command == "list":
            return qc.quarantine_list(settings, args.date, args.status, args.limit)
        if args.quarantine_command == "show":
            return qc.quarantine_show(settings, args.record_id)
        return qc.quarantine_release(settings, args.record_id, args.record_file, args.sets)
    if args.command == "keys":
        from finlake import key_commands as kc

        if args.keys_command == "status":
            return kc.status(settings)
        return kc.rotate(settings, retire=args.retire, new_key=args.new_key)
    if args.command == "forget-user":
        from finlake.forget_commands import forget_user

        return forget_user(settings, args.user_id, yes=args.yes)
    if args.command == "login":
        from finlake import login_commands as lc

        if args.login_command == "add":
            return lc.login_add(settings, args.login, args.user_id, args.analyst,
                                args.password_stdin, args.no_password, args.replace)
        if args.login_command == "list":
            return lc.login_list(settings)
        return lc.login_disable(settings, args.login)
    if args.command == "maintain":
        from finlake.maintain_commands import maintain

        return maintain(settings, args.tables, dry_run=args.dry_run,
                        min_small_files=args.min_files)
    if args.command == "runs":
        from finlake.runs_commands import runs

        return runs(settings, clear=args.clear)
    if args.command == "reconcile":
        return commands.reconcile(settings)
    if args.command == "link-sandbox":
        return commands.link(settings)
    if args.command == "sql":
        from finlake.sql_cli import sql_command

        return sql_command(settings, args)
    if args.command == "dashboard":
        app = os.path.join(os.path.dirname(os.path.dirname(__file__)), "dashboard", "app.py")
        return subprocess.call([sys.executable, "-m", "streamlit", "run", app,
                                "--server.address", "127.0.0.1", "--server.port", str(args.port),
                                "--server.headless", "true", "--client.toolbarMode", "minimal",
                                "--browser.gatherUsageStats", "false"])
    if args.command == "ui":
        from finlake.runner import prepare_instance

        prepare_instance(settings)
        return subprocess.call([sys.executable, "-m", "dagster", "dev", "-m",
                                "finlake.definitions", "-h", "127.0.0.1", "-p", str(args.port)])
    if args.command == "spark-delta":
        from finlake import engine_commands as ec

        if args.spark_delta_command == "fetch":
            return ec.fetch()
        return ec.serve(settings, args.host, args.port)
    if args.command == "sandbox-bank":
        faults = [] if args.faults is None else [f"--faults={args.faults}"]
        return subprocess.call([sys.executable, "-m", "connectors.sandbox_bank", "--state-dir",
                                str(settings.sandbox_dir), "--port", str(args.port), *faults])
    raise AssertionError(args.command)  # pragma: no cover


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
