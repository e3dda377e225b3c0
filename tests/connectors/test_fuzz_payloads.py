"""The hostile-page generator itself: deterministic, honest about what it broke, and varied."""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from pipelines.categories.reference import currencies
from tests.support.fuzz_payloads import (
    ACCOUNTS,
    PAGE_MUTATIONS,
    REMOVED_MUTATIONS,
    SECTION_MUTATIONS,
    UPSERT_MUTATIONS,
    expected_final,
    generate_pages,
    summary,
)

SYNC = "2026-03-01"
UPPER = date(2026, 4, 1)  # SYNC + 31 days


def meta_for(n: int) -> dict:
    return {"raw_ref": f"raw/page-{n:05d}.json", "page": n, "sync_date": SYNC}


def pages(seed: int = 11, **kw: Any):
    args = {"pages": 60, "records_per_page": 100, "bad_fraction": 0.3, "sync_date": SYNC,
            "meta_for": meta_for, **kw}
    return generate_pages(seed, **args)


@pytest.fixture(scope="module")
def run():
    return pages()


@pytest.fixture(scope="module")
def big_run():
    return pages(3, pages=400, records_per_page=20, bad_fraction=0.5, page_fault=0.15,
                 section_fault=0.15)


def _str_ok(v: Any, limit: int, *, nullable: bool, nonempty: bool = False) -> bool:
    if v is None:
        return nullable
    if not isinstance(v, str) or len(v) > limit or (nonempty and not v):
        return False
    try:
        v.encode("utf-8")  # a lone surrogate cannot be encoded
    except UnicodeEncodeError:
        return False
    return True


def _date_ok(v: Any, lo: date | None = None, hi: date | None = None) -> bool:
    if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        return False
    try:
        d = date.fromisoformat(v)
    except ValueError:
        return False
    return (lo is None or d >= lo) and (hi is None or d <= hi)


def violations(rec: Any, section: str) -> list[str]:
    """The raw contract's rules, written independently of the generator."""
    if not isinstance(rec, dict):
        return ["not an object"]
    out = [f for f in ("transaction_id", "account_id")
           if not _str_ok(rec.get(f), 128, nullable=False, nonempty=True)]
    if section == "removed":
        return out
    amount = rec.get("amount")
    if (not isinstance(amount, int | float) or isinstance(amount, bool)
            or not math.isfinite(amount) or abs(amount) >= 1e9):
        out.append("amount")
    if rec.get("iso_currency_code") not in set(currencies()):
        out.append("currency")
    if not _date_ok(rec.get("date"), date(1990, 1, 1), UPPER):
        out.append("date")
    if rec.get("authorized_date") is not None and not _date_ok(rec["authorized_date"]):
        out.append("authorized_date")
    checks = {"name": _str_ok(rec.get("name"), 1000, nullable=True),
              "merchant_name": _str_ok(rec.get("merchant_name"), 1000, nullable=True),
              "pending": isinstance(rec.get("pending"), bool),
              "pending_transaction_id": _str_ok(rec.get("pending_transaction_id"), 128,
                                                nullable=True, nonempty=True),
              "payment_channel": _str_ok(rec.get("payment_channel"), 64, nullable=True)}
    return out + [k for k, ok in checks.items() if not ok]


def test_same_seed_same_pages_other_seed_other_pages(run):
    again = pages()
    assert [p.body for p in again] == [p.body for p in run]
    assert [repr(p.records) for p in again] == [repr(p.records) for p in run]  # nan != nan
    assert [p.body for p in pages(12)] != [p.body for p in run]


def test_bad_fraction_near_requested_and_thousands_of_bad_records(run):
    s = summary(run)
    assert s["bad"] > 1000
    assert abs(s["bad"] / (s["good"] + s["bad"]) - 0.3) < 0.03
    assert sum(s["by_mutation"].values()) == s["bad"] + s["bad_pages"] + s["bad_sections"]


def test_every_mutation_kind_appears(big_run):
    declared = set(UPSERT_MUTATIONS) | set(PAGE_MUTATIONS) | set(SECTION_MUTATIONS)
    for must in ("transaction_id_missing", "account_id_too_long", "amount_string", "amount_nan",
                 "amount_1e400", "currency_lowercase", "date_feb30", "name_1mb",
                 "name_lone_surrogate", "pending_missing", "record_null", "truncated",
                 "binary_garbage", "meta_missing", "section_object"):
        assert must in declared
    assert set(summary(big_run)["by_mutation"]) == declared
    removed_seen = {r.mutation for p in big_run for r in p.records
                    if r.section == "removed" and not r.good}
    assert removed_seen == set(REMOVED_MUTATIONS)


def test_records_match_the_body_and_the_rules(big_run):
    for p in big_run:
        if p.page_level_bad:
            continue
        doc = json.loads(p.body)
        assert doc["meta"]["raw_ref"] == meta_for(doc["meta"]["page"])["raw_ref"]
        for s in p.bad_sections:
            assert not isinstance(doc["response"][s], list)
        listed = [s for s in ("added", "modified", "removed")
                  if isinstance(doc["response"].get(s), list)]
        assert [(r.section, r.index) for r in p.records] == [
            (s, i) for s in listed for i in range(len(doc["response"][s]))]
        for r in p.records:
            sent = doc["response"][r.section][r.index]
            problems = violations(sent, r.section)
            assert (not problems) == r.good, (r.mutation, problems)
            if r.good:
                assert sent == r.txn and sent["account_id"] in ACCOUNTS


def test_bad_pages_are_bad_and_tokens_are_written_raw(big_run):
    for p in big_run:
        if not p.page_level_bad:
            p.body.decode("utf-8")  # strict: lone surrogates travel as escapes only
            continue
        try:
            doc = json.loads(p.body)
        except ValueError:
            continue
        assert (not isinstance(doc, dict) or not isinstance(doc.get("meta"), dict)
                or not isinstance(doc.get("response"), dict)), p.page_level_bad
    bodies = b"".join(p.body for p in big_run if not p.page_level_bad)
    for token in (rb'"amount": ?1e400', rb'"amount": ?NaN', rb'"amount": ?-Infinity',
                  rb'"Caf\\ud800'):
        assert re.search(token, bodies), token


def test_ids_unique_and_changes_refer_to_earlier_live_ids(run):
    live: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for p in run:
        before = dict(live)
        for r in p.records:
            if not r.good:
                continue
            key = (r.txn["account_id"], r.txn["transaction_id"])
            if r.section == "added":
                assert key not in seen
                seen.add(key)
                live[key[1]] = key[0]
            else:
                assert before.get(key[1]) == key[0]
                if r.section == "removed":
                    del live[key[1]]
    final = expected_final(run)
    assert {t for (_, t), v in final.items() if v is not None} == set(live)
    assert any(v is None for v in final.values())


def test_good_records_are_hostile(run):
    good = [r.txn for p in run for r in p.records if r.good and r.section != "removed"]
    names = {t["name"] for t in good}
    assert {"'; DROP TABLE x;--", "<script>alert(1)</script>", "x" * 1000, None} <= names
    assert any(n and "👨\u200d👩" in n for n in names) and any(n and "\u0301" in n for n in names)
    assert {128} <= {len(t["transaction_id"]) for t in good}
    dates = {t["date"] for t in good}
    assert "1990-01-01" in dates and (date(2026, 3, 1) + timedelta(31)).isoformat() in dates
    amounts = [t["amount"] for t in good]
    assert 0 in amounts and any(a < 0 for a in amounts) and any(type(a) is int for a in amounts)
    assert any(t["merchant_name"] is None for t in good)
    assert any(set(t) - {"transaction_id", "account_id", "amount", "iso_currency_code", "date",
                         "authorized_date", "name", "merchant_name", "pending",
                         "pending_transaction_id", "payment_channel"} for t in good)
    for t in good:  # no half cents; pending rows odd cents, posted rows even cents
        exact = Decimal(repr(t["amount"]))
        cents = exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert abs(exact - cents) < Decimal("0.005")
        assert int(cents * 100) % 2 == int(t["pending"])
    assert any(len(repr(a).partition(".")[2]) > 2 for a in amounts)
