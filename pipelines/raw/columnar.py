"""The raw contract, columnar: a chunk of landed pages checked into Arrow columns.

Same rules, reasons, counts and rows as the record-by-record contract
(:func:`pipelines.raw.contract.parse_page`), which stays the reference: any page this path
does not read exactly as ``json.loads`` would (not UTF-8, ``NaN``, a lone surrogate, a number
out of range, not an object, a bad meta or section, a record that is not an object) goes
through ``parse_page`` whole.

The fast path decodes a page with msgspec into typed records (only the contract's fields are
built; the rest is validated and skipped), keeps each record's raw JSON, and checks a batch
of pages' records column by column: types by one pass per column, lengths, currencies and
numbers with Arrow compute, dates once per distinct value. A record any column check flags
is decoded with ``json.loads`` and given the contract's own
:func:`~pipelines.raw.contract.transaction_violations`, so every reason is the reference's.
Accounts (a few a page) are checked one by one, as before, into columns.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.raw import contract
from pipelines.raw.contract import ContractStats, parse_page, transaction_violations

CHANGE_SCHEMA = pa.schema([
    ("change", pa.string()), ("change_kind", pa.string()),
    ("transaction_id", pa.string()), ("account_id", pa.string()), ("amount", pa.float64()),
    ("iso_currency_code", pa.string()), ("date", pa.string()),
    ("authorized_date", pa.string()), ("name", pa.string()), ("merchant_name", pa.string()),
    ("pending", pa.bool_()), ("pending_transaction_id", pa.string()),
    ("payment_channel", pa.string()), ("user_id", pa.string()), ("item_id", pa.string()),
    ("raw_ref", pa.string()), ("sync_date", pa.date32()),
    ("observed_at", pa.timestamp("us", tz="UTC")), ("source_seq", pa.string()),
])
ACCOUNT_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("user_id", pa.string()), ("item_id", pa.string()),
    ("institution_id", pa.string()), ("name", pa.string()), ("mask", pa.string()),
    ("type", pa.string()), ("subtype", pa.string()), ("balance_current", pa.float64()),
    ("balance_available", pa.float64()), ("currency", pa.string()),
    ("source_seq", pa.string()), ("last_synced_at", pa.timestamp("us", tz="UTC")),
])
log = logging.getLogger(__name__)
_NONE = type(None)
_BIG = 1e18  # an int beyond this is absurd as an amount (and may not fit a float at all)


class _Txn(msgspec.Struct):
    """The contract's fields of one record (a missing field reads as null, like ``.get``)."""

    transaction_id: Any = None
    account_id: Any = None
    amount: Any = None
    iso_currency_code: Any = None
    date: Any = None
    authorized_date: Any = None
    name: Any = None
    merchant_name: Any = None
    pending: Any = None
    pending_transaction_id: Any = None
    payment_channel: Any = None


class _Response(msgspec.Struct):
    added: list[msgspec.Raw] | None = None
    modified: list[msgspec.Raw] | None = None
    removed: list[msgspec.Raw] | None = None
    accounts: list[Any] | None = None


class _Page(msgspec.Struct):
    meta: Any = None
    response: _Response | None = None


_PAGE = msgspec.json.Decoder(_Page)
_TXNS = msgspec.json.Decoder(list[_Txn])
_TXN = msgspec.json.Decoder(_Txn)
_NOT_AN_OBJECT = _Txn()  # stands in for a record that is not a JSON object (always flagged)


@dataclass
class Checked:
    """A chunk's outcome: changes and accounts as Arrow, rejects as quarantine rows."""

    stats: ContractStats = field(default_factory=ContractStats)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    changes: list[pa.Table] = field(default_factory=list)
    accounts: list[pa.Table] = field(default_factory=list)


@dataclass
class _Batch:
    """Records of consecutive fast-path pages, waiting to be checked together."""

    recs: list[_Txn] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    page: list[int] = field(default_factory=list)      # index into ``pages``
    kind: list[int] = field(default_factory=list)      # index into contract.SECTIONS
    pos: list[int] = field(default_factory=list)       # position in the page's stream
    pages: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    stats: ContractStats = field(default_factory=ContractStats)
    account_rejects: list[list[tuple[dict[str, Any], list[str]]]] = field(default_factory=list)
    accounts: dict[str, list[Any]] = field(
        default_factory=lambda: {f: [] for f in ACCOUNT_SCHEMA.names})


def check_pages(pages: list[tuple[str, bytes]], sync_date: date, currencies: frozenset[str],
                now: datetime) -> Checked:
    """Check landed pages (key, body) in order; results in the same order as page by page."""
    out = Checked()
    batch = _Batch()
    for key, body in pages:
        read = _read(body, key)
        if read is None:
            _checked(batch, out, sync_date, currencies, now)
            batch = _Batch()
            _reference(out, parse_page(body, key, sync_date, currencies, now))
        else:
            _add(batch, key, body, *read, sync_date, currencies, now)
    _checked(batch, out, sync_date, currencies, now)
    return out


def _checked(batch: _Batch, out: Checked, sync_date: date, currencies: frozenset[str],
             now: datetime) -> None:
    """The batch checked into ``out``; should the columnar checks ever fail, page by page."""
    part = Checked()
    try:
        _flush(batch, part, sync_date, currencies, now)
    except Exception:  # noqa: BLE001 - never crash on what a partner sends
        log.exception("columnar raw contract failed on %d pages; checking them one by one",
                      len(batch.pages))
        part = Checked()
        for (key, _, _), body in zip(batch.pages, batch.bodies, strict=True):
            _reference(part, parse_page(body, key, sync_date, currencies, now))
    out.stats.add(part.stats)
    out.rejected.extend(part.rejected)
    out.changes.extend(part.changes)
    out.accounts.extend(part.accounts)


def _reference(out: Checked, page: Any) -> None:
    out.stats.add(page.stats)
    out.rejected.extend(page.rejected)
    if page.changes:
        out.changes.append(pa.Table.from_pylist(page.changes, schema=CHANGE_SCHEMA))
    if page.accounts:
        out.accounts.append(pa.Table.from_pylist(page.accounts, schema=ACCOUNT_SCHEMA))


def _read(body: bytes, key: str) -> tuple[dict, list, list, list[int], list[Any]] | None:
    """(meta, records, their raw JSON, accounts) of a page the fast path reads exactly as
    ``json.loads`` does, else None."""
    if not body.isascii():
        try:  # json.loads refuses a page that is not UTF-8 anywhere; msgspec checks less
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        page = _PAGE.decode(body)
        response = page.response
        if response is None:
            return None
        meta, _ = contract.page_meta({"meta": page.meta, "response": {}}, key)
        if meta is None:
            return None
        sections = [getattr(response, s) or [] for s in contract.SECTIONS]
        raws = [r for records in sections for r in records]
        recs = _records(raws)
    except Exception:  # noqa: BLE001 - the reference contract says what is wrong with it
        return None
    kinds = [k for k, records in enumerate(sections) for _ in records]
    return meta, recs, raws, kinds, response.accounts or []


def _records(raws: list[msgspec.Raw]) -> list[_Txn]:
    """The records' fields, all at once; one by one when some record is not an object."""
    try:
        return _TXNS.decode(b"[" + b",".join(raws) + b"]")
    except msgspec.ValidationError:
        return [_TXN.decode(r) if memoryview(r)[:1] == b"{" else _NOT_AN_OBJECT
            for r in raws]


def _add(batch: _Batch, key: str, body: bytes, meta: dict, recs: list, raws: list,
         kinds: list[int], accounts: list[Any], sync_date: date, currencies: frozenset[str],
         now: datetime) -> None:
    p, stats = len(batch.pages), batch.stats
    batch.bodies.append(body)
    release = meta.get("release")  # a fixed record keeps its original stream position
    seq = release["source_seq"] if (isinstance(release, dict) and isinstance(
        release.get("source_seq"), str)) else None
    batch.pages.append((key, meta, seq))
    batch.recs.extend(recs)
    batch.raws.extend(raws)
    batch.page.extend([p] * len(recs))
    batch.kind.extend(kinds)
    batch.pos.extend(range(len(recs)))
    stats.pages += 1
    stats.records += len(recs)
    rejects: list[tuple[dict[str, Any], list[str]]] = []
    for i, acc in enumerate(accounts):
        try:
            reasons = contract.account_violations(acc, currencies)
        except Exception as exc:  # noqa: BLE001 - never crash on what a partner sends
            reasons = [f"account could not be checked ({type(exc).__name__}: {exc})"]
        if reasons:
            stats.bad_accounts += 1
            seq = contract.stream_seq(meta, f"account-{i:04d}")
            rejects.append((_reject("accounts", key, meta, seq, "accounts", reasons,
                                    contract.record_text(acc), sync_date, now), reasons))
            continue
        stats.accounts += 1
        _account_columns(batch.accounts, acc, meta)
    batch.account_rejects.append(rejects)


def _account_columns(cols: dict[str, list[Any]], acc: dict, meta: dict) -> None:
    balances = acc.get("balances") or {}
    for name, value in (
            ("account_id", acc["account_id"]), ("user_id", meta["user_id"]),
            ("item_id", meta["item_id"]), ("institution_id", meta["institution_id"]),
            ("name", acc.get("name")), ("mask", acc.get("mask")), ("type", acc.get("type")),
            ("subtype", acc.get("subtype")),
            ("balance_current", contract.optional_float(balances.get("current"))),
            ("balance_available", contract.optional_float(balances.get("available"))),
            ("currency", balances.get("iso_currency_code")),
            ("source_seq", contract.stream_seq(meta, 0)), ("last_synced_at", meta["observed_at"])):
        cols[name].append(value)


def _reject(source: str, key: str, meta: dict, seq: str, section: str, reasons: list[str],
            record: str, sync_date: date, now: datetime) -> dict[str, Any]:
    return {"record_id": contract.record_id(key, seq or "page"), "source": source,
            "raw_ref": key,
            "user_id": meta["user_id"], "item_id": meta["item_id"], "source_seq": seq,
            "change_kind": section, "reason": "; ".join(reasons), "record": record,
            "sync_date": sync_date, "quarantined_at": now, "status": "quarantined",
            "released_at": None, "released_ref": None}


def _flush(batch: _Batch, out: Checked, sync_date: date, currencies: frozenset[str],
           now: datetime) -> None:
    """Check the batch's records; its changes, accounts and rejects (in page order) to out."""
    if not batch.pages:
        return
    upsert = np.array(batch.kind, np.int8) != contract.SECTIONS.index("removed")
    cols, flagged = _screen(batch.recs, upsert, sync_date, currencies)
    valid = np.ones(len(batch.recs), bool)
    by_page: dict[int, list[tuple[dict[str, Any], list[str]]]] = {}
    for i in np.flatnonzero(flagged).tolist():
        rec = json.loads(bytes(batch.raws[i]))
        try:
            reasons = transaction_violations(rec, bool(upsert[i]), sync_date, currencies)
        except Exception as exc:  # noqa: BLE001 - never crash on what a partner sends
            reasons = [f"record could not be checked ({type(exc).__name__}: {exc})"]
        if not reasons:  # flagged but valid: its columns must hold what json.loads read
            if _Txn(**{f: rec.get(f) for f in contract.TXN_FIELDS}) != batch.recs[i]:
                raise ValueError(f"record {i} was read otherwise than json.loads reads it")
            continue
        key, meta, release = batch.pages[batch.page[i]]
        valid[i] = False
        seq = contract.stream_seq(meta, batch.pos[i]) if release is None else release
        by_page.setdefault(batch.page[i], []).append((_reject(
            "transactions_sync", key, meta, seq, contract.SECTIONS[batch.kind[i]], reasons,
            contract.record_text(rec), sync_date, now), reasons))
    for p, account_rejects in enumerate(batch.account_rejects):
        for row, reasons in by_page.get(p, []) + account_rejects:
            out.rejected.append(row)
            out.stats.reasons.update(reasons)
    batch.stats.quarantined = int((~valid).sum())
    batch.stats.changes = int(valid.sum())
    out.stats.add(batch.stats)
    if valid.any():
        out.changes.append(_changes(batch, cols, upsert, sync_date).filter(pa.array(valid)))
    if batch.accounts["account_id"]:
        out.accounts.append(pa.Table.from_pydict(batch.accounts, schema=ACCOUNT_SCHEMA))


def _changes(batch: _Batch, cols: dict[str, pa.Array], upsert: np.ndarray, sync_date: date
             ) -> pa.Table:
    """Every record of the batch as a change row (the caller keeps the valid ones)."""
    page = pa.array(batch.page, pa.int32())
    keys, metas, releases = zip(*batch.pages, strict=True)
    prefix = pa.array([contract.stream_seq(m, "") for m in metas]).take(page)
    seq = pc.binary_join_element_wise(prefix, pc.utf8_lpad(
        pc.cast(pa.array(batch.pos, pa.int64()), pa.string()), 6, "0"), "")
    if any(r is not None for r in releases):
        seq = pc.if_else(pc.is_valid(pa.array(releases, pa.string()).take(page)),
                         pa.array(releases, pa.string()).take(page), seq)
    kind = pa.array(batch.kind, pa.int8())
    keep = pa.array(upsert)
    n = len(batch.recs)
    data = {"change": pa.array(["upsert", "upsert", "remove"]).take(kind),
            "change_kind": pa.array(contract.SECTIONS).take(kind)}
    for name in contract.TXN_FIELDS:
        col = cols[name]
        data[name] = col if name in ("transaction_id", "account_id") else pc.if_else(
            keep, col, pa.nulls(n, col.type))
    data.update(
        user_id=pa.array([m["user_id"] for m in metas], pa.string()).take(page),
        item_id=pa.array([m["item_id"] for m in metas], pa.string()).take(page),
        raw_ref=pa.array(keys, pa.string()).take(page),
        sync_date=pa.array([sync_date] * n, pa.date32()),
        observed_at=pa.array([m["observed_at"] for m in metas],
                             CHANGE_SCHEMA.field("observed_at").type).take(page),
        source_seq=seq)
    return pa.table(data, schema=CHANGE_SCHEMA)


def _screen(recs: list[_Txn], upsert: np.ndarray, sync_date: date,
            currencies: frozenset[str]) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The records' fields as Arrow columns, and which records may break a rule (exactly
    those that do: the checks mirror ``transaction_violations``). A value of the wrong type
    is read as null, and flags its record."""
    values = {name: [getattr(r, name) for r in recs] for name in contract.TXN_FIELDS}
    cols: dict[str, pa.Array] = {}
    bad = np.fromiter((r is _NOT_AN_OBJECT for r in recs), bool, len(recs))
    for name in ("transaction_id", "account_id"):
        cols[name], wrong = _strings(values[name])
        bad |= wrong | _np(cols[name].is_null()) | _length(cols[name], 1, contract.MAX_ID)
    cols["amount"], wrong = _numbers(values["amount"])
    amount = cols["amount"].to_numpy(zero_copy_only=False)  # null: NaN
    with np.errstate(invalid="ignore"):
        rules = wrong | ~(np.abs(amount) < contract.MAX_AMOUNT)
    cols["iso_currency_code"], wrong = _strings(values["iso_currency_code"])
    rules |= ~_np(pc.is_in(cols["iso_currency_code"],
                           value_set=pa.array(sorted(currencies), pa.string())))
    latest = sync_date + timedelta(days=contract.LATEST_DAYS)
    cols["date"], wrong = _strings(values["date"])
    rules |= ~_dates(cols["date"], lambda d: d is not None and contract.EARLIEST <= d <= latest)
    cols["authorized_date"], wrong = _strings(values["authorized_date"])
    rules |= wrong | (_np(cols["authorized_date"].is_valid())
                      & ~_dates(cols["authorized_date"], lambda d: d is not None))
    for name, limit, empty_ok in (("name", contract.MAX_TEXT, True),
                                  ("merchant_name", contract.MAX_TEXT, True),
                                  ("pending_transaction_id", contract.MAX_ID, False),
                                  ("payment_channel", contract.MAX_CHANNEL, True)):
        cols[name], wrong = _strings(values[name])
        rules |= wrong | _length(cols[name], 0 if empty_ok else 1, limit)
    pending = values["pending"]
    wrong = (np.zeros(len(pending), bool) if set(map(type, pending)) == {bool} else
             np.fromiter((type(v) is not bool for v in pending), bool, len(pending)))
    cols["pending"] = pa.array([None if w else v for v, w in zip(pending, wrong, strict=True)]
                               if wrong.any() else pending, pa.bool_())
    rules |= wrong
    return cols, bad | (upsert & rules)


def _np(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _strings(values: list[Any]) -> tuple[pa.Array, np.ndarray]:
    """Text (or null) as Arrow strings; any other value is read as null and flagged."""
    n = len(values)
    if set(map(type, values)) <= {str, _NONE}:
        return pa.array(values, pa.string()), np.zeros(n, bool)
    wrong = np.fromiter((v is not None and type(v) is not str for v in values), bool, n)
    return pa.array([None if w else v for v, w in zip(values, wrong, strict=True)],
                    pa.string()), wrong


def _numbers(values: list[Any]) -> tuple[pa.Array, np.ndarray]:
    """Numbers (not true/false) as float64; anything else, or an absurd int, is null and
    flagged (a missing amount is null and flagged by the caller's NaN test)."""
    n = len(values)
    if set(map(type, values)) <= {float, _NONE}:
        return pa.array(values, pa.float64()), np.zeros(n, bool)
    wrong = np.fromiter((type(v) not in (int, float, _NONE) for v in values), bool, n)
    return pa.array([float(v) if type(v) is int and -_BIG < v < _BIG else
                     v if type(v) is float else None for v in values], pa.float64()), wrong


def _length(col: pa.Array, least: int, most: int) -> np.ndarray:
    """Text shorter than ``least`` or longer than ``most`` characters (code points, as
    Python's ``len``: the decoder only yields valid Unicode); null is neither."""
    n = pc.utf8_length(col)
    return _np(pc.or_(pc.less(n, least), pc.greater(n, most)))


def _dates(col: pa.Array, ok: Any) -> np.ndarray:
    """Which values are dates the contract accepts (``ok`` of the parsed date), judged once
    per distinct value by the contract's own parser."""
    good = [s for s in pc.unique(col).to_pylist() if s is not None and ok(contract.parse_date(s))]
    return _np(pc.is_in(col, value_set=pa.array(good, pa.string())))
