"""``finlake import FILE --user U --account NAME``: a bank's OFX/QFX or CSV export into a manual
account of the person, through raw, the raw contract, quarantine and the silver MERGE like a
partner's pages, then gold.

The whole file is read and checked before anything is written: a file that cannot be read
(truncated, a wrong column, a date or amount that is no date or amount, empty, binary, too
large) is refused with one line, no raw object landed, no account created, nothing merged.
Re-importing the same or an overlapping file adds only the lines silver lacks.

Once the lines have landed they are the lake's like a partner's pages: should the merge
fail after that (an audit holding the day back, a crash), the nightly of that day merges
them, and an import again lands them again under the same ids (merged once).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from connectors.files.importing import ManualAccount
    from connectors.files.statement import Statement
    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake

TYPES = {"checking": ("depository", "checking"), "savings": ("depository", "savings"),
         "credit": ("credit", "credit card")}
MAX_ACCOUNT_NAME = 100


def _say(text: str) -> None:
    print(text, flush=True)


def _refuse(text: str) -> int:
    print(f"finlake import: {text}; nothing was imported", file=sys.stderr)
    return 2


@dataclass
class Prepared:
    records: list[dict[str, Any]]
    account: dict[str, Any]
    created: bool
    violations: dict[str, list[str]]  # transaction id -> what of the raw contract it breaks
    currency_from: str  # --currency | the file | the account | the layout


def prepare(lake: Lake, account: ManualAccount, statement: Statement, currency: str | None,
            kind: str | None, sync_date: date) -> Prepared:
    """The file's lines as partner records for the account; FileRefused when the account, the
    currency or the raw contract says they cannot go in."""
    from collections import Counter

    from connectors.files.importing import (
        account_record,
        existing_account,
        linked_account_named,
        transaction_ids,
        transaction_record,
    )
    from connectors.files.statement import FileRefused
    from pipelines.categories.reference import currencies
    from pipelines.raw.contract import account_violations, transaction_violations
    from pipelines.silver.refresh import QUARANTINE_CEILING, QUARANTINE_MIN_RECORDS

    known = frozenset(currencies())
    linked = linked_account_named(lake, account.user_id, account.name)
    if linked is not None:
        raise FileRefused(f"{account.name!r} is an account linked through "
                          f"{linked['institution_id']}, synced by the partner; files go into "
                          "a manual account: give another --account name")
    held = existing_account(lake, account)
    given = currency.upper() if currency else None
    if given and given not in known:
        raise FileRefused(f"--currency {currency!r} is not an ISO 4217 code (e.g. USD, EUR, GBP)")
    if given and statement.currency and given != statement.currency:
        raise FileRefused(f"the file says its amounts are in {statement.currency}, but --currency "
                          f"says {given}; drop --currency or check the file")
    sources = (("--currency", given), ("the file", statement.currency),
               ("the account", (held or {}).get("currency")),
               ("a guess from the file's layout", statement.currency_guess))
    currency_from, cur = next(((w, c) for w, c in sources if c), ("", None))
    if not cur:
        raise FileRefused("the file does not say its currency; give it with --currency (e.g. "
                          "--currency EUR)")
    if held and held["currency"] and held["currency"] != cur:
        raise FileRefused(f"{account.name!r} holds {held['currency']} amounts and this file's are "
                          f"in {cur}; import it into another --account")
    for line in statement.lines:
        if line.currency and line.currency not in known:
            raise FileRefused(f"{line.where}: {line.currency!r} is not an ISO 4217 currency "
                              "code; fix the line")
    if held and held["mask"] and statement.mask and held["mask"] != statement.mask:
        raise FileRefused(f"the file is for the account ending {statement.mask}, but "
                          f"{account.name!r} holds the one ending {held['mask']}; check --account")
    if kind:
        statement.account_type, statement.account_subtype = TYPES[kind]
    elif statement.account_type is None:
        statement.account_type, statement.account_subtype = (
            (held["type"], held["subtype"]) if held else
            TYPES["credit"] if "card" in statement.kind else TYPES["checking"])
    balance = statement.balance if statement.balance is not None else \
        (held or {}).get("balance_current")
    acct = account_record(account, statement, cur, balance,
                          statement.mask or (held or {}).get("mask"))
    problems = account_violations(acct, known)
    if problems:
        raise FileRefused(f"the account cannot be recorded: {'; '.join(problems)}")
    ids = transaction_ids(account, statement.lines)
    records = [transaction_record(account, i, line, cur)
               for i, line in zip(ids, statement.lines, strict=True)]
    violations = {rec["transaction_id"]: problems for rec in records
                  if (problems := transaction_violations(rec, True, sync_date, known))}
    failing = len(violations)
    if failing >= QUARANTINE_MIN_RECORDS and failing / len(records) > QUARANTINE_CEILING:
        reasons = Counter(r for problems in violations.values() for r in problems)
        raise FileRefused(f"{failing} of {len(records)} lines break the raw contract ("
                          + "; ".join(f"{r}: {n}" for r, n in reasons.most_common(3))
                          + "): the file is not a statement finlake can take")
    return Prepared(records, acct, held is None, violations, currency_from)


def file_import(settings: Settings, args: argparse.Namespace) -> int:
    """Read, check, land, merge, refresh gold; a progress line per step with its counts."""
    from connectors.files.importing import ManualAccount
    from connectors.files.reading import ReadOptions, file_bytes, read_statement
    from connectors.files.statement import FileRefused
    from finlake.preflight import refuse_unknown_user
    from lake.lake import Lake

    t0 = time.perf_counter()
    name = " ".join(args.account.split())
    if not name or len(name) > MAX_ACCOUNT_NAME or not name.isprintable():
        return _refuse(f"--account: give the account a name of 1 to {MAX_ACCOUNT_NAME} "
                       "printable characters, e.g. --account \"Credit Union Checking\"")
    try:
        statement = read_statement(file_bytes(args.file), ReadOptions(
            args.csv_columns, args.date_format, args.decimal, args.sign))
    except FileRefused as exc:
        return _refuse(str(exc))
    if not statement.lines:
        return _refuse("the file holds no transactions; export a period with transactions")
    days = sorted(line.posted for line in statement.lines)
    _say(f"read: {statement.kind}, {len(statement.lines)} transactions"
         + (f" from {days[0]} to {days[-1]}" if days else ""))
    for note in statement.notes:
        _say(f"  {note}")
    lake = Lake(settings.lake_root, settings.s3_endpoint)
    if refuse_unknown_user(lake, args.user, "import"):
        return 2
    account = ManualAccount(args.user, name)
    sync_date = datetime.now(UTC).date()
    from assets.runs import writing

    with writing(settings, "file_import", lake):
        try:  # under the lease: silver cannot change between the plan and the landing
            prepared = prepare(lake, account, statement, args.currency, args.type, sync_date)
        except FileRefused as exc:
            return _refuse(str(exc))
        out = _land_and_merge(settings, lake, account, prepared, sync_date, args.actor)
    _say(f"done in {time.perf_counter() - t0:.1f}s: {out['added']} new, {out['modified']} "
         f"changed, {out['unchanged']} already imported into {name!r} "
         f"({prepared.account['balances']['iso_currency_code']}, account "
         f"{account.account_id})")
    return 0


def _land_and_merge(settings: Settings, lake: Lake, account: ManualAccount,
                    prepared: Prepared, sync_date: date, actor: str | None = None
                    ) -> dict[str, Any]:
    from assets.resources import spark_resource
    from connectors.files.importing import land_import, plan_import
    from lake.audit_log import audit, cli_actor
    from pipelines.gold.refresh import refresh_gold
    from pipelines.silver.changes import changed_cells
    from pipelines.silver.refresh import latest_sync_day, merge_partition

    plan = plan_import(lake, account, prepared.records)
    _say(f"account: {account.name!r} ({'new, ' if prepared.created else ''}manual, "
         f"{prepared.account['balances']['iso_currency_code']} from {prepared.currency_from}"
         + ("; --currency to change" if prepared.currency_from.startswith("a guess") else "")
         + ")")
    out = {"lines": len(prepared.records), "added": len(plan.added),
           "modified": len(plan.modified), "unchanged": plan.unchanged,
           "quarantined_before": plan.quarantined, "quarantined": 0,
           "account_created": prepared.created and bool(plan.records)}
    bad = [prepared.violations[r["transaction_id"]] for r in plan.records
           if r["transaction_id"] in prepared.violations]
    reasons = {reason for problems in bad for reason in problems}
    _say(f"plan: {out['added']} new, {out['modified']} changed, {out['unchanged']} already "
         "imported" + (f", {plan.quarantined} already in quarantine" if plan.quarantined else "")
         + (f"; the raw contract will hold back {len(bad)}: {', '.join(sorted(reasons))}"
            if bad else ""))
    if plan.records:
        t = time.perf_counter()
        keys = land_import(lake.store, account, plan, prepared.account, sync_date,
                           datetime.now(UTC))
        _say(f"raw: {len(keys)} page(s) landed for {sync_date} "
             f"({time.perf_counter() - t:.1f}s)"
             + (" (a new manual account)" if out["account_created"] else ""))
        t = time.perf_counter()
        session = spark_resource(settings).session()
        silver = merge_partition(session, lake, sync_date, only=(account.user_id,
                                                                 account.item_id))
        out["quarantined"] = silver.quarantined
        _say(f"silver: {silver.changes} change(s) of the account's pages of {sync_date} "
             f"merged, {silver.rows_affected} row(s) written, {silver.quarantined} "
             f"quarantined ({time.perf_counter() - t:.1f}s)"
             + (" - see `finlake quarantine list`" if silver.quarantined else ""))
        t = time.perf_counter()
        gold = refresh_gold(session, lake, changed_cells(session, lake, sync_date,
                                                         account.user_id),
                            max(latest_sync_day(session, lake), sync_date))
        _say(f"gold: {gold.cells} user-month cell(s) refreshed "
             f"({time.perf_counter() - t:.1f}s)")
    # Counts only: an audit row names nobody but through the person's pseudonym.
    audit(lake, actor or cli_actor(), "import_file", account.user_id, **out)
    return out


def register(sub: Subparsers) -> None:
    p = sub.add_parser("import", help="import a bank's OFX/QFX or CSV file into a manual account")
    p.add_argument("file", metavar="FILE", help="the bank's export: .ofx, .qfx or .csv")
    p.add_argument("--user", required=True, help="the person's user id")
    p.add_argument("--account", required=True, metavar="NAME",
                   help="the manual account's name (created on the first import)")
    p.add_argument("--currency", metavar="CUR",
                   help="ISO 4217 code, when the file does not say (e.g. EUR)")
    p.add_argument("--type", choices=sorted(TYPES), help="the account's type (default: from "
                   "the file, else checking)")
    p.add_argument("--csv-columns", metavar="ROLE=COLUMN,...",
                   help="CSV columns by header name or 1-based position: date, description, "
                        "amount (or out and in), optional authorized, merchant, currency, type")
    p.add_argument("--date-format", metavar="FMT",
                   help="CSV dates, e.g. dd.mm.yyyy, mm/dd/yyyy, yyyy-mm-dd or %%d.%%m.%%Y")
    p.add_argument("--decimal", choices=(",", "."), metavar="MARK",
                   help="CSV decimal mark: , or . (default: inferred)")
    p.add_argument("--sign", choices=("out-negative", "out-positive"),
                   help="how the file's single amount column shows money out (default: "
                        "negative, as most banks and OFX)")
    p.add_argument("--actor", help="who asks, for the audit log (default: cli:<os user>; the "
                   "dashboard's upload says dashboard)")
    p.set_defaults(handler=file_import)
