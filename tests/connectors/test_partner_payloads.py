"""Partner payload faults end to end, through the real bank over HTTP and plaid-python.

Records broken on the wire are quarantined with a reason naming the broken field while
everything else reaches silver exactly; a page that cannot be read is kept as received,
quarantined whole, and the next sync of the item loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.credentials import Credential, CredentialStore
from connectors.ingest import IngestReport, SyncRuntime, ingest_day
from connectors.linking import link_sandbox
from connectors.partner import partner_client
from connectors.ratelimit import LocalRateLimiter
from connectors.retry import RetryPolicy
from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.endpoints import BREAKS
from connectors.sandbox_bank.faults import Fault
from connectors.sandbox_bank.ground_truth import reconcile
from connectors.sandbox_bank.server import serve
from connectors.vault import LocalKeyProvider, Vault
from core.redaction import redact, redact_bytes
from lake.lake import Lake
from lake.raw import complete_pages, date_prefix, load_cursor
from lake.small_tables import read_rows
from lake.tables import QUARANTINE, TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.silver.refresh import SilverResult, merge_partition

pytestmark = pytest.mark.integration

DAY = date(2026, 6, 10)
# ins_1 has a single item in this world (4 users); with pages of 25 its first update (73
# added, 46 removed) takes five requests, in order, so the faulted requests are known exactly.
VICTIM_INSTITUTION = "ins_1"
PAGE_SIZE = 25
COMPARED = ("account_id", "transaction_id", "amount", "iso_currency_code", "date",
            "authorized_date", "name", "merchant_name", "pending", "pending_transaction_id")
# the broken field -> a word the quarantine reason must contain
REASON_NAMES = {"amount": "amount", "iso_currency_code": "currency", "date": "date",
                "transaction_id": "transaction_id"}


@dataclass
class World:
    bank: SandboxBank
    url: str
    lake: Lake
    creds: CredentialStore
    rt: SyncRuntime
    clock: list[datetime]
    institutions: dict[str, dict]

    def night(self, day: date) -> IngestReport:
        return ingest_day(self.rt, self.lake.store, self.creds, self.institutions, day)

    def victim(self) -> Credential:
        (cred,) = [c for c in self.creds.all() if c.institution_id == VICTIM_INSTITUTION]
        return cred

    def update_as_served(self, cred: Credential) -> dict[tuple[str, str], dict]:
        """Every added/modified record of the item's first update as the bank serves it
        without faults (in process: no request counters, no fault log)."""
        body: dict = {"access_token": self.creds.token(cred), "count": PAGE_SIZE}
        out = {}
        while True:
            status, page = self.bank.transactions_sync(body)
            assert status == 200
            for rec in page["added"] + page["modified"]:
                out[(rec["account_id"], rec["transaction_id"])] = rec
            if not page["has_more"]:
                return out
            body["cursor"] = page["next_cursor"]

    def truth(self) -> dict[tuple[str, str], dict]:
        """The bank's truth for every item at its saved cursor."""
        out = {}
        for cred in self.creds.all():
            cursor, _ = load_cursor(self.lake.store, cred.item_id)
            for t in self.bank.truth(self.creds.token(cred), cursor):
                out[(t["account_id"], t["transaction_id"])] = t
        return out


@pytest.fixture
def world(tmp_path: Path, lake: Lake) -> Iterator[World]:
    bank = SandboxBank.open(tmp_path / "bank", users=4, history_start=DAY - timedelta(20),
                            clock=DAY)
    running = serve(bank)
    creds = CredentialStore(lake, Vault(LocalKeyProvider(tmp_path / "keys")))

    def client():
        return partner_client(running.url, "test-client", "test-secret")

    link_sandbox(client(), running.url, creds)
    clock = [datetime(2026, 6, 11, 2, 0, tzinfo=UTC)]
    rt = SyncRuntime(client=client, limiter=LocalRateLimiter(), now=lambda: clock[0],
                     sleep=lambda _s: None, policy=RetryPolicy(base_delay=0.01), timeout=5,
                     page_size=PAGE_SIZE)
    institutions = {i["institution_id"]: i for i in bank.institutions()}
    yield World(bank, running.url, lake, creds, rt, clock, institutions)
    running.stop()


def live_keys(lake: Lake) -> set[tuple[str, str]]:
    dt = lake.delta(TRANSACTIONS)
    rows = dt.to_pyarrow_table().to_pylist() if dt is not None else []
    return {(r["account_id"], r["partner_txn_id"]) for r in rows if r["status"] == "live"}


def quarantined(lake: Lake, source: str) -> list[dict]:
    return [r for r in read_rows(lake, QUARANTINE) if r["source"] == source]


def assert_audits_passed(result: SilverResult) -> None:
    failed = [a for a in result.audits if not a.passed]
    assert result.audits and not failed, failed


def on_the_wire(record: dict, brk: dict) -> dict:
    """The record as the fault log says it was sent (compared fields only)."""
    sent = {k: record[k] for k in COMPARED}
    how = brk["how"]
    if how == "amount_string":
        sent["amount"] = f"{record['amount']:.2f}"
    elif how == "amount_nan":
        sent["amount"] = math.nan
    elif how == "unknown_currency":
        sent["iso_currency_code"] = "ZZZ"
    elif how == "impossible_date":
        sent["date"] = "2026-02-30"
    else:
        assert how == "no_transaction_id"
        del sent["transaction_id"]
    return comparable(sent)


def comparable(record: dict) -> dict:
    """Compared fields; free text as raw pages keep it (numbers masked, see lake/raw.py)."""
    return {k: "NaN" if isinstance(v, float) and math.isnan(v)
            else redact(v, registered=False) if k in ("name", "merchant_name") else v
            for k, v in record.items() if k in COMPARED}


def test_malformed_records_are_quarantined_and_the_rest_lands_exactly(spark, world) -> None:
    w = world
    victim = w.victim()
    w.bank.set_fault_plan({VICTIM_INSTITUTION: [Fault("malformed_records", count=4)]}, seed=2)
    report = w.night(DAY)
    assert {j["status"] for j in report.jobs} == {"success"}  # broken records fail no sync
    broken = w.bank.broken_records
    served = [e for e in w.bank.fault_log if e["kind"] == "malformed_records"]
    assert [e["request"] for e in served] == list(range(5))  # every page of the update
    assert len(broken) == 4 * len(served) and {b["item_id"] for b in broken} == {victim.item_id}
    assert {b["how"] for b in broken} == set(BREAKS)  # this seed exercises every breakage

    seed_reference(spark, w.lake)
    result = merge_partition(spark, w.lake, DAY)
    assert_audits_passed(result)
    assert result.reconciliation["missing"] == 0
    assert result.reconciliation["quarantined_records"] == len(broken)

    served_clean = w.update_as_served(victim)
    rows = quarantined(w.lake, "transactions_sync")
    records = [comparable(json.loads(r["record"])) for r in rows]
    assert len(rows) == len(broken)
    for brk in broken:  # each broken record is quarantined, as sent, with a fitting reason
        sent = on_the_wire(served_clean[(brk["account_id"], brk["transaction_id"])], brk)
        (row,) = [r for r, rec in zip(rows, records, strict=True) if rec == sent]
        assert row["item_id"] == victim.item_id and row["status"] == "quarantined"
        assert REASON_NAMES[brk["field"]] in row["reason"], (brk, row["reason"])

    # Silver is the bank's truth minus the broken records that are still live there (a
    # pending record broken on page 1 may be removed again later in the same update).
    truth = w.truth()
    mine = [k for k in truth if k in served_clean]  # the bank's own records are untouched
    assert len(mine) > len(broken)
    assert all(comparable(served_clean[k]) == comparable(truth[k]) for k in mine)
    lost = {(b["account_id"], b["transaction_id"]) for b in broken} & set(truth)
    assert lost
    live = live_keys(w.lake)
    assert set(truth) - live == lost and live <= set(truth)
    rec = reconcile(w.lake, w.creds, w.url)
    assert rec.items == len(w.creds.all()) and rec.truth_rows == len(truth)
    assert (rec.lost, rec.duplicated, rec.phantom, rec.mismatched) == (len(lost), 0, 0, 0)


def test_unreadable_page_is_kept_quarantined_and_nothing_is_lost(spark, world) -> None:
    w = world
    victim = w.victim()
    # the victim's second request (page 2 of its first update) arrives cut in half
    w.bank.set_fault_plan({VICTIM_INSTITUTION: [Fault("unreadable_page", after_calls=1,
                                                      calls=1)]}, seed=1)
    report = w.night(DAY)
    attempts = [(j["status"], j.get("error_class")) for j in report.jobs
                if j["item_id"] == victim.item_id]
    assert attempts == [("failed", "BAD_PAYLOAD")]  # not retried within the night
    assert {j["status"] for j in report.jobs if j["item_id"] != victim.item_id} == {"success"}
    (cut,) = [e for e in w.bank.fault_log if e["kind"] == "unreadable_page"]
    assert (cut["item_id"], cut["request"]) == (victim.item_id, 1)
    assert load_cursor(w.lake.store, victim.item_id) == (None, 0)  # the cursor did not move

    (key,) = [k for k in w.lake.store.list(date_prefix(DAY)) if "/rejected-" in k]
    assert f"/item={victim.item_id}/" in key and key.endswith("/rejected-00002.json")
    kept = w.lake.store.get(key)
    # the bytes sent, but for account-like numbers in them (masked, so never longer)
    assert redact_bytes(kept) == kept and len(kept) <= cut["bytes_sent"] < cut["bytes_full"]
    if len(kept) == cut["bytes_sent"]:
        assert hashlib.sha256(kept).hexdigest() == cut["sha256"]  # nothing was masked
    with pytest.raises(ValueError):
        json.loads(kept)
    # page 1 of that attempt landed, but without a manifest the merge never sees it
    assert complete_pages(w.lake.store, DAY, victim.user_id, victim.item_id) == []

    seed_reference(spark, w.lake)
    result = merge_partition(spark, w.lake, DAY)
    assert_audits_passed(result)
    assert result.reconciliation["bad_pages"] == 1 and result.reconciliation["missing"] == 0
    (page,) = quarantined(w.lake, "transactions_sync_page")
    assert page["raw_ref"] == key and page["reason"].startswith("malformed JSON page")
    assert page["record"] == kept.decode()
    assert not quarantined(w.lake, "transactions_sync")
    assert reconcile(w.lake, w.creds, w.url).exact  # everyone else's day landed exactly

    w.bank.clear_fault_plan()
    nxt = DAY + timedelta(days=1)
    w.bank.advance_to(nxt)
    w.clock[0] += timedelta(days=1)
    report = w.night(nxt)
    assert [j["status"] for j in report.jobs if j["item_id"] == victim.item_id] == ["success"]
    assert_audits_passed(merge_partition(spark, w.lake, nxt))
    cursor, _ = load_cursor(w.lake.store, victim.item_id)
    victim_truth = w.bank.truth(w.creds.token(victim), cursor)
    assert len(victim_truth) > PAGE_SIZE  # the item's update spans the page that was cut
    assert {(t["account_id"], t["transaction_id"]) for t in victim_truth} <= live_keys(w.lake)
    rec = reconcile(w.lake, w.creds, w.url)
    assert rec.exact and rec.truth_rows == len(w.truth()), rec
