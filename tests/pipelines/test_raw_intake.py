"""Columnar intake (issue 21, item 2): the columnar contract and the pooled intake give exactly
what the record-by-record contract gave: the same changes, accounts, quarantine rows (reasons,
order), counts and staged Parquet, on realistic and hostile pages."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tests.support.fuzz_payloads as fuzz
from lake import raw
from lake.lake import Lake
from lake.raw import UpdateRef, complete_update
from pipelines.categories.reference import currencies
from pipelines.raw import columnar, intake
from pipelines.raw.columnar import ACCOUNT_SCHEMA, CHANGE_SCHEMA, check_pages
from pipelines.raw.contract import ContractStats, parse_page, record_id, transaction_violations

DAY = date(2026, 2, 2)
KNOWN = frozenset(currencies())
NOW = datetime(2026, 2, 2, 3, 4, 5, 678901, tzinfo=UTC)
REF = UpdateRef(DAY, "user_ä1", "item_1", 7, "20260202T020000000000Z")
# mutations json.loads reads but a strict decoder does not (those pages go the reference way)
DECODER_LEVEL = ("surrogate", "nan", "infinity", "1e400")


@pytest.fixture(autouse=True)
def _no_fallback_on_failure(caplog):
    """The columnar checks never fail over to the reference (that would hide a bug here)."""
    yield
    assert not [r for r in caplog.get_records("call") if r.name == columnar.__name__]


def meta_for(n: int, ref: UpdateRef = REF, **extra: Any) -> dict[str, Any]:
    return {"raw_ref": ref.page_key(n), "sync_date": DAY.isoformat(), "user_id": ref.user_id,
            "item_id": ref.item_id, "institution_id": "ins_1", "update_seq": ref.update_seq,
            "attempt": ref.attempt, "page": n, "landed_at": "2026-02-02T02:00:00-05:00",
            **extra}


def reference(pages: list[tuple[str, bytes]]) -> tuple[ContractStats, list, pa.Table, pa.Table]:
    """The record-by-record contract, page by page, as intake ran it before."""
    stats, rejected, changes, accounts = ContractStats(), [], [], []
    for key, body in pages:
        out = parse_page(body, key, DAY, KNOWN, NOW)
        stats.add(out.stats)
        rejected += out.rejected
        changes += out.changes
        accounts += out.accounts
    return (stats, rejected, pa.Table.from_pylist(changes, schema=CHANGE_SCHEMA),
            pa.Table.from_pylist(accounts, schema=ACCOUNT_SCHEMA))


def assert_same(pages: list[tuple[str, bytes]]) -> None:
    stats, rejected, changes, accounts = reference(pages)
    got = check_pages(pages, DAY, KNOWN, NOW)
    assert got.stats.as_dict() == stats.as_dict()
    assert list(got.stats.reasons) == list(stats.reasons)
    assert got.rejected == rejected
    for tables, want in ((got.changes, changes), (got.accounts, accounts)):
        table = pa.concat_tables(tables or [want.schema.empty_table()])
        assert table.schema == want.schema
        assert table.to_pylist() == want.to_pylist()


def fuzzed(seed: int, bad: float, *, strict_json: bool, monkeypatch: pytest.MonkeyPatch,
           pages: int = 30, fault: float = 0.05) -> list[tuple[str, bytes]]:
    if strict_json:
        for name in ("UPSERT_MUTATIONS", "REMOVED_MUTATIONS"):
            monkeypatch.setattr(fuzz, name, {k: v for k, v in getattr(fuzz, name).items()
                                             if not any(d in k for d in DECODER_LEVEL)})
    made = fuzz.generate_pages(seed, pages=pages, records_per_page=60, bad_fraction=bad,
                               sync_date=DAY.isoformat(), meta_for=meta_for,
                               page_fault=fault, section_fault=fault)
    return [(REF.page_key(n), p.body) for n, p in enumerate(made, 1)]


@pytest.mark.parametrize("seed, bad", [(1, 0.0), (2, 0.01), (3, 0.3), (4, 0.9)])
def test_hostile_pages_the_fast_path_reads_give_the_reference_outcome(seed, bad, monkeypatch):
    pages = fuzzed(seed, bad, strict_json=True, monkeypatch=monkeypatch)
    fast = [columnar._read(body, key) is not None for key, body in pages]
    assert sum(fast) >= 0.8 * len(pages)  # the columnar checks, not the fallback, are tested
    assert_same(pages)


@pytest.mark.parametrize("seed", [5, 6])
def test_every_fuzz_mutation_gives_the_reference_outcome(seed, monkeypatch):
    assert_same(fuzzed(seed, 0.3, strict_json=False, monkeypatch=monkeypatch, fault=0.15))


def txn(tid: str, **fields: Any) -> dict[str, Any]:
    return {"transaction_id": tid, "account_id": "acc_1", "amount": 12.5,
            "iso_currency_code": "USD", "date": "2026-01-31", "authorized_date": None,
            "name": "STARBUCKS", "merchant_name": "Starbucks", "pending": False,
            "pending_transaction_id": None, "payment_channel": "in store", **fields}


ACCOUNTS = [
    {"account_id": "acc_1", "name": "Checking", "mask": "0000", "type": "depository",
     "subtype": "checking", "balances": {"current": 10, "available": None,
                                         "iso_currency_code": "USD"}},
    {"account_id": "acc_2", "balances": {"current": "10"}}, 7, {"account_id": ""},
    {"account_id": "acc_3", "balances": [1]}, {"account_id": "acc_4", "balances": None},
]
EDGE_RECORDS = [
    txn("ok"), txn("int amount", amount=12), txn("neg zero", amount=-0.0),
    txn("bound", amount=999_999_999.99), txn("at limit", amount=1e9), txn("neg", amount=-1e9),
    txn("int at limit", amount=10**9), txn("huge int", amount=10**30),
    txn("u64", amount=2**64 - 1), txn("huger int", amount=10**400),
    txn("bool", amount=False), txn("str", amount="1"),
    txn("no amount", amount=None), txn("list", amount=[1]),
    txn("cur", iso_currency_code="usd"), txn("cur num", iso_currency_code=840),
    txn("earliest", date="1990-01-01"), txn("too early", date="1989-12-31"),
    txn("latest", date="2026-03-05"), txn("too late", date="2026-03-06"),
    txn("feb 29", date="2024-02-29"), txn("no feb 29", date="2026-02-29"),
    txn("short", date="2026-1-01"), txn("wide digits", date="２０２６-01-01"),
    txn("week", date="2026-W01-1"), txn("compact", date="20260101"),
    txn("auth ok", authorized_date="2026-01-01"), txn("auth bad", authorized_date="2026-13-01"),
    txn("auth num", authorized_date=1), txn("auth empty", authorized_date=""),
    txn("", account_id=""), txn("t" * 128), txn("t" * 129), txn("東" * 128),
    txn("name", name="é" * 1000), txn("name long", name="é" * 1001),
    txn("name num", name=5), txn("merchant", merchant_name=["x"]),
    txn("pending 0", pending=0), txn("pending str", pending="false"),
    txn("pending null", pending=None), txn("ptid empty", pending_transaction_id=""),
    txn("ptid", pending_transaction_id="p" * 128),
    txn("ptid long", pending_transaction_id="p" * 129),
    txn("chan", payment_channel="c" * 64), txn("chan long", payment_channel="c" * 65),
    txn("chan empty", payment_channel=""), txn("unicode 🍕", name="Café ☕\u202e\x00 \u2028"),
    {"transaction_id": "missing fields", "account_id": "acc_1"}, 42, "x", None, [1], {},
    txn("extras", location={"deep": [[[[{"a": None}]]]]}, extra="🙂", amount2=1e300),
    txn("dup"), txn("dup"),
]


def page(n: int, response: Any, ref: UpdateRef = REF, **meta: Any) -> tuple[str, bytes]:
    return ref.page_key(n), json.dumps({"meta": meta_for(n, ref, **meta),
                                        "response": response}, ensure_ascii=False).encode()


def edge_pages() -> list[tuple[str, bytes]]:
    removed = [{"transaction_id": "r1", "account_id": "acc_1", "amount": "junk", "date": 5},
               {"transaction_id": "", "account_id": "acc_1"}, {"account_id": "acc_1"}, 3]
    pages = [
        page(1, {"added": EDGE_RECORDS, "modified": EDGE_RECORDS[:9], "removed": removed,
                 "accounts": ACCOUNTS}),
        page(2, {"added": [txn("a")], "removed": "oops", "accounts": ACCOUNTS[:1]}),
        page(3, {"added": [txn("b")], "accounts": {"account_id": "acc_1"}}),
        page(4, {"modified": [txn("c")], "added": None, "accounts": None}),
        page(5, {"added": [txn("fix", amount=3)]},
             release={"source_seq": "0000000001-a-00001-000004", "record_id": "x"}),
        page(27, {"added": [txn("fix", amount="3")]},
             release={"source_seq": "0000000001-a-00001-000005", "record_id": "y"}),
        page(6, {"added": [txn("bad release")]}, release={"source_seq": 5}),
        page(28, {"added": [txn("empty release"), txn("", amount="1")]},
             release={"source_seq": ""}),
        page(7, {"added": [txn("d")]}, user_id="someone_else"),
        page(8, {"added": []}, update_seq="7"),
        page(9, None),
        (REF.page_key(10), b'{"meta": {"raw_ref": "x"'),
        (REF.page_key(11), b"\x80\xfe\x00 garbage"),
        (REF.page_key(12), b"[1, 2]"),
    ]
    good = page(13, {"added": [txn("e"), txn("f", amount=4)], "accounts": ACCOUNTS[:1]})
    body = good[1]
    pages += [
        good,
        (REF.page_key(14), body.replace(b'"f"', b'"f", "x": "\xff"')),  # not UTF-8 inside
        (REF.page_key(15), b"\xef\xbb\xbf" + body),  # a byte order mark
        (REF.page_key(16), body.replace(b"4,", b"NaN,")),
        (REF.page_key(17), body.replace(b"4,", b"1e400,")),
        (REF.page_key(18), body.replace(b"4,", b"100000000000000000000000000000,")),
        (REF.page_key(19), body.replace(b'"e"', b'"e\\ud800"')),
        (REF.page_key(20), body.replace(b'"e"', b'"e", "transaction\\u005fid": "g"')),
        (REF.page_key(21), body.replace(b'"e"', b'"e", "deep": ' + b"[" * 5000 + b"]" * 5000)),
        (REF.page_key(22), body.replace(b'"e"', b'"e", "deep": ' + b"[" * 200 + b"]" * 200)),
        (REF.page_key(23), body[: len(body) // 2]),
        (REF.page_key(24), body.replace(b'"e"', b'"e", "amount": 7')),  # a duplicate key
        (REF.page_key(25), body.decode().encode("utf-16")),
        (REF.page_key(26), body.replace(b'"e"', b'"e\\u0000\\"\\\\"')),
    ]
    return pages


def test_edge_cases_give_the_reference_outcome() -> None:
    pages = edge_pages()
    assert columnar._read(*reversed(pages[0])) is not None  # the big page takes the fast path
    assert_same(pages)
    assert_same(pages[:1])
    assert_same([])


def test_the_column_checks_flag_exactly_the_records_that_break_a_rule(monkeypatch) -> None:
    """No record is flagged that passes (each flagged one costs a json.loads), none missed."""
    pages = edge_pages() + fuzzed(9, 0.3, strict_json=True, monkeypatch=monkeypatch)
    recs, raws, kinds = [], [], []
    for key, body in pages:
        read = columnar._read(body, key)
        if read is not None:
            recs += read[1]
            raws += read[2]
            kinds += read[3]
    upsert = np.array(kinds) != 2
    _, flagged = columnar._screen(recs, upsert, DAY, KNOWN)
    breaks = [bool(transaction_violations(json.loads(bytes(r)), u, DAY, KNOWN))
              for r, u in zip(raws, upsert.tolist(), strict=True)]
    assert 100 < sum(breaks) < len(breaks)
    assert flagged.tolist() == breaks


# --- the whole intake: staged Parquet, quarantine rows and counts -----------------------------

def old_intake(lake: Lake) -> tuple[ContractStats, list, pa.Table, pa.Table]:
    """What ``stage_landed_pages`` staged before (parse_page, from_pylist, foreign split)."""
    keys = raw.partition_pages(lake.store, DAY)
    stats, rejected, changes, accounts = reference([(k, lake.store.get(k)) for k in keys])
    linked: dict[str, set[str]] = {}
    for a in accounts.to_pylist():
        linked.setdefault(a["item_id"], set()).add(a["account_id"])
    rows = changes.to_pylist()
    ok = [c for c in rows if c["account_id"] in linked.get(c["item_id"], ())]
    for c in rows:
        if c["account_id"] not in linked.get(c["item_id"], ()):
            stats.changes -= 1
            stats.quarantined += 1
            stats.reasons["account not linked to this item"] += 1
            record = {k: c[k] for k in ("transaction_id", "account_id", "amount",
                                        "iso_currency_code", "date", "name", "pending")}
            rejected.append({
                "record_id": record_id(c["raw_ref"], c["source_seq"]),
                "source": "transactions_sync", "raw_ref": c["raw_ref"], "user_id": c["user_id"],
                "item_id": c["item_id"], "source_seq": c["source_seq"],
                "change_kind": c["change_kind"], "reason": "account not linked to this item",
                "record": json.dumps(record, ensure_ascii=False, default=str),
                "sync_date": c["sync_date"], "quarantined_at": NOW, "status": "quarantined",
                "released_at": None, "released_ref": None})
    return stats, rejected, pa.Table.from_pylist(ok, schema=CHANGE_SCHEMA), accounts


def staged(lake: Lake, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(lake.store.get(key)))


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("intake") / "lake"))
    mp = pytest.MonkeyPatch()
    pages = edge_pages() + [(REF.page_key(n + 100), body) for n, (_, body) in enumerate(
        fuzzed(8, 0.05, strict_json=True, monkeypatch=mp, pages=40))]
    mp.undo()
    for key, body in pages:
        lake.store.put_once(key, body)
    complete_update(lake.store, REF, [k for k, _ in pages], "2026-02-02T02:00:00+00:00", {})
    other = UpdateRef(DAY, "user_2", "item_2", 3, "20260202T030000000000Z")
    # a second item: one record on an account its pages do not list (a partner mix-up)
    pages2 = [page(1, {"added": [txn("mine", account_id="acc_9"), txn("theirs")],
                       "accounts": [{"account_id": "acc_9"}]}, other)]
    for key, body in pages2:
        lake.store.put_once(key, body)
    complete_update(lake.store, other, [k for k, _ in pages2], "2026-02-02T03:00:00+00:00", {})
    return lake


@pytest.mark.parametrize("pooled", [False, True])
def test_intake_stages_and_quarantines_what_it_did_before(landed, pooled, monkeypatch) -> None:
    monkeypatch.setattr(intake, "datetime", type("D", (), {"now": staticmethod(lambda tz: NOW)}))
    if pooled:  # worker processes, small chunks: merged back in page order
        monkeypatch.setattr(intake, "POOL_MIN_PAGES", 1)
        monkeypatch.setattr(intake, "CHUNK_PAGES", 7)
    stats, rejected, changes, accounts = old_intake(landed)
    got = intake.stage_landed_pages(landed, DAY)
    assert (intake._pool is not None) is pooled
    assert got.stats.as_dict() == stats.as_dict()
    assert got.rejected == rejected
    assert any(r["reason"] == "account not linked to this item" for r in got.rejected)
    assert got.changes_uri and got.accounts_uri
    for name, want in (("changes", changes), ("accounts", accounts)):
        table = staged(landed, f"{got.staging}/{name}.parquet")
        assert table.schema == want.schema
        assert table.to_pylist() == want.to_pylist()


@pytest.mark.parametrize("body", [b'{"response": {"added": [{"name": "unterminated',
                                  b"not json at all", b'{"no": "meta"}', b"[1, 2]"])
def test_an_unreadable_page_is_quarantined_as_the_person_it_landed_for(body: bytes) -> None:
    """Soak seed 2385: forget-user found an unreadable page's quarantine row left behind (its
    body is the person's, but user_id and item_id were null). The row now names the user and
    item its raw key is under, so the forget deletes it with the rest."""
    key = ("raw/transactions_sync/sync_date=2026-12-04/user=user_0001/item=G31Tf4vahq/"
           "update=0000000003/attempt=20261204T010203000000Z-00001/page-00001.json")
    out = parse_page(body, key, DAY, KNOWN, NOW)
    assert [(r["user_id"], r["item_id"], r["source"]) for r in out.rejected] == [
        ("user_0001", "G31Tf4vahq", "transactions_sync_page")]
