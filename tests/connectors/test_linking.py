"""One person's Link flow against the sandbox bank's HTTP server (plaid-python on the wire):
sign in to one bank with the sandbox's credentials, link it for that person only; a wrong
sign-in or a bank where the person has no accounts is refused with nothing stored; an item
whose login expired is signed in again (update mode) and syncs again."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.credentials import CredentialStore
from connectors.ingest import SyncRuntime, ingest_day
from connectors.linking import (
    SANDBOX_PASSWORD,
    SANDBOX_USERNAME,
    WRONG_CREDENTIALS,
    LinkRefused,
    link_institution,
    relink_item,
)
from connectors.partner import partner_client
from connectors.ratelimit import LocalRateLimiter
from connectors.retry import RetryPolicy
from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.faults import Fault
from connectors.sandbox_bank.server import serve
from connectors.vault import LocalKeyProvider, Vault
from lake.audit_log import AuditLog
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, CREDENTIALS

pytestmark = pytest.mark.integration
DAY = date(2026, 6, 10)
ME, SOMEONE_ELSE = "user_0001", "user_0003"
GOOD = (SANDBOX_USERNAME, SANDBOX_PASSWORD)
ACTOR = "dashboard"


@pytest.fixture
def world(tmp_path: Any) -> Any:
    bank = SandboxBank.open(tmp_path / "bank", users=3, history_start=DAY - timedelta(14),
                            clock=DAY)
    running = serve(bank)
    lake = Lake(str(tmp_path / "lake"))
    audit = AuditLog(lake)
    creds = CredentialStore(lake, Vault(LocalKeyProvider(tmp_path / "keys")), audit=audit,
                            actor=ACTOR)

    def client() -> Any:
        return partner_client(running.url, "test-client", "test-secret")

    mine = {i.institution_id for i in bank.world.items if i.user_id == ME}
    theirs = {i.institution_id for i in bank.world.items if i.user_id == SOMEONE_ELSE}
    yield SimpleNamespace(bank=bank, url=running.url, lake=lake, audit=audit, creds=creds,
                          api=client(), client=client, mine=sorted(mine),
                          not_mine=sorted(theirs - mine))
    running.stop()


def _public_token_requests(bank: SandboxBank) -> list[dict]:
    return [r for r in bank.request_log if r["endpoint"] == "/sandbox/public_token/create"]


@pytest.mark.parametrize("username, password", [
    (SANDBOX_USERNAME, "pass_bad"), ("user_bad", SANDBOX_PASSWORD), ("", ""),
    (SANDBOX_USERNAME, SANDBOX_PASSWORD.upper())])
def test_a_wrong_sign_in_is_refused_and_nothing_is_stored(world: Any, username: str,
                                                          password: str) -> None:
    with pytest.raises(LinkRefused) as refused:
        link_institution(world.api, world.creds, ME, world.mine[0], username, password)
    assert refused.value.code == "INVALID_CREDENTIALS"
    assert str(refused.value) == WRONG_CREDENTIALS  # the bank's own words
    assert world.creds.all() == [] and not world.lake.exists(CREDENTIALS)
    assert _public_token_requests(world.bank) == []  # no token was even asked for


def test_a_bank_where_the_person_has_no_accounts_is_refused_with_the_banks_message(
        world: Any) -> None:
    assert world.not_mine, "the sandbox world gives user_0003 a bank user_0001 lacks"
    with pytest.raises(LinkRefused) as refused:
        link_institution(world.api, world.creds, ME, world.not_mine[0], *GOOD)
    assert refused.value.code == "NO_ACCOUNTS"
    message = str(refused.value)
    assert "no accounts for you" in message and WRONG_CREDENTIALS in message
    assert ME not in message  # the bank's developer message names ids: not shown
    [asked] = _public_token_requests(world.bank)
    assert (asked["status"], asked["error_code"]) == (400, "INVALID_CREDENTIALS")
    assert world.creds.all() == []


def test_linking_stores_one_credential_for_that_person_only(world: Any) -> None:
    institution = world.mine[0]
    cred = link_institution(world.api, world.creds, ME, institution, *GOOD)
    world.audit.flush()
    item = world.bank.world.item_for(ME, institution)
    [stored] = world.creds.all()
    assert (stored.user_id, stored.institution_id, stored.item_id, stored.status) == (
        ME, institution, item.item_id, "active")
    assert stored.credentials_id == cred.credentials_id
    assert world.creds.token(stored) == item.access_token  # sealed, and opens to the token
    rows = read_rows(world.lake, CREDENTIALS)
    assert [r["user_id"] for r in rows] == [ME]
    assert item.access_token.encode() not in b"".join(r["encrypted_token"].encode()
                                                      for r in rows)
    [linked] = [r for r in read_rows(world.lake, AUDIT_LOG) if r["action"] == "link_credential"]
    assert linked["actor"] == ACTOR and ME not in linked["detail"]

    with pytest.raises(LinkRefused) as again:  # the same bank again: said, nothing added
        link_institution(world.api, world.creds, ME, institution, *GOOD)
    assert again.value.code == "ALREADY_LINKED" and "already linked" in str(again.value)
    assert len(world.creds.all()) == 1


def _sync(world: Any, now: datetime) -> dict:
    """One on-demand ingest of every linked item; the job of the last attempt."""
    rt = SyncRuntime(client=world.client, limiter=LocalRateLimiter(), now=lambda: now,
                     sleep=lambda _s: None, policy=RetryPolicy(base_delay=0.01), timeout=5)
    institutions = {i["institution_id"]: i for i in world.bank.institutions()}
    report = ingest_day(rt, world.lake.store, world.creds, institutions, DAY,
                        trigger="on_demand")
    assert report.jobs, report.skipped
    return report.jobs[-1]


def test_reconnecting_resolves_an_expired_login_so_the_next_sync_succeeds(world: Any) -> None:
    institution = world.mine[0]
    cred = link_institution(world.api, world.creds, ME, institution, *GOOD)
    # The bank starts refusing the item's login (sticky until the person signs in again);
    # the plan is then emptied, so only the item's own error remains.
    world.bank.set_fault_plan({institution: [Fault("login_required", 1.0)]}, seed=1)
    now = datetime(2026, 6, 11, 2, 0, tzinfo=UTC)
    for n in range(3):  # three refusals in a row: the credentials expire
        job = _sync(world, now + timedelta(days=n))
        assert (job["status"], job["error_class"]) in {("deferred", "INVALID_CREDENTIALS"),
                                                        ("failed", "INVALID_CREDENTIALS")}
    world.bank.set_fault_plan({}, seed=1)
    assert world.bank.faults.stuck_items() == {cred.item_id: "login_required"}
    assert [c.status for c in world.creds.all()] == ["expired"]

    with pytest.raises(LinkRefused):  # a wrong sign-in changes nothing
        relink_item(world.url, world.creds, ME, institution, SANDBOX_USERNAME, "nope")
    assert world.bank.faults.stuck_items() == {cred.item_id: "login_required"}
    with pytest.raises(LinkRefused) as not_theirs:  # nobody reconnects another's item
        relink_item(world.url, world.creds, SOMEONE_ELSE, institution, *GOOD)
    assert not_theirs.value.code == "NOT_LINKED"
    assert [c.status for c in world.creds.all()] == ["expired"]

    assert relink_item(world.url, world.creds, ME, institution, *GOOD) is True
    world.audit.flush()
    assert world.bank.faults.stuck_items() == {}
    assert [(c.status, c.item_id) for c in world.creds.all()] == [("active", cred.item_id)]
    job = _sync(world, now + timedelta(days=3))
    assert job["status"] == "success" and job["txns_added"] > 0
    relinks = [r for r in read_rows(world.lake, AUDIT_LOG)
               if r["action"] == "link_credential" and '"relink": true' in r["detail"]]
    assert [r["actor"] for r in relinks] == [ACTOR]


def test_linking_every_sandbox_item_stores_them_in_one_write_per_batch(
        world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors import linking

    monkeypatch.setattr(linking, "LINK_BATCH", 2)
    items = world.bank.world.items
    assert len(items) >= 3  # more than one batch
    new = linking.link_sandbox(world.api, world.url, world.creds)

    stored = {(c.user_id, c.institution_id, c.item_id) for c in world.creds.all()}
    assert new == len(items) == len(stored)
    assert {(u, i) for u, i, _ in stored} == {(i.user_id, i.institution_id) for i in items}
    writes = [h for h in world.lake.delta(CREDENTIALS).history()
              if h.get("operation") != "CREATE TABLE"]
    assert len(writes) == -(-len(items) // 2)  # one table write per batch, not per item
    for cred in world.creds.all():  # every token sealed, opens, and works at the bank
        assert world.api.accounts_get(_accounts_request(world.creds.token(cred))).accounts
    world.audit.flush()
    links = [r for r in read_rows(world.lake, AUDIT_LOG) if r["action"] == "link_credential"]
    assert len(links) == len(items)
    assert linking.link_sandbox(world.api, world.url, world.creds) == 0  # nothing new


def _accounts_request(token: str) -> Any:
    from plaid.model.accounts_get_request import AccountsGetRequest

    return AccountsGetRequest(access_token=token)
