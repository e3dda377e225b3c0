"""A read statement into a person's manual account, landed in raw like a partner's pages.

The manual account and its item are named after the person and the account name
(``manual-<hash>``; the institution is :data:`MANUAL_INSTITUTION`), so the nightly sync,
which syncs the items of linked credentials, never calls a partner for them. Each line gets
the id a partner would give it:

* an OFX line: its FITID, namespaced by person and account (``ofx-<hash>``);
* a CSV line: its content (posting date, amount, description) and its occurrence among
  identical lines of the file (``csv-<hash>``), so two identical coffees on one day are two
  transactions, and the same export read again gives the same ids.

:func:`plan_import` sorts the lines against silver: new, changed (an OFX line the bank
corrected: same FITID, other details) or already there. :func:`land_import` lands the new
and changed ones as one ``/transactions/sync`` update of the manual item (pages, then the
manifest, then the item's cursor), so the raw contract, quarantine and the silver MERGE treat
them as partner rows, and replaying the day gives the same silver.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.files.statement import Statement, StatementLine
from core.redaction import redact
from lake import raw
from lake.lake import Lake
from lake.objectstore import ObjectStore
from lake.small_tables import read_rows
from lake.tables import ACCOUNTS, QUARANTINE, TRANSACTIONS
from lake.tables_ledger import MANUAL_INSTITUTION

PAGE_SIZE = 500  # records per landed page, as the partner's largest pages
CENT = Decimal("0.01")


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class ManualAccount:
    user_id: str
    name: str

    @property
    def key(self) -> str:
        return _hash("manual-account", self.user_id, " ".join(self.name.casefold().split()))[:24]

    @property
    def account_id(self) -> str:
        return f"manual-{self.key}"

    @property
    def item_id(self) -> str:
        return f"manual-item-{self.key}"


def transaction_ids(account: ManualAccount, lines: list[StatementLine]) -> list[str]:
    """The partner-style id of each line (see the module doc)."""
    seen: Counter[str] = Counter()
    ids = []
    for line in lines:
        if line.fitid is not None:
            ids.append("ofx-" + _hash(account.user_id, account.account_id, line.fitid)[:32])
            continue
        content = "|".join((line.posted.isoformat(), str(line.amount.quantize(CENT)),
                            " ".join(line.description.casefold().split())))
        seen[content] += 1
        ids.append("csv-" + _hash(account.user_id, account.account_id, content,
                                  str(seen[content]))[:32])
    return ids


def transaction_record(account: ManualAccount, txn_id: str, line: StatementLine,
                       currency: str) -> dict[str, Any]:
    """The line as a ``/transactions/sync`` transaction (the partner's sign: + = money out)."""
    return {"transaction_id": txn_id, "account_id": account.account_id,
            "amount": float(line.amount.quantize(CENT)),
            "iso_currency_code": line.currency or currency,
            "date": line.posted.isoformat(),
            "authorized_date": line.authorized.isoformat() if line.authorized else None,
            "name": line.description or None, "merchant_name": line.merchant,
            "pending": False, "pending_transaction_id": None, "payment_channel": "other"}


def account_record(account: ManualAccount, statement: Statement, currency: str,
                   balance: Decimal | None, mask: str | None) -> dict[str, Any]:
    return {"account_id": account.account_id, "name": account.name, "official_name": None,
            "mask": mask, "type": statement.account_type or "depository",
            "subtype": statement.account_subtype,
            "balances": {"current": None if balance is None else float(balance),
                         "available": None, "iso_currency_code": currency}}


def existing_account(lake: Lake, account: ManualAccount) -> dict[str, Any] | None:
    import pyarrow.dataset as ds

    rows = read_rows(lake, ACCOUNTS, ds.field("account_id") == account.account_id)
    return rows[0] if rows else None


def linked_account_named(lake: Lake, user_id: str, name: str) -> dict[str, Any] | None:
    """A partner-linked account of the person with this name (imports never go into one)."""
    import pyarrow.dataset as ds

    wanted = " ".join(name.casefold().split())
    for row in read_rows(lake, ACCOUNTS, ds.field("user_id") == user_id):
        if row["institution_id"] != MANUAL_INSTITUTION and \
                " ".join(str(row["name"] or "").casefold().split()) == wanted:
            return row
    return None


@dataclass
class ImportPlan:
    added: list[dict[str, Any]] = field(default_factory=list)
    modified: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    quarantined: int = 0  # lines an earlier import landed that the raw contract held back

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.added + self.modified


def plan_import(lake: Lake, account: ManualAccount, records: list[dict[str, Any]]
                ) -> ImportPlan:
    """Which records silver lacks (added), holds with other details (modified) or holds."""
    import pyarrow.dataset as ds

    plan = ImportPlan()
    months = sorted({r["date"][:7] for r in records})
    held: dict[str, dict[str, Any]] = {}
    if months and lake.exists(TRANSACTIONS):
        where = (ds.field("account_id") == account.account_id) & \
            ds.field("posted_month").isin(months)
        held = {r["partner_txn_id"]: r for r in read_rows(lake, TRANSACTIONS, where)}
    held_back = _quarantined_ids(lake, account)
    for rec in records:
        row = held.get(rec["transaction_id"])
        if row is None and _held_back(rec, held_back.get(rec["transaction_id"])):
            plan.quarantined += 1  # landed before and held back: `finlake quarantine` has it
        elif row is None:
            plan.added.append(rec)
        elif _same(rec, row):
            plan.unchanged += 1
        else:
            plan.modified.append(rec)
    return plan


def _held_back(rec: dict[str, Any], quarantined: dict[str, Any] | None) -> bool:
    """Whether the quarantine holds this very line (an OFX line the bank corrected since, same
    FITID, other details, lands again)."""
    return quarantined is not None and all(
        quarantined.get(k) == rec[k] for k in ("date", "amount", "iso_currency_code")) and \
        quarantined.get("name") == (rec["name"] and redact(rec["name"], registered=False))


def _quarantined_ids(lake: Lake, account: ManualAccount) -> dict[str, dict[str, Any]]:
    """The account's lines the raw contract holds in quarantine (not released), by id."""
    import json

    import pyarrow.dataset as ds

    if not lake.exists(QUARANTINE):
        return {}
    ids = {}
    where = (ds.field("item_id") == account.item_id) & (ds.field("status") == "quarantined")
    for row in read_rows(lake, QUARANTINE, where):
        try:
            record = json.loads(row["record"])
        except (TypeError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("transaction_id"), str):
            ids[record["transaction_id"]] = record
    return ids


def _same(rec: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether silver's row says what the record says (its text as it landed: masked)."""
    name = rec["name"] and redact(rec["name"], registered=False)
    return (row["amount"] is not None and Decimal(str(rec["amount"])).quantize(CENT)
            == Decimal(row["amount"]).quantize(CENT)
            and str(row["posted_date"]) == rec["date"] and row["currency"] ==
            rec["iso_currency_code"] and (row["description"] or None) == name)


def land_import(store: ObjectStore, account: ManualAccount, plan: ImportPlan,
                account_rec: dict[str, Any], sync_date: date, now: datetime) -> list[str]:
    """Land the plan's records as one update of the manual item; returns the page keys. The
    manifest makes them visible to the merge only once every page has landed."""
    start = raw.load_cursor(store, account.item_id)
    ref = raw.UpdateRef(sync_date, account.user_id, account.item_id, start[1] + 1,
                        now.strftime("%Y%m%dT%H%M%S%fZ"))
    sections = [("added", r) for r in plan.added] + [("modified", r) for r in plan.modified]
    chunks = [sections[i:i + PAGE_SIZE] for i in range(0, len(sections), PAGE_SIZE)] or [[]]
    cursor = f"file-import-{ref.update_seq}"
    keys = []
    for n, chunk in enumerate(chunks, 1):
        body = {"added": [r for s, r in chunk if s == "added"],
                "modified": [r for s, r in chunk if s == "modified"], "removed": [],
                "accounts": [account_rec], "next_cursor": cursor,
                "has_more": n < len(chunks)}
        keys.append(raw.land_page(store, ref, n, body, MANUAL_INSTITUTION, now.isoformat()))
    raw.complete_update(store, ref, keys, now.isoformat(),
                        {"added": len(plan.added), "modified": len(plan.modified),
                         "removed": 0})
    raw.save_cursor(store, account.item_id, cursor, ref.update_seq, expected=start)
    return keys


# --- a manual account and transaction typed by the person (``finlake manual``) -------------

MANUAL_TYPES = {"checking": ("depository", "checking"), "savings": ("depository", "savings"),
                "credit card": ("credit", "credit card"), "loan": ("loan", "loan"),
                "cash": ("depository", "cash")}
MAX_NAME = 100
MAX_AMOUNT = Decimal("1000000000")  # the raw contract's limit for one transaction
MAX_BALANCE = Decimal("1000000000000")
EARLIEST_DAY = date(1990, 1, 1)  # the raw contract's earliest plausible posting date


class EntryRefused(ValueError):
    """What the person typed cannot be recorded; the message says why and what to do."""


def entry_name(text: str) -> str:
    name = " ".join(text.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise EntryRefused(f"give the account a name of 1 to {MAX_NAME} printable characters, "
                           "e.g. \"Wallet\"")
    return name


def entry_money(text: str, what: str, most: Decimal, negative: bool = False) -> Decimal:
    """A sum of money as typed: finite, at most two decimals, within ``most``."""
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        value = Decimal("NaN")
    if not value.is_finite():
        raise EntryRefused(f"{what} {text[:30]!r} is not a number; write it like 12.50")
    if abs(value) >= most or (value <= 0 and not negative):
        raise EntryRefused(f"{what} must be {'' if negative else 'more than 0 and '}less than "
                           f"{most:,}")
    if value != value.quantize(CENT):
        raise EntryRefused(f"{what} {text[:30]!r} has more than two decimals; write it like "
                           "12.50")
    return value.quantize(CENT)


def entry_day(text: str, today: date) -> date:
    """A transaction's day: from 1990 to tomorrow (a person ahead of UTC is on it already)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise EntryRefused(f"{text[:30]!r} is not a date; use YYYY-MM-DD") from None
    if day < EARLIEST_DAY or (day - today).days > 1:
        raise EntryRefused(f"{day} is not a day a transaction happened: give one from "
                           f"{EARLIEST_DAY} to today")
    return day


def entry_description(text: str) -> str:
    from connectors.files.statement import MAX_DESCRIPTION, clean_text

    described = clean_text(text)
    if not described or len(described) > MAX_DESCRIPTION or not described.isprintable():
        raise EntryRefused(f"give a description of 1 to {MAX_DESCRIPTION} printable characters")
    return described


def entry_id(account: ManualAccount, line: StatementLine, entry: str) -> str:
    """A typed transaction's id: its content and the entry's own id (one per form sent), so a
    form sent twice is one transaction and two entries of the same purchase are two."""
    content = "|".join((line.posted.isoformat(), str(line.amount),
                        " ".join(line.description.casefold().split()), entry))
    return "manual-" + _hash(account.user_id, account.account_id, content)[:32]


def held_account_record(held: dict[str, Any], balance: Decimal | None) -> dict[str, Any]:
    """An account silver holds as a page's account, with ``balance`` as its current one."""
    return {"account_id": held["account_id"], "name": held["name"], "official_name": None,
            "mask": held["mask"], "type": held["type"], "subtype": held["subtype"],
            "balances": {"current": None if balance is None else float(balance),
                         "available": None, "iso_currency_code": held["currency"]}}
