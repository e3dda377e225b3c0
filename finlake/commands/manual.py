"""``finlake manual account`` and ``finlake manual transaction``: a manual account a person
keeps by hand (cash, a loan, a bank no partner covers) and a transaction typed into one.

Both go the way of an imported file (connectors/files/importing.py): the account and the
transaction land in raw as one ``/transactions/sync`` update of the account's manual item,
then the raw contract, quarantine and the silver MERGE take them like a partner's rows, then
gold. A transaction's id is its content and the entry's own id (``--entry-id``, one per form
the dashboard sends; a new one per run when not given): the same entry sent twice is one
transaction, two entries of the same coffee are two.

Everything typed is checked before anything is written: a refusal is one line (with
``--json`` also a JSON ``error`` step, for the dashboard), exit status 2, nothing written.
A person's accounts are found by their name among the person's own: another person's
account is never reached. Every write holds the lake's writer lease.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from connectors.files.importing import ManualAccount
    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake

MAX_ENTRY_ID = 64
# connectors.files.importing.MANUAL_TYPES' names (not imported here: `--help` stays quick)
TYPE_NAMES = ("checking", "savings", "credit card", "loan", "cash")


class Steps:
    """What the command says: text lines, or JSON step lines with ``--json``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.as_json, self.command = args.json, f"finlake manual {args.manual_command}"

    def say(self, step: str, text: str, **more: Any) -> None:
        print(json.dumps({"step": step, "text": text, **more}) if self.as_json else text,
              flush=True)

    def refuse(self, text: str) -> int:
        if self.as_json:
            print(json.dumps({"step": "error", "code": "REFUSED", "text": text}), flush=True)
        print(f"{self.command}: {text}; nothing was changed", file=sys.stderr, flush=True)
        return 2


def _actor(args: argparse.Namespace) -> str:
    from lake.audit_log import cli_actor

    return args.actor or cli_actor()


def _known_person(lake: Lake, user_id: str) -> bool:
    """A person with a linked bank, a transaction, a manual account or a dashboard login."""
    import pyarrow.dataset as ds

    from lake.people import has_user
    from lake.small_tables import read_rows
    from lake.tables import ACCOUNTS, LOGINS

    return has_user(lake, user_id) or any(
        lake.exists(t) and read_rows(lake, t, ds.field("user_id") == user_id)
        for t in (ACCOUNTS, LOGINS))


def _start(settings: Settings, args: argparse.Namespace, steps: Steps) -> Lake | None:
    from lake.lake import Lake

    lake = Lake(settings.lake_root, settings.s3_endpoint)
    if not _known_person(lake, args.user):
        steps.refuse(f"no user {args.user!r} in this lake; check the id")
        return None
    return lake


def add_account(settings: Settings, args: argparse.Namespace) -> int:
    """Create the person's manual account (no transactions yet)."""
    from assets.runs import writing
    from connectors.files import importing as files
    from connectors.files.statement import Statement
    from pipelines.categories.reference import currencies

    steps = Steps(args)
    currency = args.currency.strip().upper()
    try:
        name = files.entry_name(args.name)
        balance = None if args.balance is None else files.entry_money(
            args.balance, "--balance", files.MAX_BALANCE, negative=True)
    except files.EntryRefused as exc:
        return steps.refuse(str(exc))
    if currency not in currencies():
        return steps.refuse(f"--currency {args.currency[:20]!r} is not an ISO 4217 code "
                            "(e.g. USD, EUR, GBP)")
    lake = _start(settings, args, steps)
    if lake is None:
        return 2
    t0 = time.perf_counter()
    account = files.ManualAccount(args.user, name)
    kind, subtype = files.MANUAL_TYPES[args.type]
    with writing(settings, "manual_account", lake):
        linked = files.linked_account_named(lake, args.user, name)
        if linked is not None:
            return steps.refuse(f"{name!r} is the name of an account linked through your "
                                "bank; give the manual account another name")
        held = files.existing_account(lake, account)
        if held is not None:
            return steps.refuse(f"you already have a manual account named {held['name']!r}; "
                                "give the new one another name")
        statement = Statement("manual", account_type=kind, account_subtype=subtype)
        record = files.account_record(account, statement, currency, balance, None)
        _land_and_merge(settings, lake, account, [], record, steps)
    from lake.audit_log import audit

    audit(lake, _actor(args), "add_manual_account", args.user, type=args.type,
          currency=currency, balance_given=balance is not None)
    steps.say("done", f"Added the manual account {name} ({args.type}, {currency}) in "
              f"{time.perf_counter() - t0:.1f} s", account_id=account.account_id)
    return 0


def add_transaction(settings: Settings, args: argparse.Namespace) -> int:
    """Record one transaction the person typed in their manual account."""
    from assets.runs import writing
    from connectors.files import importing as files
    from connectors.files.statement import StatementLine

    steps = Steps(args)
    entry = args.entry_id or uuid.uuid4().hex
    try:
        name = files.entry_name(args.account)
        day = files.entry_day(args.date, datetime.now(UTC).date())
        amount = files.entry_money(args.amount, "--amount", files.MAX_AMOUNT)
        described = files.entry_description(args.description)
        if not (0 < len(entry) <= MAX_ENTRY_ID and entry.isprintable()):
            raise files.EntryRefused(f"--entry-id: give 1 to {MAX_ENTRY_ID} printable "
                                     "characters")
    except files.EntryRefused as exc:
        return steps.refuse(str(exc))
    lake = _start(settings, args, steps)
    if lake is None:
        return 2
    t0 = time.perf_counter()
    account = files.ManualAccount(args.user, name)
    line = StatementLine(day, amount if args.direction == "out" else -amount, described)
    with writing(settings, "manual_transaction", lake):
        try:
            out = _record(settings, lake, account, line, files.entry_id(account, line, entry),
                          (args.category, "dashboard" if args.actor == "dashboard" else "cli"),
                          steps)
        except files.EntryRefused as exc:
            return steps.refuse(str(exc))
    from lake.audit_log import audit

    name = out.pop("name")
    audit(lake, _actor(args), "add_manual_transaction", args.user, **out)
    said = "Added" if out["added"] else "Already added (the same entry was sent again):"
    steps.say("done", f"{said} {day} {'money out' if args.direction == 'out' else 'money in'}"
              f" {amount} in {name} in {time.perf_counter() - t0:.1f} s", **out)
    return 0


def _record(settings: Settings, lake: Lake, account: ManualAccount, line: Any,
            txn: str, chosen: tuple[str | None, str], steps: Steps) -> dict[str, Any]:
    """Under the lease: check the account and the category ``chosen`` (code or None, and who
    chose it: dashboard | cli), land, merge, categorise, gold."""
    category = chosen[0]
    from connectors.files.importing import (
        EntryRefused,
        existing_account,
        held_account_record,
        plan_import,
        transaction_record,
    )
    from finlake.commands.category import known_categories
    from pipelines.categories.reference import currencies
    from pipelines.raw.contract import transaction_violations

    held = existing_account(lake, account)
    if held is None:
        raise EntryRefused(f"you have no manual account named {account.name!r}; add it "
                           "first (finlake manual account)")
    if category is not None and category not in known_categories(lake, account.user_id):
        raise EntryRefused(f"unknown category {category[:60]!r}; use a category code (see "
                           "`finlake sql \"SELECT category, display_name FROM categories\"`)")
    record = transaction_record(account, txn, line, held["currency"])
    problems = transaction_violations(record, True, datetime.now(UTC).date(),
                                      frozenset(currencies()))
    if problems:
        raise EntryRefused(f"the transaction cannot be recorded: {'; '.join(problems)}")
    plan = plan_import(lake, account, [record])
    if not plan.added:
        return {"added": 0, "category_given": category is not None, "name": held["name"]}
    balance = held["balance_current"]
    if balance is not None:  # a card or loan owes more after money out; an account holds less
        owed = held["type"] in ("credit", "loan")
        balance = Decimal(balance) + (line.amount if owed else -line.amount)
    _land_and_merge(settings, lake, account, plan.added,
                    held_account_record(held, balance), steps, chosen)
    return {"added": 1, "category_given": category is not None, "name": held["name"]}


def _land_and_merge(settings: Settings, lake: Lake, account: ManualAccount,
                    records: list[dict[str, Any]], account_rec: dict[str, Any], steps: Steps,
                    chosen: tuple[str | None, str] = (None, "cli")) -> None:
    from assets.resources import spark_resource
    from connectors.files.importing import ImportPlan, land_import
    from pipelines.silver.refresh import merge_partition

    sync_date = datetime.now(UTC).date()
    land_import(lake.store, account, ImportPlan(added=records), account_rec, sync_date,
                datetime.now(UTC))
    steps.say("landed", "Landed in raw")
    steps.say("merging", "Merging")
    session = spark_resource(settings).session()
    silver = merge_partition(session, lake, sync_date, only=(account.user_id, account.item_id))
    if silver.quarantined:  # checked before landing: a rule of the contract changed since
        steps.say("quarantined", f"Held back by the raw contract: {silver.quarantined} "
                  "(finlake quarantine list)")
    steps.say("merged", "Merged into silver")
    if not records:
        return
    steps.say("refreshing", "Refreshing totals")
    _categorise_and_refresh(session, lake, account, records[0]["transaction_id"], sync_date,
                            chosen)
    steps.say("refreshed", "Totals refreshed" + (" with your category" if chosen[0] else ""))


def _categorise_and_refresh(session: Any, lake: Lake, account: ManualAccount, partner_id: str,
                            sync_date: date, chosen: tuple[str | None, str]) -> None:
    """Gold for the transaction's month; with ``category``, the person's own category first
    (as `finlake override --transaction` records it, so the nightly agrees)."""
    import pyarrow.dataset as ds

    from lake.small_tables import read_rows, upsert_rows
    from lake.tables import TRANSACTION_OVERRIDES, TRANSACTIONS
    from pipelines.gold.refresh import refresh_gold
    from pipelines.silver.changes import changed_cells
    from pipelines.silver.refresh import latest_sync_day

    category, source = chosen
    if category is None:
        refresh_gold(session, lake, changed_cells(session, lake, sync_date, account.user_id),
                     max(latest_sync_day(session, lake), sync_date))
        return
    from pipelines.corrections.user_category import set_user_category

    [row] = read_rows(lake, TRANSACTIONS, (ds.field("account_id") == account.account_id)
                      & (ds.field("partner_txn_id") == partner_id))
    set_user_category(session, lake, account.user_id, row["txn_id"], category,
                      max(latest_sync_day(session, lake), sync_date))
    upsert_rows(lake, TRANSACTION_OVERRIDES, [{
        "user_id": account.user_id, "txn_id": row["txn_id"], "category": category,
        "source": source, "created_at": datetime.now(UTC),
        "posted_month": row["posted_month"]}])


def register(sub: Subparsers) -> None:
    manual = sub.add_parser("manual", help="a manual account, and a transaction typed into one")
    manual_sub = manual.add_subparsers(dest="manual_command", required=True)
    acct = manual_sub.add_parser("account", help="add a manual account")
    acct.add_argument("--user", required=True, help="the person's user id")
    acct.add_argument("--name", required=True, help="the account's name, e.g. Wallet")
    acct.add_argument("--type", required=True, choices=TYPE_NAMES)
    acct.add_argument("--currency", required=True, metavar="CUR", help="ISO 4217, e.g. USD")
    acct.add_argument("--balance", metavar="AMOUNT", help="what it holds now (for a credit card "
                      "or loan: what is owed), e.g. 120.00")
    acct.set_defaults(handler=add_account)
    txn = manual_sub.add_parser("transaction", help="add a transaction to a manual account")
    txn.add_argument("--user", required=True, help="the person's user id")
    txn.add_argument("--account", required=True, metavar="NAME", help="the manual account")
    txn.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    txn.add_argument("--description", required=True, metavar="TEXT")
    txn.add_argument("--amount", required=True, help="a positive sum, e.g. 12.50")
    txn.add_argument("--direction", required=True, choices=("out", "in"),
                     help="out: money spent or paid; in: money received")
    txn.add_argument("--category", metavar="CODE", help="its category (default: categorised "
                     "like any transaction)")
    txn.add_argument("--entry-id", metavar="ID", help="the entry's own id: the same id again is "
                     "the same transaction (default: a new one)")
    txn.set_defaults(handler=add_transaction)
    for p in (acct, txn):
        p.add_argument("--json", action="store_true", help="one JSON object per step")
        p.add_argument("--actor", help="who asks, for the audit log (default: cli:<os user>)")
