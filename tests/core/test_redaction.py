"""Redaction: tokens, secrets and account/routing/card numbers never reach a log or the lake.

Unit tests of :func:`core.redaction.redact` and of the logging hook (plain loggers and
Dagster's event log), the sandbox bank's ``leaky_descriptions`` fault, raw landing, the scan
of stored data (tests/support/secret_scan.py: it finds each kind of leak in each kind of file, and
takes neither adjacent fields, ids, dates nor number columns for account numbers), and a
full demo against a leaky bank with debug logging, after which every log, table version,
Dagster event and file is scanned for the known secrets and for number patterns.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import pickle
import random
import re
import secrets as secrets_module
import shutil
import sqlite3
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._serdes import serialize_value

from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.faults import KINDS, SYNC_ONLY, Fault, FaultPlan
from connectors.sandbox_bank.ids import plaid_id, uuid4_from
from core import redaction
from core.redaction import (
    MASK,
    RedactingFilter,
    aba_valid,
    luhn_valid,
    redact,
    redact_bytes,
    register_secret,
)
from lake.objectstore import LocalObjectStore
from lake.raw import UpdateRef, land_page, land_rejected
from tests.support.secret_scan import LONG_RUN, Scanner, card_like_number


def fake_token(kind: str, env: str, ident: str) -> str:
    """A token of Plaid's shape, never spelled out here (tests/core/test_secrets.py scans the
    repository for them)."""
    return f"{kind}-{env}-{ident}"


TOKEN = fake_token("access", "sandbox", "de3ce8ef-33f8-452c-a685-8671031fc0f6")
CARD = "4111 1111 1111 1111"


# -- redact ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    (f"token {TOKEN} used", "token access-sandbox-**** used"),
    (fake_token("access", "development", "0f1e2d3c-aaaa-4bbb-8ccc-123456789012"),
     "access-development-****"),
    ("Bearer " + fake_token("access", "production", "11111111-2222-4333-8444-555555555555."),
     "Bearer access-production-****."),
    (fake_token("public", "sandbox", "9a8b7c6d-1111-4222-8333-444455556666"),
     "public-sandbox-****"),
    ('{"access_token": "access-sandbox-abc123"}', '{"access_token": "access-sandbox-****"}'),
])
def test_partner_tokens_are_masked(text: str, want: str) -> None:
    assert redact(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("PAYMENT CARD 4111 1111 1111 1111", "PAYMENT CARD ****1111"),
    ("card 4111-1111-1111-1111 exp 12/27", "card ****1111 exp 12/27"),
    ("4111111111111111", "****1111"),
    ("amex 3782 822463 10005 ok", "amex ****0005 ok"),
    ("amex 378282246310005", "amex ****0005"),
    ("visa13 4222222222222", "visa13 ****2222"),
    ("19 digits 6011000990139424009", "19 digits ****4009"),
])
def test_card_numbers_keep_their_last_four(text: str, want: str) -> None:
    assert redact(text) == want


def test_card_groups_must_pass_luhn() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert redact("4111 1111 1111 1112") == "4111 1111 1111 1112"
    # 18-19 digit runs are masked only when Luhn-valid (a nanosecond clock is not a card)
    assert not luhn_valid("1718000000123456780")
    assert redact("t=1718000000123456780") == "t=1718000000123456780"


@pytest.mark.parametrize(("text", "want"), [
    ("ONLINE TRANSFER TO CHK 000123456789 ROUTING 021000021",
     "ONLINE TRANSFER TO CHK ****6789 ROUTING ****0021"),
    ("wire to 0001234567 today", "wire to ****4567 today"),  # 10 digits
    ("acct 12345678901234567", "acct ****4567"),  # 17 digits
    ("ACCT# 12345678", "ACCT# ****5678"),  # shorter, after a keyword
    ("account number: 1234567", "account number: ****4567"),
    ("Acct no. 654321", "Acct no. ****4321"),
    ("A/C 654321", "A/C ****4321"),
    ("SAV-12345678", "SAV-****5678"),
    ("IBAN 123456789", "IBAN ****6789"),
    ("routing 011000015 and 021000021", "routing ****0015 and ****0021"),
    ("TRANSFER 2 000123456789 12.50", "TRANSFER 2 ****6789 12.50"),
])
def test_account_and_routing_numbers_keep_their_last_four(text: str, want: str) -> None:
    assert redact(text) == want


def test_routing_numbers_need_the_aba_checksum() -> None:
    assert aba_valid("021000021") and aba_valid("011000015")
    assert not aba_valid("123456789")
    assert redact("order 123456789 shipped") == "order 123456789 shipped"


@pytest.mark.parametrize("text", [
    "amount 1234.56", "amount -42.50", "big 1234567890.12", "ts 1718000000.123456",
    "2025-03-01", "2025-03-01T12:34:56.123456+00:00", "20250301", "on 03/01/2025 at 12:00",
    "acct 12345", "CHK ...1234", "XXXXXX1234", "12345678", "item 87654321 done",
    "phone 800-932-2732", "+1 (415) 555-0199", "ZIP 94103-1234",
    "PAYROLL PPD ID: 123456",  # fewer than 10 digits and no account keyword
    "x1234567890y", "abc_1234567890", "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",
    "5f3a9c1b2d4e6f708192a3b4c5d6e7f8",
    "raw/transactions_sync/sync_date=2025-03-01/user=user_0001/item=abc/update=0000000012/"
    "attempt=20250301T123456123456Z/page-00001.json",
    "_delta_log/00000000000000000012.json", "part-00000-1234.c000.snappy.parquet",
    "acct 1234567.89",
])
def test_what_is_not_a_secret_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_ids_the_sandbox_and_the_pipeline_make_are_left_alone() -> None:
    rng = random.Random(3)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(20000)]
    ids += [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(2000)]
    ids += [plaid_id(7, "txn", i) for i in range(5000)]  # transaction/account/item ids
    ids += [plaid_id(7, "req", i, length=15) for i in range(2000)]  # request ids
    ids += [uuid4_from(7, "x", i) for i in range(2000)]
    # UUIDs whose last group is all decimal digits, or starts with a keyword-like "aba"
    ids += ["161b398d-c88a-4343-9d87-123456789012", "898d715a-b969-4edd-bcdb-aba123456789"]
    text = " ".join(ids)
    assert redact(text) == text


def test_redaction_is_idempotent_and_keeps_surrounding_text() -> None:
    text = f"a {TOKEN} b {CARD} c CHK 000123456789 d 021000021 e 1234.56"
    once = redact(text)
    assert once == ("a access-sandbox-**** b ****1111 c CHK ****6789 d ****0021 e 1234.56")
    assert redact(once) == once
    assert redact("") == "" and redact(None) is None  # type: ignore[arg-type]


def test_registered_secrets_are_masked() -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    assert register_secret(secret) == secret
    assert redact(f"x {secret} y") == f"x {MASK} y"
    assert redact(f"x {secret} y", registered=False) == f"x {secret} y"  # raw pages: text only
    register_secret("sandbox")  # too short to be a secret: masking it would mangle text
    assert redact("the sandbox bank") == "the sandbox bank"
    register_secret(TOKEN)  # masked by its shape already
    assert TOKEN not in redaction._secrets


def test_bytes_that_are_not_utf8_pass_through() -> None:
    body = b'{"name": "CHK 000123456789 \xff\xfe", "x": 1'
    assert redact_bytes(body) == b'{"name": "CHK ****6789 \xff\xfe", "x": 1'
    assert redact_bytes(b"\x00\x01 nothing") == b"\x00\x01 nothing"


def test_redaction_is_fast() -> None:
    line = "item abc: synced 12 pages (+40 ~2 -1) in 3.2s at 2025-03-01T12:00:00"
    t0 = time.perf_counter()
    for _ in range(20000):
        redact(line)
    assert time.perf_counter() - t0 < 2.0
    words = "no digits in this message at all, only words " * 20000
    t0 = time.perf_counter()
    redact(words)
    assert time.perf_counter() - t0 < 0.5


# -- logging --------------------------------------------------------------------------------
@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    redaction.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger(f"test_redaction.{uuid.uuid4().hex}")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)


def test_install_masks_messages_and_arguments(captured) -> None:
    log, stream = captured
    log.debug("linked %s with card %s", TOKEN, CARD)
    log.info("account %(acct)s", {"acct": "000123456789"})
    log.warning(f"inline {TOKEN}")
    out = stream.getvalue()
    assert TOKEN not in out and CARD not in out and "000123456789" not in out
    assert "linked access-sandbox-**** with card ****1111" in out
    assert "account ****6789" in out and "inline access-sandbox-****" in out


def test_install_masks_tracebacks(captured) -> None:
    log, stream = captured
    try:
        raise ValueError(f"partner refused {TOKEN} for CHK 000123456789")
    except ValueError:
        log.exception("sync failed")
    out = stream.getvalue()
    assert "Traceback" in out and "ValueError: partner refused access-sandbox-****" in out
    assert TOKEN not in out and "000123456789" not in out


def test_install_is_idempotent_and_filters_root_handlers() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        redaction.install()
        redaction.install()
        factory = logging.getLogRecordFactory()
        assert getattr(factory, "finlake_redacting", False)
        redaction.install()
        assert logging.getLogRecordFactory() is factory
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        # a record made without the factory is masked by the handler's filter
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "acct %s", ("000123456789",),
                                   None)
        handler.handle(record)
        assert handler.stream.getvalue().strip() == "acct ****6789"
    finally:
        root.removeHandler(handler)


def test_dagster_event_log_holds_masked_messages() -> None:
    redaction.install()

    @dg.asset
    def chatty(context) -> int:  # noqa: ANN001 - Dagster refuses string annotations
        context.log.info("partner token %s", TOKEN)
        context.log.warning(f"description PAYMENT CARD {CARD} CHK 000123456789")
        return 1

    with dg.instance_for_test() as instance:
        result = dg.materialize([chatty], instance=instance)
        assert result.success
        entries = instance.all_logs(result.run_id)
    messages = [e.user_message for e in entries]
    assert "partner token access-sandbox-****" in messages
    assert "description PAYMENT CARD ****1111 CHK ****6789" in messages
    text = "\n".join(serialize_value(e) for e in entries)
    assert TOKEN not in text and CARD not in text and "000123456789" not in text


def test_dagster_failures_are_stored_masked() -> None:
    redaction.install()

    @dg.asset
    def refused() -> int:
        raise ValueError(f"partner refused {TOKEN} for CHK 000123456789")

    with dg.instance_for_test() as instance:
        result = dg.materialize([refused], instance=instance, raise_on_error=False)
        assert not result.success
        entries = instance.all_logs(result.run_id)
    # in memory the run's own events keep the exception as raised ...
    (raised,) = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
    assert TOKEN in (raised.cause or raised).message
    # ... the event log holds it masked
    (failure,) = [e.dagster_event for e in entries if e.dagster_event
                  and e.dagster_event.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    assert "ValueError: partner refused access-sandbox-**** for CHK ****6789" in (
        error.cause or error).to_string()
    text = "\n".join(serialize_value(e) for e in entries)
    assert TOKEN not in text and "000123456789" not in text
    # what the CLI prints about a failed run is masked too
    from finlake.runner import root_cause

    assert root_cause(raised) == "ValueError: partner refused access-sandbox-**** for CHK ****6789"


# -- the leaky_descriptions fault and raw landing -------------------------------------------
def _bank(path: Path) -> SandboxBank:
    return SandboxBank.open(path, seed=7, users=4, history_start=date(2026, 1, 1),
                            clock=date(2026, 2, 15))


def _sync(bank: SandboxBank, token: str) -> dict:
    status, body = bank.handle("/transactions/sync", {
        "client_id": "c", "secret": "s", "access_token": token, "count": 50})
    assert status == 200
    return body


def test_leaky_descriptions_fault(tmp_path: Path) -> None:
    assert "leaky_descriptions" in KINDS and "leaky_descriptions" in SYNC_ONLY
    bank = _bank(tmp_path / "bank")
    item = bank.world.items[0]
    truth_before = bank.truth(item.access_token, None)
    bank.set_fault_plan({item.institution_id: [Fault("leaky_descriptions", count=3)]}, seed=4)
    page = _sync(bank, item.access_token)
    (entry,) = [e for e in bank.fault_log if e["kind"] == "leaky_descriptions"]
    leaks = entry["leaks"]
    assert len(leaks) == 3 and entry["transaction_ids"] == [x["transaction_id"] for x in leaks]
    by_id = {r["transaction_id"]: r for r in page["added"] + page["modified"]}
    for leak in leaks:
        rec = by_id[leak["transaction_id"]]
        assert rec["name"] == rec["original_description"] == leak["text"]
        assert leak["numbers"] and all(n in re.sub(r"[ -]", "", leak["text"])
                                       for n in leak["numbers"])
        for n in leak["numbers"]:  # short (after ACCT#), routing, account, card
            assert n.isdigit() and (len(n) in (8, 10, 11, 12, 13, 14) or len(n) == 9
                                    and aba_valid(n) or len(n) in (15, 16) and luhn_valid(n))
        assert redact(leak["text"]) != leak["text"]
        assert not any(n in re.sub(r"[ -]", "", redact(leak["text"])) for n in leak["numbers"])
    # the bank's truth is unchanged; a second plan leaks into original_description only
    assert bank.truth(item.access_token, None) == truth_before
    bank.set_fault_plan({item.institution_id: [Fault("leaky_descriptions", in_name=False)]},
                        seed=4)
    again = _sync(bank, item.access_token)
    leak = [e for e in bank.fault_log if e["kind"] == "leaky_descriptions"][-1]["leaks"][0]
    rec = {r["transaction_id"]: r for r in again["added"]}[leak["transaction_id"]]
    assert rec["original_description"] == leak["text"] and rec["name"] != leak["text"]
    with pytest.raises(ValueError, match="in_name"):
        Fault("leaky_descriptions", in_name="yes")
    plan = FaultPlan.every_kind([f"ins_{i}" for i in range(1, 25)], seed=11)
    (acceptance,) = [f for fs in plan.values() for f in fs if f.kind == "leaky_descriptions"]
    assert acceptance["in_name"] is False  # reconciliation compares names with the truth


def test_pages_land_masked_and_a_retry_lands_the_same_bytes(tmp_path: Path) -> None:
    bank = _bank(tmp_path / "bank")
    item = bank.world.items[0]
    bank.set_fault_plan({item.institution_id: [Fault("leaky_descriptions", count=4)]}, seed=9)
    page = _sync(bank, item.access_token)
    leaks = bank.fault_log[-1]["leaks"]
    page["added"][0] = {**page["added"][0], "counterparties": [
        {"name": "TRANSFER ACCT 000123456789", "type": "financial_institution"}],
        "payment_meta": {"reference_number": "4111111111111111", "ppd_id": None}}
    page["accounts"][0] = {**page["accounts"][0], "official_name": "Checking 0009876543210"}
    sent = json.dumps(page)
    store = LocalObjectStore(tmp_path / "lake")
    ref = UpdateRef(date(2026, 2, 15), item.user_id, item.item_id, 1, "20260216T000000000000Z")
    key = land_page(store, ref, 1, page, item.institution_id, "2026-02-16T00:00:00+00:00",
                    contract_error="bad value 000123456789")
    assert json.dumps(page) == sent  # the caller's body is untouched
    landed = store.get(key)
    # the same page landed again (a retry, another process): identical bytes, no error
    assert land_page(store, ref, 1, json.loads(sent), item.institution_id,
                     "2026-02-16T00:00:00+00:00", "bad value 000123456789") == key
    assert store.get(key) == landed
    text = landed.decode()
    digits = re.sub(r"(?<=\d)[ -](?=\d)", "", text)
    for leak in leaks:
        assert not any(n in digits for n in leak["numbers"]), leak
    for n in ("000123456789", "4111111111111111", "0009876543210"):
        assert n not in text
    doc = json.loads(landed)
    assert doc["meta"]["contract_error"] == "bad value ****6789"
    originals = {r["transaction_id"]: r for r in page["added"] + page["modified"]}
    for rec in doc["response"]["added"] + doc["response"]["modified"]:
        orig = originals[rec["transaction_id"]]
        # ids, amounts and dates are untouched; only free text is masked
        assert {k: v for k, v in rec.items() if k not in ("name", "original_description",
                                                          "counterparties", "payment_meta")} \
            == {k: v for k, v in orig.items() if k not in ("name", "original_description",
                                                           "counterparties", "payment_meta")}
        assert rec["name"] == redact(orig["name"], registered=False)
    # an unreadable body is kept as received, but for its numbers
    raw = b'{"added": [{"name": "PAYMENT CARD 4111 1111 1111 1111", \xff'
    rkey = land_rejected(store, ref, 2, raw)
    assert store.get(rkey) == b'{"added": [{"name": "PAYMENT CARD ****1111", \xff'
    assert land_rejected(store, ref, 2, raw) == rkey


# -- the scan of stored data (tests/support/secret_scan.py) ----------------------------------------
PLANTED_SECRET = "sk-" + secrets_module.token_hex(16)
LEAKS = {  # what leaks, as text, and what the scan must call it
    "account number": ("ONLINE TRANSFER TO 000123456789 REF", "account number (10-17 digits)"),
    "account number glued to its keyword": ("ACCT12345678901 DEBIT",
                                            "account number after a keyword"),
    "routing number": ("WIRE VIA 021000021 OK", "routing number (ABA checksum)"),
    "card number": ("PAYMENT 4111111111111111", "card number (Luhn)"),
    "card number in groups": ("CARD 4111 1111 1111 1111 EXP 12/27", "card number (Luhn)"),
    "known secret": (f"partner said {PLANTED_SECRET}.", "known secret the partner secret"),
}


def _in_sqlite(path: Path, text: str) -> Path:
    db = path / "runs.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE runs (id INTEGER, partition TEXT, note TEXT, started REAL)")
        conn.execute("INSERT INTO runs VALUES (1, 'daily_suite2026-12-04', ?, 1796531732.7)",
                     (text,))
    return db


def _in_sqlite_blob(path: Path, text: str) -> Path:  # as Dagster keeps its snapshots
    db = path / "snapshots.db"
    body = zlib.compress(json.dumps({"description": text, "tags": {}}).encode())
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE snapshots (id INTEGER, snapshot_body BLOB)")
        conn.execute("INSERT INTO snapshots VALUES (1, ?)", (body,))
    return db


def _in_sqlite_wal(path: Path, text: str) -> Path:
    """A database whose rows are still in its write-ahead log, as a crash leaves it."""
    (path / "live").mkdir()
    with contextlib.closing(sqlite3.connect(path / "live" / "runs.db")) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        with conn:
            conn.execute("CREATE TABLE runs (partition TEXT, note TEXT)")
            conn.execute("INSERT INTO runs VALUES ('daily_suite2026-12-04', ?)", (text,))
        for suffix in ("", "-wal"):  # copied before the close checkpoints the log
            shutil.copyfile(path / "live" / f"runs.db{suffix}", path / f"runs.db{suffix}")
    assert text.encode() not in (path / "runs.db").read_bytes()
    return path / "runs.db"


def _in_parquet(path: Path, text: str) -> Path:
    pq.write_table(pa.table({"id": [1, 2], "name": ["COFFEE", text],
                             "amount": [Decimal("4.50"), Decimal("1234567890.12")]}),
                   path / "part-00000.snappy.parquet")
    return path / "part-00000.snappy.parquet"


def _in_json(path: Path, text: str) -> Path:
    (path / "page-00001.json").write_text(json.dumps(
        {"response": {"added": [{"name": text, "amount": 12.5, "date": "2026-12-04"}]}}))
    return path / "page-00001.json"


def _in_log(path: Path, text: str) -> Path:
    (path / "debug.log").write_text(
        "2026-12-04 10:11:12,123 INFO finlake.sync: item 1 synced 3 pages\n"
        f"2026-12-04 10:11:12,456 DEBUG plaid.rest: response body: {text}\n")
    return path / "debug.log"


def _in_delta_log(path: Path, text: str) -> Path:
    log = path / "tables" / "silver" / "transactions" / "_delta_log"
    log.mkdir(parents=True)
    stats = {"numRecords": 1, "minValues": {"name": text}, "maxValues": {"name": text}}
    (log / "00000000000000000001.json").write_text("\n".join(json.dumps(a) for a in (
        {"commitInfo": {"timestamp": 1796531732703, "operation": "MERGE"}},
        {"add": {"path": "part-00000-79018446-cf57-4e1f-8e9b-3a3b5c7d9e0f.c000.snappy.parquet",
                 "size": 4096, "modificationTime": 1796531732703, "dataChange": True,
                 "stats": json.dumps(stats)}})) + "\n")
    return log / "00000000000000000001.json"


def _in_binary(path: Path, text: str) -> Path:
    (path / "state.bin").write_bytes(b"FLK\x00\x01\x9c\xff" + b"daily_suite2026-12-04\x00"
                                     + text.encode() + b"\x00\x10\xfe")
    return path / "state.bin"


def _in_pickle(path: Path, text: str) -> Path:  # Dagster's IO manager pickles outputs
    (path / "2026-12-04").write_bytes(pickle.dumps({"partitions": ["2026-12-04"],
                                                    "names": [text]}))
    return path / "2026-12-04"


CONTAINERS = {"SQLite cell": _in_sqlite, "zlib blob in SQLite": _in_sqlite_blob,
              "SQLite write-ahead log": _in_sqlite_wal,
              "Parquet cell": _in_parquet, "JSON value": _in_json, "log line": _in_log,
              "Delta log": _in_delta_log, "unknown binary file": _in_binary,
              "pickle": _in_pickle}


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("leak", LEAKS)
def test_the_scan_finds_each_kind_of_leak_in_each_kind_of_file(tmp_path: Path, leak: str,
                                                               container: str) -> None:
    text, want = LEAKS[leak]
    path = CONTAINERS[container](tmp_path, text)
    scan = Scanner({"the partner secret": PLANTED_SECRET})
    scan.file(f"file {path.name}", path)
    assert want in {what for _where, what, _excerpt in scan.hits}, scan.report()
    assert all(where.startswith(f"file {path.name}") for where, _what, _ in scan.hits)


def test_the_scan_finds_known_numbers_and_cards_stored_as_numbers(tmp_path: Path) -> None:
    db = tmp_path / "numbers.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE t (account INTEGER, card INTEGER)")
        # a number column keeps an account number without its leading zeros
        conn.execute("INSERT INTO t VALUES (123456789012, 4111111111111111)")
    scan = Scanner({"the leaked account": "000123456789012"})
    scan.file("file numbers.db", db)
    assert {what for _w, what, _e in scan.hits} == {
        "known secret the leaked account", "card number (Luhn) stored as a number"}
    assert card_like_number(4111111111111111) and not card_like_number(4111111111111112)


def test_adjacent_fields_ids_dates_and_number_columns_are_not_account_numbers(
        tmp_path: Path) -> None:
    rng = random.Random(5)
    ids = ["62759571-6dc1-4f3b-9a2e-0123456789ab", "161b398d-c88a-4343-9d87-123456789012",
           *(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(300))]
    # epoch times in every unit, Luhn-valid ones among them, in 2026 and in 2045 (when
    # milliseconds start with a 2, as Mastercard numbers do)
    millis = [v for start in (1796531732703, 2366841600000) for v in range(start, start + 30)]
    assert sum(luhn_valid(str(v)) for v in millis) >= 4
    times = [*millis, *(v * 1000 for v in millis), *(v * 1_000_000 for v in millis)]
    db = tmp_path / "index.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE event_logs (id INTEGER, partition TEXT, run_id TEXT,"
                     " timestamp TEXT, event TEXT, epoch INTEGER, started REAL, amount REAL)")
        conn.executemany("INSERT INTO event_logs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(
            i, "daily_suite2026-12-04", ids[i % len(ids)], "2026-12-04 10:11:12.123456",
            json.dumps({"run_id": ids[i % len(ids)], "timestamp": 1796531732.703818,
                        "partition": "2026-12-04", "epoch_ns": t, "amount": "1234567890.12",
                        "path": "raw/sync_date=2026-12-04/update=0000000001/page-00001.json",
                        "position": "0000000001-20261204T101112123456Z-00001-000003"}),
            t, 1796531732.703818, 1234567890.12) for i, t in enumerate(times)])
    # the false positive of the raw bytes: the partition and the run id side by side
    assert re.search(r"2026-12-0462759571-6dc1", db.read_bytes().decode("latin-1"))
    assert LONG_RUN.search(db.read_bytes().decode("latin-1"))
    pq.write_table(pa.table({
        "run_id": [ids[i % len(ids)] for i in range(len(times))], "epoch": times,
        "at": [datetime.fromtimestamp(t / 1000, UTC) for t in millis * 3],
        "amount": [Decimal("1234567890.12")] * len(times)}), tmp_path / "events.parquet")
    (tmp_path / "run.log").write_text("\n".join(
        f"2026-12-04T10:11:12.123456+00:00 run {r} step ok in 1234567890.12ms; "
        f"part-00000-{r}.c000.snappy.parquet _delta_log/00000000000000000012.json"
        for r in ids) + "\n")
    (tmp_path / "fields.bin").write_bytes(b"\x00".join(
        f"daily_suite2026-12-04\x01{r}".encode() for r in ids))
    scan = Scanner({"a leaked account": "000123456789"})
    for path in sorted(tmp_path.iterdir()):
        scan.file(f"file {path.name}", path)
    assert scan.scanned > 5000
    assert not scan.hits, scan.report()


# -- the whole demo, scanned ----------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.slow
def test_a_leaky_demo_leaves_no_secret_in_logs_lake_or_dagster(tmp_path, monkeypatch,
                                                              capfd) -> None:
    from connectors.sandbox_bank.embedded import embedded_bank
    from core.settings import load_settings
    from finlake import cli
    from finlake.commands.pipeline import HISTORY_DAYS
    from finlake.runner import prepare_instance
    from lake.lake import Lake

    t0 = time.perf_counter()
    home = tmp_path / "home"
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_PARTNER_HOST", raising=False)
    # A real-looking partner secret (the embedded bank accepts any): it must reach no log,
    # no table and no Dagster storage (resources pass it as an EnvVar, never as a value).
    partner_secret = "sk-" + secrets_module.token_hex(16)
    monkeypatch.setenv("PLAID_SECRET", partner_secret)
    monkeypatch.setenv("FINLAKE_LOG_LEVEL", "DEBUG")
    settings = load_settings()
    days = 2
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = yesterday - timedelta(days=days - 1)
    SandboxBank.open(settings.sandbox_dir, seed=settings.sandbox_seed, users=3,
                     history_start=first - timedelta(days=HISTORY_DAYS),
                     clock=first - timedelta(days=1))
    bank = embedded_bank(settings.sandbox_dir).bank
    bank.set_fault_plan({i["institution_id"]: [Fault("leaky_descriptions", count=3)]
                         for i in bank.institutions()}, seed=5)

    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # The Spark Connect client logs nothing unless SPARK_CONNECT_LOG_LEVEL was set when it
    # was first imported, and every plaid-python client sets the "plaid" and "urllib3"
    # loggers to WARNING: switch on their loggers that write requests and response bodies
    # (the token exchange, the leaky pages), below the levels plaid-python resets.
    chatty = [logging.getLogger(name) for name in (
        "pyspark.sql.connect.logging", "plaid.rest", "urllib3.connectionpool")]
    states = [(c.disabled, c.level) for c in chatty]
    for c in chatty:
        c.disabled = False
        c.setLevel(logging.DEBUG)
    try:
        # the command itself: main() installs the redaction before anything else runs
        assert cli.main(["demo", "--users", "3", "--days", str(days)]) == 0
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for c, (disabled, lvl) in zip(chatty, states, strict=True):
            c.disabled, c.level = disabled, lvl
        handler.close()
    out, err = capfd.readouterr()
    demo_seconds = time.perf_counter() - t0

    secrets = {f"access token of {i.item_id}": i.access_token for i in bank.world.items}
    secrets["the partner secret"] = partner_secret
    leaks = [x for e in bank.fault_log if e["kind"] == "leaky_descriptions" for x in e["leaks"]]
    assert len(leaks) >= 10, "the fault plan leaked too little to prove anything"
    for leak in leaks:
        for n in leak["numbers"]:
            secrets[f"number {n} leaked into {leak['transaction_id']}"] = n
    scan = Scanner(secrets)
    probe, shapes = Scanner(secrets), Scanner({})  # the scan finds what it looks for
    for leak in leaks:
        probe.secrets("probe", leak["text"])
        shapes.patterns(leak["transaction_id"], leak["text"])
    assert len({h[1] for h in probe.hits}) >= len(leaks)
    assert {h[0] for h in shapes.hits} == {x["transaction_id"] for x in leaks}, "a leak that " \
        "only the list of known secrets finds: the scan's number shapes miss a kind of leak"

    # (a) the debug log and everything printed, line by line
    log_text = log_file.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in log_text and len(log_text) > 10_000
    # the partner's answers were logged (tokens, leaky descriptions), masked on the way
    assert "response body" in log_text and "access-sandbox-****" in log_text
    assert any(redact(x["text"]) in log_text.replace('\\"', '"') for x in leaks)
    scan.lines("debug log", log_text)
    scan.lines("stdout", out)
    scan.lines("stderr", err)

    # (b) the raw pages landed, masked
    lake = Lake(settings.lake_root)
    keys = lake.store.list("")
    assert any(k.startswith("raw/transactions_sync/") for k in keys)
    masked = [k for k in keys if k.startswith("raw/") and b"****" in lake.store.get(k)]
    assert masked, "no raw page shows a masked number: did the leaks land at all?"

    # (c) every cell of every table at every version, as Delta reads it
    cells = 0
    for t in lake.tables():
        dt = lake.delta(t)
        for v in sorted(h["version"] for h in dt.history()):
            dt.load_as_version(v)
            for row in dt.to_pyarrow_table().to_pylist():
                cells += len(row)
                for col, value in row.items():
                    scan.value(f"table {t.name} v{v} column {col}", value)
    assert cells > 1000

    # (d) every event of every Dagster run (messages and metadata), runs and their jobs
    instance = prepare_instance(settings)
    runs = instance.get_runs()
    assert len(runs) >= days
    events = 0
    for run in runs:
        scan.json(f"dagster run {run.run_id}", serialize_value(run))
        snap = instance.get_job_snapshot(run.job_snapshot_id) if run.job_snapshot_id else None
        if snap is not None:
            scan.json(f"dagster job snapshot {run.job_name}", serialize_value(snap))
        for entry in instance.all_logs(run.run_id):
            events += 1
            scan.json(f"dagster event {run.run_id} {entry.dagster_event_type}",
                      serialize_value(entry))
    assert events > 100

    # (e) every file under FINLAKE_HOME, by what it holds (tests/support/secret_scan.py): the lake's
    # objects (raw pages, table files, Delta logs, quality reports, state), Dagster's SQLite
    # storage, compute logs and pickled outputs, keys; not the sandbox bank, which is the
    # partner's own store
    files = 0
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.is_relative_to(settings.sandbox_dir):
            files += 1
            name = path.relative_to(home).as_posix()
            scan.file(f"file {name}", path, name)
    assert files > 100

    assert scan.scanned > 1000
    assert not scan.hits, scan.report()
    with capfd.disabled():
        print(f"\ndemo {demo_seconds:.0f}s, scan {time.perf_counter() - t0 - demo_seconds:.0f}s"
              f": {len(secrets)} secrets, {len(leaks)} leaky records, {cells} cells, "
              f"{events} Dagster events, {files} files")
