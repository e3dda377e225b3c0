"""Data quality gates: the raw contract, quarantine and release, write-audit-publish, and the
raw -> silver reconciliation, down to a fuzzed partition of thousands of hostile records."""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest

from lake.lake import Lake
from lake.raw import UpdateRef, complete_update
from lake.tables import MONTHLY_CASHFLOW, MONTHLY_SPEND, QUALITY_RESULTS, QUARANTINE, TRANSACTIONS
from pipelines.categories.reference import currencies
from pipelines.categories.refresh import seed_reference
from pipelines.gold.refresh import refresh_gold
from pipelines.raw.contract import parse_page
from pipelines.silver.changes import changed_cells
from pipelines.silver.refresh import merge_partition
from quality.validation import AuditFailed
from tests.support.fuzz_payloads import generate_pages, summary
from tests.support.raw_builder import ACCOUNT, INSTITUTION, ITEM, USER, land, page, txn

DAY = date(2026, 2, 2)
CURRENCIES = frozenset(currencies())


def rows(lake: Lake, table=TRANSACTIONS) -> dict:
    dt = lake.delta(table)
    data = dt.to_pyarrow_table().to_pylist() if dt else []
    return {tuple(r[k] for k in table.keys): r for r in data}


def envelope(response: object, *, user: str = USER, item: str = ITEM, **meta: object) -> bytes:
    m = {"raw_ref": "x", "sync_date": DAY.isoformat(), "user_id": user, "item_id": item,
         "institution_id": INSTITUTION, "update_seq": 1, "attempt": "a", "page": 1,
         "landed_at": "2026-02-02T02:00:00+00:00", **meta}
    return json.dumps({"meta": m, "response": response}).encode()


KEY = f"raw/transactions_sync/sync_date=2026-02-02/user={USER}/item={ITEM}/update=1/page.json"


# --- the raw contract, pure ------------------------------------------------------------------

def test_contract_rejects_each_bad_field_and_keeps_the_good_ones() -> None:
    good = txn("ok", 10.0, "2026-01-10")
    body = (b'{"meta": ' + json.dumps(json.loads(envelope({}))["meta"]).encode()
            + b', "response": {"added": ['
            + json.dumps(good).encode() + b", "
            + json.dumps(dict(good, transaction_id="nan")).replace("10.0", "NaN").encode()
            + b", " + json.dumps(dict(good, transaction_id="bool", amount=True)).encode()
            + b", " + json.dumps(dict(good, transaction_id="str", amount="12.50")).encode()
            + b', {"transaction_id": "sur", "account_id": "acc_1", "amount": 1, '
              b'"iso_currency_code": "USD", "date": "2026-01-10", "name": "\\ud800", '
              b'"pending": false}, 5, '
            + json.dumps(dict(good, transaction_id="big")).replace(
                "10.0", "1" + "0" * 400).encode()
            + b"], \"removed\": \"oops\"}}")
    out = parse_page(body, KEY, DAY, CURRENCIES)
    assert [c["transaction_id"] for c in out.changes] == ["ok"]
    reasons = {r["source_seq"][-6:]: r["reason"] for r in out.rejected}
    assert reasons == {
        "000001": "amount not finite or absurd",
        "000002": "amount missing or not a number",
        "000003": "amount missing or not a number",
        "000004": "name is not valid Unicode",
        "000005": "record is not an object (int)",
        "000006": "amount not finite or absurd",  # an int too large to be a float
        "emoved": "response.removed is not a list",
    }
    assert (out.stats.records, out.stats.changes, out.stats.quarantined,
            out.stats.bad_sections) == (7, 1, 6, 1)


@pytest.mark.parametrize("body, why", [
    (b'{"meta": {"raw_ref": "x"', "malformed JSON page"),
    (b"\x80\xfe\x00garbage", "malformed JSON page"),
    (b"[1, 2]", "page is not a JSON object (list)"),
    (envelope(None), "page has no response object"),
    (envelope({"added": []}, user="user_9999"), "meta user/item do not match"),
    (envelope({"added": []}, update_seq="1"), "meta.update_seq missing or not a int"),
    (envelope({"added": []}, landed_at="0001-01-01T00:00:00+05:00"), "not an ISO date"),
])
def test_an_unreadable_page_is_quarantined_whole(body: bytes, why: str) -> None:
    out = parse_page(body, KEY, DAY, CURRENCIES)
    assert out.changes == [] and out.stats.bad_pages == 1
    [row] = out.rejected
    assert row["source"] == "transactions_sync_page" and row["raw_ref"] == KEY
    assert why in row["reason"]


# --- write-audit-publish in the pipeline -----------------------------------------------------

def test_transactions_on_an_account_of_another_item_are_quarantined(spark, lake) -> None:
    land(lake.store, DAY.isoformat(), 1, [page(added=[
        txn("mine", 10.0, "2026-02-01"), txn("theirs", 99.0, "2026-02-01", account="acc_x")])])
    seed_reference(spark, lake)
    result = merge_partition(spark, lake, DAY)
    assert set(rows(lake)) == {(ACCOUNT, "mine")}
    [q] = rows(lake, QUARANTINE).values()
    assert q["reason"] == "account not linked to this item" and '"theirs"' in q["record"]
    assert result.reconciliation["quarantined_records"] == 1
    assert all(a.passed for a in result.audits)


def test_a_mostly_corrupt_partition_is_held_back_whole(spark, lake) -> None:
    bad = [txn(f"b{i}", 1.0, "2026-02-01", currency="???") for i in range(60)]
    land(lake.store, DAY.isoformat(), 1, [page(added=[txn("ok", 5.0, "2026-02-01"), *bad])])
    seed_reference(spark, lake)
    with pytest.raises(AuditFailed) as exc:
        merge_partition(spark, lake, DAY)
    assert "raw_changes" in str(exc.value) and "60 of 61" in str(exc.value)
    assert not lake.exists(TRANSACTIONS) or not rows(lake)  # nothing published
    assert len(rows(lake, QUARANTINE)) == 60  # the bad records are kept, with reasons
    [result] = lake.delta(QUALITY_RESULTS).to_pyarrow_table().to_pylist()
    assert not result["passed"] and result["suite"] == "raw_changes"
    report = lake.store.get(result["report_ref"]).decode()
    assert "BLOCKED" in report and "60 of 61" in report
    # After review, an operator lets the good rest through.
    merge_partition(spark, lake, DAY, quarantine_ceiling=1.0)
    assert set(rows(lake)) == {(ACCOUNT, "ok")}


def test_a_gold_table_failing_its_suite_is_not_published(spark, lake, monkeypatch) -> None:
    from pyspark.sql import functions as F

    from pipelines.gold import spend

    land(lake.store, DAY.isoformat(), 1, [page(added=[
        txn("a", 10.0, "2026-02-01"), txn("pay", -900.0, "2026-02-01", "ACME PAYROLL",
                                          merchant=None)])])
    seed_reference(spark, lake)
    merge_partition(spark, lake, DAY)
    good = spend.monthly_cashflow
    monkeypatch.setattr(spend, "monthly_cashflow",
                        lambda rows: good(rows).withColumn("net", F.col("net") + 1))
    with pytest.raises(AuditFailed) as exc:
        refresh_gold(spark, lake, changed_cells(spark, lake, DAY), DAY)
    assert "monthly_cashflow" in str(exc.value) and "_net_adds_up" in str(exc.value)
    assert not rows(lake, MONTHLY_CASHFLOW)  # the bad rows never reached the table
    assert rows(lake, MONTHLY_SPEND)  # tables audited before it were fine and published
    monkeypatch.setattr(spend, "monthly_cashflow", good)
    refresh_gold(spark, lake, changed_cells(spark, lake, DAY), DAY)
    [cash] = rows(lake, MONTHLY_CASHFLOW).values()
    assert float(cash["net"]) == pytest.approx(890.0)


def test_a_fixed_record_is_released_from_quarantine(spark, lake, monkeypatch, capsys) -> None:
    from finlake.cli import main

    monkeypatch.setenv("FINLAKE_HOME", str(Path(lake.root).parent))
    land(lake.store, DAY.isoformat(), 1, [page(added=[
        txn("ok", 10.0, "2026-02-01"),
        txn("low", 25.0, "2026-02-01", "BEST BUY 00123", merchant="Best Buy", currency="usd")])])
    seed_reference(spark, lake)
    merge_partition(spark, lake, DAY)
    refresh_gold(spark, lake, changed_cells(spark, lake, DAY), DAY)
    [q] = rows(lake, QUARANTINE).values()
    assert main(["quarantine", "list"]) == 0
    assert q["record_id"] in capsys.readouterr().out
    assert main(["quarantine", "show", q["record_id"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reason"] == "unknown currency" and shown["record"]["amount"] == 25.0
    assert shown["raw_ref"].startswith("raw/transactions_sync/sync_date=2026-02-02/")

    assert main(["quarantine", "release", q["record_id"], "--set", "iso_currency_code=EURO"]) == 2
    assert "still breaks the raw contract: unknown currency" in capsys.readouterr().err
    assert main(["quarantine", "release", q["record_id"]]) == 2  # no fix given
    assert main(["quarantine", "release", "nope", "--set", "a=1"]) == 2
    assert "no quarantined record 'nope'" in capsys.readouterr().err
    assert set(rows(lake)) == {(ACCOUNT, "ok")}  # nothing was released by the failures

    assert main(["quarantine", "release", q["record_id"], "--set", "iso_currency_code=USD"]) == 0
    assert "released" in capsys.readouterr().out
    live = rows(lake)
    assert live[(ACCOUNT, "low")]["currency"] == "USD"
    assert live[(ACCOUNT, "low")]["source_seq"] == q["source_seq"]  # its place in the stream
    [q2] = rows(lake, QUARANTINE).values()
    assert q2["status"] == "released" and q2["released_ref"].endswith("/page-00001.json")
    spent = sum(float(r["amount"]) for r in rows(lake, MONTHLY_SPEND).values())
    assert spent == pytest.approx(35.0)
    assert main(["quarantine", "release", q["record_id"], "--set", "amount=1"]) == 2
    assert "already released" in capsys.readouterr().err

    # Replaying the day gives the same silver: the release page is part of the partition.
    before = {k: (r["amount"], r["currency"], r["source_seq"]) for k, r in rows(lake).items()}
    result = merge_partition(spark, lake, DAY)
    assert {k: (r["amount"], r["currency"], r["source_seq"])
            for k, r in rows(lake).items()} == before
    assert rows(lake, QUARANTINE)[(q["record_id"],)]["status"] == "released"
    assert result.reconciliation["missing"] == 0


# --- fuzzing ---------------------------------------------------------------------------------

def _cents(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


@pytest.mark.slow
def test_thousands_of_hostile_records_never_crash_and_reconcile_exactly(spark, lake) -> None:
    ref = UpdateRef(DAY, USER, ITEM, 1, "20260202T020000000000Z")
    landed = "2026-02-02T02:00:00+00:00"

    def meta_for(n: int) -> dict:
        return {"raw_ref": ref.page_key(n), "sync_date": DAY.isoformat(), "user_id": USER,
                "item_id": ITEM, "institution_id": INSTITUTION, "update_seq": 1,
                "attempt": ref.attempt, "page": n, "landed_at": landed}

    pages = generate_pages(7, pages=60, records_per_page=100, bad_fraction=0.3,
                           sync_date=DAY.isoformat(), meta_for=meta_for, page_fault=0.08,
                           section_fault=0.08)
    counts = summary(pages)
    assert counts["bad"] > 1500 and counts["bad_pages"] and counts["bad_sections"]
    keys = [ref.page_key(n) for n in range(1, len(pages) + 1)]
    for key, p in zip(keys, pages, strict=True):
        lake.store.put_once(key, p.body)
    complete_update(lake.store, ref, keys, landed, {"added": 0, "modified": 0, "removed": 0})
    seed_reference(spark, lake)
    result = merge_partition(spark, lake, DAY)  # never raises

    # Every bad record, page and section is in quarantine with a reason ...
    bad_pages, bad_sections, bad_records, final = set(), set(), set(), {}
    for n, (key, p) in enumerate(zip(keys, pages, strict=True), 1):
        if p.page_level_bad:
            bad_pages.add(key)
            continue
        bad_sections.update((key, f"{1:010d}-{ref.attempt}-{n:05d}-{s}") for s in p.bad_sections)
        for pos, r in enumerate(p.records):
            if not r.good:
                bad_records.add((key, f"{1:010d}-{ref.attempt}-{n:05d}-{pos:06d}"))
            elif r.txn is not None:
                final[(r.txn["account_id"], r.txn["transaction_id"])] = (
                    None if r.section == "removed" else r.txn)
    q = list(rows(lake, QUARANTINE).values())
    assert all(r["reason"] for r in q)
    by_source: dict[str, set] = {}
    for r in q:
        by_source.setdefault(r["source"], set()).add((r["raw_ref"], r["source_seq"]))
    assert {k for k, _ in by_source.get("transactions_sync_page", ())} == bad_pages
    assert by_source.get("transactions_sync_section", set()) == bad_sections
    assert by_source["transactions_sync"] == bad_records
    assert "accounts" not in by_source

    # ... every good record is in silver exactly as sent ...
    silver = rows(lake)
    assert set(silver) == set(final)
    for key, want in final.items():
        got = silver[key]
        if want is None:
            assert got["status"] == "removed", key
            continue
        assert got["status"] == "live", key
        assert got["amount"] == _cents(want["amount"]), key
        assert got["description"] == want.get("name"), key
        assert got["currency"] == want["iso_currency_code"]
        assert got["posted_date"] == date.fromisoformat(want["date"])

    # ... and the counts reconcile exactly.
    rec = result.reconciliation
    assert rec["raw_records"] == counts["good"] + counts["bad"]
    assert rec["quarantined_records"] == counts["bad"]
    assert rec["bad_pages"] == counts["bad_pages"]
    assert rec["missing"] == 0 and rec["differs"] == 0
    assert rec["in_silver"] + rec["superseded_in_batch"] + rec["newer_in_silver"] \
        == counts["good"]
    assert rec["quarantine_rows_found"] == rec["quarantine_rows_expected"]
    assert all(a.passed for a in result.audits)


def test_net_worth_failing_its_suite_is_not_published(spark, lake, monkeypatch) -> None:
    from pyspark.sql import functions as F

    from lake.tables import BALANCES_DAILY, NET_WORTH_DAILY
    from pipelines.wealth import networth
    from pipelines.wealth.refresh import refresh_net_worth

    land(lake.store, DAY.isoformat(), 1, [page(added=[txn("a", 10.0, "2026-02-01")],
                                               balance=250.0)])
    seed_reference(spark, lake)
    merge_partition(spark, lake, DAY)
    good = networth.net_worth_daily
    monkeypatch.setattr(networth, "net_worth_daily",
                        lambda b: good(b).withColumn("net_worth", F.col("net_worth") * 2))
    with pytest.raises(AuditFailed) as exc:
        refresh_net_worth(spark, lake, DAY)
    assert "net_worth_daily" in str(exc.value) and "_net_adds_up" in str(exc.value)
    assert not rows(lake, NET_WORTH_DAILY) and not rows(lake, BALANCES_DAILY)
    monkeypatch.setattr(networth, "net_worth_daily", good)
    refresh_net_worth(spark, lake, DAY)
    [worth] = rows(lake, NET_WORTH_DAILY).values()
    assert float(worth["net_worth"]) == pytest.approx(250.0)


def test_the_quarantine_ceiling_setting() -> None:
    from core.settings import ConfigError, load_settings

    assert load_settings({}).quarantine_ceiling == 0.5
    assert load_settings({"FINLAKE_QUARANTINE_CEILING": "1"}).quarantine_ceiling == 1.0
    for bad in ("0", "1.5", "half"):
        with pytest.raises(ConfigError, match="FINLAKE_QUARANTINE_CEILING"):
            load_settings({"FINLAKE_QUARANTINE_CEILING": bad})
