"""The sandbox bank's ``reissued_ids`` fault: an already delivered posted transaction sent
again under a new id, the old id kept; driven through plaid-python over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.faults import ADDED_LATER, KINDS, Fault, FaultPlan
from connectors.sandbox_bank.server import RunningBank, serve
from tests.connectors.test_sandbox_faults import CLOCK, _api, _link, _open, _req, _sync, _truth

pytestmark = pytest.mark.integration


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningBank]:
    with serve(_open(tmp_path / "bank")) as rb:
        yield rb
SAME = ("account_id", "amount", "iso_currency_code", "date", "authorized_date", "name",
        "merchant_name", "pending")


def test_reissued_ids_fault(running: RunningBank) -> None:
    api, bank = _api(running.url), running.bank
    token = _link(api, "user_0001", "ins_1")
    held: dict[str, dict] = {}
    c1, _ = _sync(api, token, "", held)
    before = dict(held)
    bank.set_fault_plan({"ins_1": [Fault("reissued_ids", count=2, calls=1)]}, seed=5)
    resp = api.transactions_sync(_req(token, c1))
    copies = [t.to_dict() for t in resp.added]
    assert len(copies) == 2 and not resp.removed and not resp.has_more
    assert not {c["transaction_id"] for c in copies} & before.keys()  # new ids
    _sync_apply = dict(held)
    for t in resp.added:
        _sync_apply[t.transaction_id] = _truth(bank, token, resp.next_cursor)[t.transaction_id]
    c2 = resp.next_cursor
    truth = _truth(bank, token, c2)
    assert truth == _sync_apply  # the old ids stay live beside the copies
    reissues = bank.truth_reissues(token, c2)
    assert [r["transaction_id"] for r in reissues] == [c["transaction_id"] for c in copies]
    for r in reissues:
        copy, original = truth[r["transaction_id"]], before[r["reissue_of"]]
        assert all(copy[k] == original[k] for k in SAME) and not copy["pending"]
        assert copy["pending_transaction_id"] is None
    assert bank.truth_reissues(token, c1) == []  # older positions keep their truth
    assert bank.fault_log[-1]["kind"] == "reissued_ids"
    assert bank.fault_log[-1]["transaction_ids"] == [c["transaction_id"] for c in copies]

    fresh: dict[str, dict] = {}
    c3, _ = _sync(api, token, "", fresh)  # a full resync lists both ids too
    assert fresh == truth == _truth(bank, token, c3)
    bank.advance_to(CLOCK + timedelta(days=6))
    replay = dict(before)
    c4, _ = _sync(api, token, c1, replay)  # from before the re-issue: the copies are added
    assert replay == _truth(bank, token, c4) and all(r["transaction_id"] in replay
                                                     for r in reissues)
    restarted = SandboxBank.open(bank.state_dir)  # the overlay is persisted
    assert restarted.truth(token, c4) == bank.truth(token, c4)
    assert restarted.truth_reissues(token, c4) == reissues
    # balances are the bank's: a re-issued record moves none
    assert restarted.overlay.amounts(
        next(i["item_id"] for i in bank.items() if i["access_token"] == token),
        restarted.overlay.max_gen(
            next(i["item_id"] for i in bank.items() if i["access_token"] == token))) == {}


def test_reissued_ids_needs_a_later_update_and_a_count(running: RunningBank) -> None:
    api, bank = _api(running.url), running.bank
    token = _link(api, "user_0001", "ins_1")
    bank.set_fault_plan({"ins_1": [Fault("reissued_ids", count=2)]}, seed=5)
    held: dict[str, dict] = {}
    _sync(api, token, "", held)  # a first (full) update: nothing delivered yet to re-issue
    assert not [e for e in bank.fault_log if e["kind"] == "reissued_ids"]
    assert bank.truth_reissues(token, None) == []
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValueError, match="count must be an integer >= 1"):
            Fault("reissued_ids", count=bad)
    assert "reissued_ids" in KINDS and "reissued_ids" in ADDED_LATER
    plan = FaultPlan.every_kind([f"ins_{i}" for i in range(1, 8)], seed=3)
    assert any(f.kind == "reissued_ids" for faults in plan.values() for f in faults)
