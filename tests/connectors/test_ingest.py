"""Ingestion wiring against the sandbox bank: cadence, back-off, credential expiry, MFA."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from connectors.credentials import CredentialStore
from connectors.ingest import SyncRuntime, ingest_day
from connectors.linking import link_sandbox
from connectors.partner import partner_client
from connectors.ratelimit import LocalRateLimiter
from connectors.retry import RetryPolicy
from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.faults import Fault
from connectors.sandbox_bank.server import serve
from connectors.vault import LocalKeyProvider, Vault
from lake.lake import Lake

pytestmark = pytest.mark.integration
DAY = date(2026, 6, 10)


@pytest.fixture
def world(tmp_path):
    bank = SandboxBank.open(tmp_path / "bank", users=6, history_start=DAY - timedelta(20),
                            clock=DAY)
    running = serve(bank)
    lake = Lake(str(tmp_path / "lake"))
    creds = CredentialStore(lake, Vault(LocalKeyProvider(tmp_path / "keys")))

    def client():
        return partner_client(running.url, "test-client", "test-secret")

    link_sandbox(client(), running.url, creds)
    clock = [datetime(2026, 6, 11, 2, 0, tzinfo=UTC)]
    rt = SyncRuntime(client=client, limiter=LocalRateLimiter(), now=lambda: clock[0],
                     sleep=lambda _s: None, policy=RetryPolicy(base_delay=0.01), timeout=5)
    institutions = {i["institution_id"]: i for i in bank.institutions()}
    yield bank, lake, creds, rt, clock, institutions
    running.stop()


def run(world, day: date):
    bank, lake, creds, rt, clock, institutions = world
    return ingest_day(rt, lake.store, creds, institutions, day)


def statuses(report) -> dict[str, str]:
    return {j["item_id"]: j["status"] for j in report.jobs}


def test_expired_credentials_after_three_failures_then_skipped(world) -> None:
    bank, lake, creds, rt, clock, institutions = world
    victim = creds.all()[0]
    bank.set_fault_plan({victim.institution_id: [Fault("login_required", 1.0)]}, seed=1)
    for n in range(1, 4):
        report = run(world, DAY + timedelta(days=n - 1))
        job = next(j for j in report.jobs if j["item_id"] == victim.item_id)
        assert (job["error_class"], job["status"]) == (
            "INVALID_CREDENTIALS", "deferred" if n < 3 else "failed")
        clock[0] += timedelta(days=1, hours=1)
    assert {c.item_id: c.status for c in creds.all()}[victim.item_id] == "expired"
    report = run(world, DAY + timedelta(days=3))
    assert "re-link" in report.skipped[victim.item_id]
    assert victim.item_id not in statuses(report)


def test_mfa_suspends_the_item_until_resolved(world) -> None:
    bank, lake, creds, rt, clock, institutions = world
    victim = creds.all()[1]
    bank.set_fault_plan({victim.institution_id: [Fault("mfa_required", 1.0)]}, seed=1)
    report = run(world, DAY)
    assert statuses(report)[victim.item_id] == "failed"
    assert {c.item_id: c.status for c in creds.all()}[victim.item_id] == "mfa_required"
    clock[0] += timedelta(days=2)
    assert "mfa_required" in run(world, DAY + timedelta(days=2)).skipped[victim.item_id]


def test_institution_down_backs_off_one_hour_then_six(world) -> None:
    bank, lake, creds, rt, clock, institutions = world
    victim = creds.all()[2]
    bank.set_fault_plan({victim.institution_id: [Fault("institution_down", 1.0)]}, seed=1)
    assert statuses(run(world, DAY))[victim.item_id] == "deferred"
    clock[0] += timedelta(minutes=30)
    assert "backing off" in run(world, DAY).skipped[victim.item_id]
    clock[0] += timedelta(minutes=31)
    assert statuses(run(world, DAY))[victim.item_id] == "deferred"  # second failure: 6 h
    clock[0] += timedelta(hours=5)
    assert "backing off" in run(world, DAY).skipped[victim.item_id]
    bank.clear_fault_plan()
    clock[0] += timedelta(hours=1, minutes=1)
    assert statuses(run(world, DAY))[victim.item_id] == "success"


def test_refresh_cadence_low_limit_banks_every_three_days(world) -> None:
    bank, lake, creds, rt, clock, institutions = world
    first = statuses(run(world, DAY))
    assert set(first.values()) == {"success"}
    slow = {c.item_id for c in creds.all()
            if institutions[c.institution_id]["refresh_every_days"] == 3}
    fast = set(first) - slow
    assert slow and fast
    next_day = run(world, DAY + timedelta(days=1))
    assert set(statuses(next_day)) == fast
    assert all("refresh every 3" in next_day.skipped[i] for i in slow)
    assert set(statuses(run(world, DAY + timedelta(days=3)))) == slow | fast
