"""Redaction: tokens, secrets and account/routing/card numbers never reach a log or the lake.

Unit tests of :func:`finlake.redaction.redact` and of the logging hook (plain loggers and
Dagster's event log), the sandbox bank's ``leaky_descriptions`` fault, raw landing, and a
full demo against a leaky bank with debug logging, after which every log, raw object, table
version, Dagster event and file is scanned for the known secrets and for number patterns.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import secrets as secrets_module
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster._serdes import serialize_value

from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.faults import KINDS, SYNC_ONLY, Fault, FaultPlan
from connectors.sandbox_bank.ids import plaid_id, uuid4_from
from finlake import redaction
from finlake.redaction import (
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


def fake_token(kind: str, env: str, ident: str) -> str:
    """A token of Plaid's shape, never spelled out here (tests/test_secrets.py scans the
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


# -- the whole demo, scanned ----------------------------------------------------------------
# Number patterns nothing we write may hold. Long runs stop at word characters and at
# decimal points on both sides: ids (hex, base62) and decimal numbers are not account
# numbers. Zero-padded update numbers are not either: the raw layout's update=0000000001,
# and the change-stream positions (source_seq, content_seq) that start with them,
# "0000000001-20260301T120000123456Z-00001-000003" (update-attempt-page-index).
LONG_RUN = re.compile(r"(?<![\w.])(?<!update=)(?<![0-9a-f]{4}-)\d{10,17}(?!\w|\.\d)"
                      r"(?!-\d{8}T\d{12}Z-)", re.I)
# Cards as they are printed: contiguous, or in groups of 4 (Amex 4-6-5), one space or dash
# between groups. Any digits with any separators would take a Delta file name's
# "part-00000-79018446-cf57-..." (a counter and a UUID's first group) for a card. Not after
# "hhhh-" either (as the redaction): the Spark client's debug log prints string columns'
# Arrow buffers, where change-stream positions run together ("...Z-00001-0000080000000001-").
CARD_LIKE = re.compile(r"(?<![\w.])(?<![0-9a-f]{4}-)(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}"
                       r"[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{4,5})(?!\w|\.\d)", re.I)
TOKEN_SHAPE = re.compile(r"\b(?:access|public)-(?:sandbox|development|production)-[0-9a-f]{6}")


# Every secret and pattern above needs 4 digits in a row or a token prefix.
MAYBE = re.compile(r"\d{4}|(?:access|public)-")


DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){7,}")  # 8+ digits, single separators allowed


class Scanner:
    def __init__(self, secrets: dict[str, str]) -> None:
        # a number is found as one or more whole groups of a run of digits (a card may be
        # printed in groups), not inside a longer number; other secrets as they are
        self.numbers = {v: k for k, v in secrets.items() if v.isdigit()}
        self.others = {v: k for k, v in secrets.items() if not v.isdigit()}
        self.hits: list[tuple[str, str, str]] = []
        self.scanned = 0

    def _hit(self, where: str, what: str, text: str, m: re.Match[str]) -> None:
        excerpt = text[max(0, m.start() - 60):m.end() + 60].replace("\n", " ")
        self.hits.append((where, what, excerpt))

    def report(self) -> str:
        """Hits grouped by place (numbers in it folded) and kind, with one example each."""
        groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for where, what, excerpt in self.hits:
            groups.setdefault((re.sub(r"\d+", "N", where), what), []).append((where, excerpt))
        return f"{len(self.hits)} hit(s):\n" + "\n".join(
            f"{len(v)} x {what} in {place}, e.g. {v[0][0]}: ...{v[0][1]}..."
            for (place, what), v in sorted(groups.items()))

    def secrets(self, where: str, text: str) -> None:
        self.scanned += 1
        if not MAYBE.search(text):
            return
        for value, label in self.others.items():
            start = text.find(value)
            while start >= 0:
                self._hit(where, f"known secret {label}", text,
                          re.compile(re.escape(value)).search(text, start))  # type: ignore[arg-type]
                start = text.find(value, start + 1)
        for m in DIGIT_RUN.finditer(text):  # whole groups of digits, or a card's groups
            groups = re.split(r"[ -]", m.group(0))
            for i in range(len(groups)):
                digits = ""
                for group in groups[i:]:
                    digits += group
                    if len(digits) > 19:
                        break
                    if digits in self.numbers:
                        self._hit(where, f"known secret {self.numbers[digits]}", text, m)

    def patterns(self, where: str, text: str) -> None:
        if not MAYBE.search(text):
            return
        for m in LONG_RUN.finditer(text):
            self._hit(where, "10-17 digit run", text, m)
        for m in CARD_LIKE.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn_valid(digits) and len(set(digits)) > 1:
                self._hit(where, "Luhn-valid card-like number", text, m)
        for m in TOKEN_SHAPE.finditer(text):
            self._hit(where, "partner token", text, m)

    def text(self, where: str, text: str) -> None:
        self.secrets(where, text)
        self.patterns(where, text)

    def value(self, where: str, value: Any) -> None:
        """A decoded value: strings get every check; numbers are not text anybody sent (they
        are counts, amounts, epoch times), so only the known secrets are looked for."""
        if isinstance(value, str):
            self.text(where, value)
        elif isinstance(value, dict):
            for k, v in value.items():
                self.value(where, k)
                self.value(where, v)
        elif isinstance(value, list | tuple):
            for v in value:
                self.value(where, v)
        elif value is not None:
            self.secrets(where, str(value))

    def json(self, where: str, text: str) -> None:
        """A JSON document (or JSON lines): the whole text for the known secrets; for the
        patterns every string in it, JSON held in strings decoded (Delta's commit info and
        column stats, min/max of string columns included). JSON numbers are counts, sizes
        and epoch times."""
        self.secrets(where, text)
        try:
            docs = [json.loads(text)]
        except ValueError:
            docs = []
            for line in text.splitlines():
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    self.patterns(where, line)
        for doc in docs:
            self._walk(where, doc)

    def _walk(self, where: str, doc: Any) -> None:
        if isinstance(doc, str):
            if doc.startswith(("{", "[")):
                try:
                    inner = json.loads(doc)
                except ValueError:
                    pass
                else:
                    self._walk(where, inner)
                    return
            self.patterns(where, doc)
        elif isinstance(doc, dict):
            for k, v in doc.items():
                self.patterns(where, k)
                self._walk(where, v)
        elif isinstance(doc, list):
            for v in doc:
                self._walk(where, v)


@pytest.mark.integration
@pytest.mark.slow
def test_a_leaky_demo_leaves_no_secret_in_logs_lake_or_dagster(tmp_path, monkeypatch,
                                                              capfd) -> None:
    from connectors.sandbox_bank.embedded import embedded_bank
    from finlake import cli
    from finlake.commands import HISTORY_DAYS
    from finlake.runner import prepare_instance
    from finlake.settings import load_settings
    from lake.catalog import Lake

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
    probe = Scanner(secrets)  # the scan finds what it looks for, as the bank sent it
    for leak in leaks:
        probe.text("probe", leak["text"])
    assert len({h[1] for h in probe.hits}) >= len(leaks)

    # (a) the debug log and everything printed
    log_text = log_file.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in log_text and len(log_text) > 10_000
    # the partner's answers were logged (tokens, leaky descriptions), masked on the way
    assert "response body" in log_text and "access-sandbox-****" in log_text
    assert any(redact(x["text"]) in log_text.replace('\\"', '"') for x in leaks)
    scan.text("debug log", log_text)
    scan.text("stdout", out)
    scan.text("stderr", err)

    # (b) every raw object (and the rest of the object store but for table files)
    lake = Lake(settings.lake_root)
    keys = lake.store.list("")
    assert any(k.startswith("raw/transactions_sync/") for k in keys)
    table_keys = tuple(f"{t.key}/" for t in lake.tables())
    masked = [k for k in keys if k.startswith("raw/") and b"****" in lake.store.get(k)]
    assert masked, "no raw page shows a masked number: did the leaks land at all?"
    for key in keys:
        if key.startswith(table_keys):
            continue
        body = lake.store.get(key).decode("utf-8", errors="replace")
        scan.json(f"object {key}", body) if key.endswith(".json") \
            else scan.text(f"object {key}", body)

    # (c) every cell of every table at every version, and the Delta logs as text
    cells = 0
    for t in lake.tables():
        dt = lake.delta(t)
        for v in sorted(h["version"] for h in dt.history()):
            dt.load_as_version(v)
            for row in dt.to_pyarrow_table().to_pylist():
                cells += len(row)
                for col, value in row.items():
                    scan.value(f"table {t.name} v{v} column {col}", value)
        for key in lake.store.list(f"{t.key}/_delta_log/"):
            if key.endswith(".parquet"):  # a checkpoint: log actions, decoded
                table = pq.read_table(io.BytesIO(lake.store.get(key)))
                scan.value(f"object {key}", table.to_pylist())
            else:  # commits (JSON lines), version checksums, _last_checkpoint
                scan.json(f"object {key}", lake.store.get(key).decode())
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
            scan.secrets(f"dagster job snapshot {run.job_name}", serialize_value(snap))
        for entry in instance.all_logs(run.run_id):
            events += 1
            scan.json(f"dagster event {run.run_id} {entry.dagster_event_type}",
                      serialize_value(entry))
    assert events > 100

    # (e) every other file under FINLAKE_HOME (Dagster's storage and compute logs, keys,
    # state), as bytes; the sandbox bank is the partner's own store, not ours, and the lake's
    # objects were scanned above (table files decoded)
    files = 0
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.is_relative_to(settings.sandbox_dir) \
                or path.is_relative_to(settings.lake_root):
            continue
        files += 1
        data = path.read_bytes().decode("utf-8", errors="replace")
        where = f"file {path.relative_to(home)}"
        scan.text(where, data)
    assert files > 10

    assert scan.scanned > 1000
    assert not scan.hits, scan.report()
    with capfd.disabled():
        print(f"\ndemo {demo_seconds:.0f}s, scan {time.perf_counter() - t0 - demo_seconds:.0f}s"
              f": {len(secrets)} secrets, {len(leaks)} leaky records, {cells} cells, "
              f"{events} Dagster events, {files} files")
