"""The raw contract: every landed partner page is checked record by record before merging.

Pure Python (no Spark): Spark's JSON reader fails a whole read on one mistyped field, so
pages are parsed here, each record is checked against the partner schema, and only typed,
valid change records go on to Spark. A record that breaks a rule becomes a quarantine row
with every reason it breaks and a reference to its raw object; the rest of the page and the
partition proceed. A page that is not readable at all (not JSON, not an object, no usable
``meta``) is quarantined whole, as is a section (``added`` ...) that is not a list.

Counting is exact: every record a page holds ends up either as a change or a quarantine
row, and :class:`ContractStats` says how many of each (the reconciliation check relies on it).

:func:`parse_page` is the reference, record by record. Intake checks pages in columns
(``pipelines/raw/columnar.py``) with the same outcome, and hands this module any page, and
any flagged record, it does not read itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

SECTIONS = ("added", "modified", "removed")
TXN_FIELDS = ("transaction_id", "account_id", "amount", "iso_currency_code", "date",
              "authorized_date", "name", "merchant_name", "pending", "pending_transaction_id",
              "payment_channel")
MAX_ID = 128
MAX_TEXT = 1000
MAX_CHANNEL = 64
MAX_AMOUNT = 1e9
MAX_BALANCE = 1e12
EARLIEST = date(1990, 1, 1)
LATEST_DAYS = 31  # a posting date may be at most this far after the sync date
QUARANTINE_TEXT = 100_000  # longer record text is cut; the raw object keeps all of it
META_FIELDS = {"raw_ref": str, "sync_date": str, "user_id": str, "item_id": str,
               "institution_id": str, "update_seq": int, "attempt": str, "page": int,
               "landed_at": str}


@dataclass
class ContractStats:
    pages: int = 0
    records: int = 0          # every record the readable sections hold
    changes: int = 0          # records that passed
    quarantined: int = 0      # records that failed (each is one quarantine row)
    bad_pages: int = 0        # unreadable pages (one quarantine row each; records unknown)
    bad_sections: int = 0     # sections that are not lists (one quarantine row each)
    accounts: int = 0
    bad_accounts: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def quarantine_rows(self) -> int:
        return self.quarantined + self.bad_pages + self.bad_sections + self.bad_accounts

    def add(self, other: ContractStats) -> None:
        for name in ("pages", "records", "changes", "quarantined", "bad_pages",
                     "bad_sections", "accounts", "bad_accounts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"pages": self.pages, "records": self.records, "changes": self.changes,
                "quarantined_records": self.quarantined, "bad_pages": self.bad_pages,
                "bad_sections": self.bad_sections, "accounts": self.accounts,
                "bad_accounts": self.bad_accounts, "reasons": dict(self.reasons)}


@dataclass
class PageResult:
    changes: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    stats: ContractStats = field(default_factory=ContractStats)


def record_id(raw_ref: str, source_seq: str) -> str:
    return hashlib.sha256(f"{raw_ref}|{source_seq}".encode()).hexdigest()[:32]


def record_text(value: Any) -> str:
    try:
        out = json.dumps(value, ensure_ascii=False, allow_nan=True, default=str)
        out.encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        out = json.dumps(value, ensure_ascii=True, allow_nan=True, default=str)
    except RecursionError:
        out = repr(value)[:QUARANTINE_TEXT]
    if len(out) > QUARANTINE_TEXT:
        out = out[:QUARANTINE_TEXT] + " ...[cut; the raw object holds all of it]"
    return out


def _unicode_ok(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _string(rec: dict, name: str, reasons: list[str], *, required: bool, limit: int) -> None:
    value = rec.get(name)
    if value is None:
        if required:
            reasons.append(f"{name} missing")
        return
    if not isinstance(value, str):
        reasons.append(f"{name} is not a string")
    elif required and not value:
        reasons.append(f"{name} empty")
    elif len(value) > limit:
        reasons.append(f"{name} longer than {limit} characters")
    elif not _unicode_ok(value):
        reasons.append(f"{name} is not valid Unicode")


def parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plausible(x: float, limit: float) -> bool:
    """Finite and below ``limit`` (an int may be too large to become a float at all)."""
    if isinstance(x, int):
        return abs(x) < limit
    return math.isfinite(x) and abs(x) < limit


def transaction_violations(rec: Any, upsert: bool, sync_date: date,
                           currencies: frozenset[str]) -> list[str]:
    """Every rule of the partner schema the record breaks (empty when it is valid)."""
    if not isinstance(rec, dict):
        return [f"record is not an object ({type(rec).__name__})"]
    reasons: list[str] = []
    _string(rec, "transaction_id", reasons, required=True, limit=MAX_ID)
    _string(rec, "account_id", reasons, required=True, limit=MAX_ID)
    if not upsert:
        return reasons
    amount = rec.get("amount")
    if amount is None or not _number(amount):
        reasons.append("amount missing or not a number")
    elif not _plausible(amount, MAX_AMOUNT):
        reasons.append("amount not finite or absurd")
    currency = rec.get("iso_currency_code")
    if not isinstance(currency, str) or currency not in currencies:
        reasons.append("unknown currency")
    posted = parse_date(rec.get("date"))
    if posted is None:
        reasons.append("date missing or not YYYY-MM-DD")
    elif posted < EARLIEST or posted > sync_date + timedelta(days=LATEST_DAYS):
        reasons.append("date implausible")
    authorized = rec.get("authorized_date")
    if authorized is not None and parse_date(authorized) is None:
        reasons.append("authorized_date not YYYY-MM-DD")
    _string(rec, "name", reasons, required=False, limit=MAX_TEXT)
    _string(rec, "merchant_name", reasons, required=False, limit=MAX_TEXT)
    if not isinstance(rec.get("pending"), bool):
        reasons.append("pending missing or not true/false")
    _string(rec, "pending_transaction_id", reasons, required=False, limit=MAX_ID)
    if rec.get("pending_transaction_id") == "":
        reasons.append("pending_transaction_id empty")
    _string(rec, "payment_channel", reasons, required=False, limit=MAX_CHANNEL)
    return reasons


def account_violations(acc: Any, currencies: frozenset[str]) -> list[str]:
    if not isinstance(acc, dict):
        return [f"account is not an object ({type(acc).__name__})"]
    reasons: list[str] = []
    _string(acc, "account_id", reasons, required=True, limit=MAX_ID)
    for name in ("name", "mask", "type", "subtype"):
        _string(acc, name, reasons, required=False, limit=MAX_TEXT)
    balances = acc.get("balances")
    if balances is None:
        return reasons
    if not isinstance(balances, dict):
        return [*reasons, "balances is not an object"]
    for name in ("current", "available"):
        v = balances.get(name)
        if v is not None and (not _number(v) or not _plausible(v, MAX_BALANCE)):
            reasons.append(f"balance {name} not a finite number")
    cur = balances.get("iso_currency_code")
    if cur is not None and cur not in currencies:
        reasons.append("unknown balance currency")
    return reasons


def page_meta(envelope: Any, key: str) -> tuple[dict[str, Any] | None, str]:
    """The page's envelope meta when usable, else (None, why)."""
    if not isinstance(envelope, dict):
        return None, f"page is not a JSON object ({type(envelope).__name__})"
    meta = envelope.get("meta")
    if not isinstance(meta, dict):
        return None, "page has no meta object"
    for name, typ in META_FIELDS.items():
        value = meta.get(name)
        if not isinstance(value, typ) or isinstance(value, bool) or value == "":
            return None, f"meta.{name} missing or not a {typ.__name__}"
    if f"/user={meta['user_id']}/item={meta['item_id']}/" not in f"/{key}":
        return None, "meta user/item do not match the object's place in raw storage"
    try:
        landed = datetime.fromisoformat(meta["landed_at"])
        date.fromisoformat(meta["sync_date"])
        observed = (landed if landed.tzinfo else landed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None, "meta.landed_at or meta.sync_date is not an ISO date"
    meta = dict(meta, observed_at=observed)
    if not isinstance(envelope.get("response"), dict):
        return None, "page has no response object"
    return meta, ""


def stream_seq(meta: dict[str, Any], position: int | str) -> str:
    pos = f"{position:06d}" if isinstance(position, int) else position
    return f"{meta['update_seq']:010d}-{meta['attempt']}-{meta['page']:05d}-{pos}"


def parse_page(body: bytes, key: str, sync_date: date, currencies: frozenset[str],
               quarantined_at: datetime | None = None) -> PageResult:
    """Check one landed page (its object ``key``); return its changes, accounts and rejects."""
    out = PageResult()
    out.stats.pages = 1
    now = quarantined_at or datetime.now(UTC)

    # Whose page it is, from where it landed: an unreadable page has no meta to say, and its
    # quarantine row (its body) must still be the person's, for forget-user to find.
    owner = {k: v for k, _, v in (p.partition("=") for p in key.split("/"))
             if k in ("user", "item")}

    def reject(source: str, meta: dict | None, seq: str | None, section: str | None,
               reasons: list[str], record: str) -> None:
        out.rejected.append({
            "record_id": record_id(key, seq or "page"), "source": source, "raw_ref": key,
            "user_id": meta["user_id"] if meta else owner.get("user"),
            "item_id": meta["item_id"] if meta else owner.get("item"),
            "source_seq": seq, "change_kind": section, "reason": "; ".join(reasons),
            "record": record, "sync_date": sync_date, "quarantined_at": now,
            "status": "quarantined", "released_at": None, "released_ref": None})
        out.stats.reasons.update(reasons)

    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError) as exc:
        envelope, why = None, f"malformed JSON page ({type(exc).__name__}: {str(exc)[:120]})"
        meta = None
    else:
        try:
            meta, why = page_meta(envelope, key)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the page is quarantined
            meta, why = None, f"page meta could not be read ({type(exc).__name__}: {exc})"
    if meta is None:
        out.stats.bad_pages = 1
        reject("transactions_sync_page", None, None, None, [why],
               body[:QUARANTINE_TEXT].decode("utf-8", errors="replace"))
        return out
    response = envelope["response"]
    release = meta.get("release")  # a fixed record keeps its original stream position
    if not (isinstance(release, dict) and isinstance(release.get("source_seq"), str)):
        release = None
    position = 0
    for section in SECTIONS:
        records = response.get(section)
        if records is None:
            continue
        if not isinstance(records, list):
            out.stats.bad_sections += 1
            reject("transactions_sync_section", meta, stream_seq(meta, section), section,
                   [f"response.{section} is not a list"], record_text(records))
            continue
        upsert = section != "removed"
        for rec in records:
            seq = release["source_seq"] if release else stream_seq(meta, position)
            position += 1
            out.stats.records += 1
            try:
                reasons = transaction_violations(rec, upsert, sync_date, currencies)
            except Exception as exc:  # noqa: BLE001 - never crash on what a partner sends
                reasons = [f"record could not be checked ({type(exc).__name__}: {exc})"]
            if reasons:
                out.stats.quarantined += 1
                reject("transactions_sync", meta, seq, section, reasons, record_text(rec))
                continue
            out.stats.changes += 1
            out.changes.append(_change(rec, section, meta, key, seq, sync_date))
    accounts = response.get("accounts")
    if accounts is not None and not isinstance(accounts, list):
        out.stats.bad_sections += 1
        reject("accounts", meta, stream_seq(meta, "accounts"), "accounts",
               ["response.accounts is not a list"], record_text(accounts))
        accounts = []
    for i, acc in enumerate(accounts or []):
        try:
            reasons = account_violations(acc, currencies)
        except Exception as exc:  # noqa: BLE001 - never crash on what a partner sends
            reasons = [f"account could not be checked ({type(exc).__name__}: {exc})"]
        if reasons:
            out.stats.bad_accounts += 1
            reject("accounts", meta, stream_seq(meta, f"account-{i:04d}"), "accounts", reasons,
                   record_text(acc))
            continue
        out.stats.accounts += 1
        out.accounts.append(_account(acc, meta))
    return out


def _change(rec: dict, section: str, meta: dict, key: str, seq: str, sync_date: date
            ) -> dict[str, Any]:
    upsert = section != "removed"
    row: dict[str, Any] = {f: (rec.get(f) if upsert or f in ("transaction_id", "account_id")
                               else None) for f in TXN_FIELDS}
    if upsert:
        row["amount"] = float(row["amount"])
    row.update(change="upsert" if upsert else "remove", change_kind=section,
               user_id=meta["user_id"], item_id=meta["item_id"], raw_ref=key,
               sync_date=sync_date, observed_at=meta["observed_at"], source_seq=seq)
    return row


def _account(acc: dict, meta: dict) -> dict[str, Any]:
    balances = acc.get("balances") or {}
    return {
        "account_id": acc["account_id"], "user_id": meta["user_id"],
        "item_id": meta["item_id"], "institution_id": meta["institution_id"],
        "name": acc.get("name"), "mask": acc.get("mask"), "type": acc.get("type"),
        "subtype": acc.get("subtype"),
        "balance_current": optional_float(balances.get("current")),
        "balance_available": optional_float(balances.get("available")),
        "currency": balances.get("iso_currency_code"),
        "source_seq": stream_seq(meta, 0), "last_synced_at": meta["observed_at"],
    }


def optional_float(v: Any) -> float | None:
    return None if v is None else float(v)

