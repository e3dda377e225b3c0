"""``finlake link add | reconnect | refresh``: one person's bank, as Link does it with the
sandbox bank: sign in and link it (then its first sync), sign in again after its login expired
(then a sync), or sync it now. The dashboard's Accounts page runs these as child processes
(dashboard/linking.py) and shows their steps; an operator may run them too.

Each prints one line per step as it happens (``--json``: one JSON object per line, for the
dashboard): signed in, linked, syncing, synced (added, modified, removed), merging, merged
(rows), refreshing, gold refreshed (cells), done; or the one line that says why it stopped.
The ``on_demand_sync`` job reports its three steps together when it ends.
Every write holds the lake's writer lease: linking and the first sync of a new bank under one
hold, the on-demand sync of a bank with accounts as the ``on_demand_sync`` Dagster job (which
takes the lease itself, and shows in the Dagster UI).
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.credentials import Credential
    from core.settings import Settings
    from finlake.commands.args import Subparsers

ONE_ACCOUNT = re.compile(r"^sync of \S+ did not succeed: ")  # the job names the account


class Steps:
    """What the command says, step by step: text lines, or JSON lines with ``--json``."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def say(self, step: str, text: str, **counts: Any) -> None:
        print(json.dumps({"step": step, "text": text, **counts}) if self.as_json else text,
              flush=True)

    def fail(self, code: str, text: str) -> int:
        """Say why the command stopped (one plain line); the exit code."""
        if self.as_json:
            print(json.dumps({"step": "error", "code": code, "text": text}), flush=True)
        print(f"finlake link: {text}", file=sys.stderr, flush=True)
        return 1


def _sign_in(from_stdin: bool) -> tuple[str, str]:
    """The sandbox sign-in the person typed: two lines of standard input, or asked for."""
    if from_stdin:
        lines = sys.stdin.read().splitlines()
        username, password = (lines + ["", ""])[:2]
        return username, password
    return input("sandbox username: "), getpass.getpass("sandbox password: ")


def _resources(settings: Settings) -> dict:
    from assets.resources import resources_for

    return resources_for(settings)


def _actor(args: argparse.Namespace) -> str:
    from lake.audit_log import cli_actor

    return args.actor or cli_actor()


def _checked_sign_in(args: argparse.Namespace, steps: Steps) -> tuple[str, str] | int:
    """The sandbox sign-in (username, password) once the bank's check accepted it, else the
    exit status of the refusal (said as a step)."""
    from connectors.linking import LinkRefused, check_sign_in

    username, password = _sign_in(args.sign_in_stdin)
    try:
        check_sign_in(username, password)
    except LinkRefused as e:
        return steps.fail(e.code, str(e))
    steps.say("signed_in", "Signed in to the sandbox bank")
    return username, password


def add(settings: Settings, args: argparse.Namespace) -> int:
    """Sign in, link the person's item at the institution, then its first sync."""
    from assets.runs import writing
    from connectors.linking import LinkRefused, link_institution
    from lake.audit_log import AuditLog

    steps = Steps(args.json)
    signed_in = _checked_sign_in(args, steps)
    if isinstance(signed_in, int):
        return signed_in
    username, password = signed_in
    res = _resources(settings)
    lake = res["lake"].lake()
    with writing(settings, "link", lake):
        name = _known_institution(res, lake, args.institution)
        if name is None:
            return steps.fail("INVALID_INSTITUTION", "The sandbox bank has no institution "
                              f"{args.institution!r}.")
        audit = AuditLog(lake)
        try:
            cred = link_institution(
                res["partner"].client(), res["vault"].credentials(lake, audit, _actor(args)),
                args.user, args.institution, username, password)
        except LinkRefused as e:
            return steps.fail(e.code, str(e))
        finally:
            audit.flush()
        steps.say("linked", f"Linked {name}")
        return _first_sync(settings, res, cred, steps)


def reconnect(settings: Settings, args: argparse.Namespace) -> int:
    """Sign in again at an institution whose login expired, then sync it."""
    from assets.runs import writing
    from connectors.linking import LinkRefused, relink_item
    from lake.audit_log import AuditLog

    steps = Steps(args.json)
    signed_in = _checked_sign_in(args, steps)
    if isinstance(signed_in, int):
        return signed_in
    username, password = signed_in
    res = _resources(settings)
    lake = res["lake"].lake()
    with writing(settings, "link", lake):
        audit = AuditLog(lake)
        try:
            relink_item(res["partner"].url(), res["vault"].credentials(lake, audit, _actor(args)),
                        args.user, args.institution, username, password)
        except LinkRefused as e:
            return steps.fail(e.code, str(e))
        finally:
            audit.flush()
    steps.say("reconnected", "Reconnected: the bank accepts the sign-in again")
    return _sync(settings, res, args.user, args.institution, steps)


def refresh(settings: Settings, args: argparse.Namespace) -> int:
    """Sync the person's item at the institution now (audited as ``request_sync``)."""
    from lake.audit_log import audit

    res = _resources(settings)
    audit(res["lake"].lake(), _actor(args), "request_sync", user_id=args.user,
          institution_id=args.institution)
    return _sync(settings, res, args.user, args.institution, Steps(args.json))


def _known_institution(res: dict, lake: Any, institution_id: str) -> str | None:
    """The institution's name (None: the bank has no such institution); the bank's
    institutions go into the ``institutions`` table when it lacks this one (the sync reads
    rate limits and cadence from there)."""
    from connectors.linking import sandbox_institutions
    from lake.small_tables import read_rows, upsert_rows
    from lake.tables import INSTITUTIONS

    known = {i["institution_id"]: i for i in sandbox_institutions(res["partner"].url())}
    if institution_id not in known:
        return None
    if not any(r["institution_id"] == institution_id for r in read_rows(lake, INSTITUTIONS)):
        upsert_rows(lake, INSTITUTIONS, [{**i, "partner": "sandbox"} for i in known.values()])
    return str(known[institution_id]["name"])


def _sync(settings: Settings, res: dict, user_id: str, institution_id: str,
          steps: Steps) -> int:
    """The on-demand sync of the person's item at the institution: the Dagster job when the
    item has accounts, else (never synced yet) the first sync."""
    from assets.runs import writing
    from connectors.linking import credential_at
    from lake.small_tables import read_rows
    from lake.tables import ACCOUNTS

    lake = res["lake"].lake()
    cred = credential_at(res["vault"].credentials(lake), user_id, institution_id)
    if cred is None:
        return steps.fail("NOT_LINKED", "This bank is not linked yet: link it first.")
    accounts = sorted(r["account_id"] for r in read_rows(lake, ACCOUNTS)
                      if r["item_id"] == cred.item_id and r["user_id"] == user_id)
    if not accounts:
        with writing(settings, "link", lake):
            return _first_sync(settings, res, cred, steps)
    return _sync_job(settings, accounts[0], steps)


def _sync_job(settings: Settings, account_id: str, steps: Steps) -> int:
    """Run ``on_demand_sync`` for one account (its whole item) in this process."""
    from finlake.definitions import defs
    from finlake.runner import QUIET, launch, prepare_instance, run_errors

    steps.say("syncing", "Syncing with the bank, then merging and refreshing gold")
    t0 = time.perf_counter()
    result = launch(defs(), prepare_instance(settings), "on_demand_sync", run_config={
        **QUIET, "ops": {"sync_account": {"config": {"account_id": account_id}}}})
    if not result.success:
        why = "; ".join(ONE_ACCOUNT.sub("", e) for e in run_errors(result)) or "the run failed"
        return steps.fail("SYNC_FAILED", f"The sync did not finish: {why}")
    s = result.output_for_node("sync_account")
    return _done(steps, s["added"], s["modified"], s["removed"], s["silver_rows"],
                 s["gold_cells"], time.perf_counter() - t0)


def _first_sync(settings: Settings, res: dict, cred: Credential, steps: Steps) -> int:
    """The first sync of a new item, to gold: what ``on_demand_sync`` does for an account
    (jobs/on_demand.py), for an item that has no accounts in the lake yet. The caller
    holds the writer lease."""
    from assets.ingest import ingest
    from pipelines.gold.refresh import refresh_gold
    from pipelines.silver.changes import changed_cells
    from pipelines.silver.refresh import merge_partition

    steps.say("syncing", "Syncing with the bank")
    t0 = time.perf_counter()
    today = datetime.now(UTC).date()
    report = ingest(res["lake"], res["partner"], res["vault"], today,
                    run_id=f"link-{uuid.uuid4().hex[:12]}", actor="pipeline:on_demand",
                    trigger="on_demand", items={cred.item_id})
    last = report.jobs[-1] if report.jobs else {}
    if last.get("status") != "success":
        why = last.get("detail") or report.skipped.get(cred.item_id) or "not synced"
        return steps.fail("SYNC_FAILED", f"Linked, but the first sync did not finish: {why}; "
                                         "the nightly sync tries again")
    added, modified, removed = (report.total(c) for c in
                                ("txns_added", "txns_modified", "txns_removed"))
    steps.say("synced", f"Synced: {added} added, {modified} modified, {removed} removed",
              added=added, modified=modified, removed=removed)
    steps.say("merging", "Merging into your transactions")
    lake, session = res["lake"].lake(), res["spark"].session()
    silver = merge_partition(session, lake, today, only=(cred.user_id, cred.item_id))
    steps.say("merged", f"Merged: {silver.rows_affected} rows written",
              rows=silver.rows_affected)
    steps.say("refreshing", "Refreshing spend and budgets")
    gold = refresh_gold(session, lake, changed_cells(session, lake, today, cred.user_id), today)
    steps.say("gold", f"Gold refreshed: {gold.cells} month(s) of spend and budgets",
              cells=gold.cells)
    steps.say("done", f"Done in {time.perf_counter() - t0:.1f}s", seconds=round(
        time.perf_counter() - t0, 2))
    return 0


def _done(steps: Steps, added: int, modified: int, removed: int, rows: int, cells: int,
          seconds: float) -> int:
    steps.say("synced", f"Synced: {added} added, {modified} modified, {removed} removed",
              added=added, modified=modified, removed=removed)
    steps.say("merged", f"Merged: {rows} rows written", rows=rows)
    steps.say("gold", f"Gold refreshed: {cells} month(s) of spend and budgets", cells=cells)
    steps.say("done", f"Done in {seconds:.1f}s", seconds=round(seconds, 2))
    return 0


def _embedded_only(handler: Any) -> Any:
    """``handler``, refused with a real partner: its Link runs in the partner's own app."""
    def run(settings: Settings, args: argparse.Namespace) -> int:
        if not settings.embedded_partner:
            return Steps(args.json).fail(
                "NOT_SANDBOX", "linking happens through the partner's Link, not available "
                "here; `finlake link` works with the sandbox bank only (unset "
                "FINLAKE_PARTNER_HOST)")
        return int(handler(settings, args))
    return run


def register(sub: Subparsers) -> None:
    lk = sub.add_parser("link", help="link, reconnect or refresh one person's bank "
                                     "(sandbox bank)")
    lk_sub = lk.add_subparsers(dest="link_command", required=True)
    for name, handler, text in (
            ("add", add, "sign in and link a bank, then its first sync"),
            ("reconnect", reconnect, "sign in again where the login expired, then sync"),
            ("refresh", refresh, "sync the person's bank now, all the way to gold")):
        p = lk_sub.add_parser(name, help=text)
        p.add_argument("--user", required=True, metavar="USER_ID", help="the person")
        p.add_argument("--institution", required=True, metavar="INSTITUTION_ID",
                       help="the bank (e.g. ins_1)")
        p.add_argument("--json", action="store_true", help="one JSON object per step")
        if name != "refresh":
            p.add_argument("--sign-in-stdin", action="store_true",
                           help="read the sandbox username and password from two lines of "
                                "standard input (else they are asked for)")
        p.add_argument("--actor", help="who the audit log names (default cli:<os user>)")
        # Refreshing works with any partner; linking needs the sandbox's Link.
        p.set_defaults(handler=handler if name == "refresh" else _embedded_only(handler))
