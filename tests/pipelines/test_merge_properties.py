"""Property: for any partner history and any replay order of its partitions (duplicates and
out-of-order runs included), silver's live transactions equal the partner's truth."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lake.lake import Lake
from lake.tables import TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.silver.refresh import merge_partition
from tests.support.raw_builder import land, page, txn

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START = date(2026, 3, 1)
MERCHANTS = [("STARBUCKS 0042", "Starbucks"), ("SHELL OIL 88", "Shell"),
             ("AMZN Mktp US*2K4", "Amazon"), ("SQ *BLUE BOTTLE 0423", None)]


@st.composite
def histories(draw) -> list[dict[str, dict]]:
    """Partner states at the end of each day: id -> transaction."""
    state: dict[str, dict] = {}
    states, n = [], 0
    for day in range(draw(st.integers(2, 4))):
        d = (START + timedelta(days=day)).isoformat()
        for _ in range(draw(st.integers(1, 5))):
            n += 1
            live = sorted(state)
            pendings = [k for k in live if state[k]["pending"]]
            posted = [k for k in live if not state[k]["pending"]]
            op = draw(st.sampled_from(["post", "pending", "settle", "modify", "remove"]))
            name, merchant = draw(st.sampled_from(MERCHANTS))
            cents = draw(st.integers(100, 99999)) + n * 100000  # distinct amounts
            if op == "settle" and pendings:
                pid = draw(st.sampled_from(pendings))
                p = state.pop(pid)
                linked = draw(st.booleans())
                tip = draw(st.sampled_from([0, 0, 150])) if linked else 0
                state[f"t{n}"] = txn(f"t{n}", round(p["amount"] + tip / 100, 2), d, p["name"],
                                     merchant=p["merchant_name"],
                                     pending_id=pid if linked else None)
            elif op == "modify" and posted:
                tid = draw(st.sampled_from(posted))
                state[tid] = {**state[tid], "amount": round(state[tid]["amount"] + 1.25, 2)}
            elif op == "remove" and live:
                state.pop(draw(st.sampled_from(live)))
            else:
                pending = op == "pending"
                tid = f"{'p' if pending else 't'}{n}"
                state[tid] = txn(tid, cents / 100, d, name, merchant=merchant, pending=pending)
        states.append(dict(state))
    return states


def land_history(lake: Lake, states: list[dict[str, dict]]) -> list[date]:
    days, before = [], {}
    for i, after in enumerate(states):
        day = START + timedelta(days=i)
        added = [t for k, t in after.items() if k not in before]
        modified = [t for k, t in after.items() if k in before and before[k] != t]
        removed = [k for k in before if k not in after]
        changes = [("a", t) for t in added] + [("m", t) for t in modified]
        pages = [page(added=[t for kind, t in changes[j:j + 3] if kind == "a"],
                      modified=[t for kind, t in changes[j:j + 3] if kind == "m"],
                      has_more=True) for j in range(0, len(changes), 3)]
        pages.append(page(removed=removed))
        land(lake.store, day.isoformat(), i + 1, pages)
        days.append(day)
        before = after
    return days


# Each example is up to a dozen partition MERGEs (~2 s each on Sail); every run draws new
# examples, so the runs of CI between them cover far more histories than one run could.
@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(states=histories(), data=st.data())
def test_silver_equals_truth_for_any_replay_order(spark, tmp_path_factory, states, data) -> None:
    lake = Lake(str(tmp_path_factory.mktemp("prop") / "lake"))
    seed_reference(spark, lake)
    days = land_history(lake, states)
    order = data.draw(st.permutations(days)) + data.draw(st.lists(st.sampled_from(days),
                                                                  max_size=2))
    for day in order:
        merge_partition(spark, lake, day)
    rows = lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()
    live = {r["partner_txn_id"]: float(r["amount"]) for r in rows if r["status"] == "live"}
    truth = {k: t["amount"] for k, t in states[-1].items()}
    assert live == pytest.approx(truth)
    assert len(rows) == len({r["partner_txn_id"] for r in rows})  # one row per key


@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), days=st.integers(2, 4), page_size=st.sampled_from([3, 7, 50]),
       data=st.data())
def test_silver_equals_sandbox_bank_truth_for_any_replay_order(
        spark, tmp_path_factory, seed, days, page_size, data) -> None:
    """Histories drawn from the sandbox bank (pending->posted with and without links,
    modifications, removals); partitions merged in any order, with repeats."""
    from connectors.credentials import CredentialStore
    from connectors.linking import link_sandbox
    from connectors.partner import partner_client
    from connectors.ratelimit import LocalRateLimiter
    from connectors.sandbox_bank.bank import SandboxBank
    from connectors.sandbox_bank.server import serve
    from connectors.sync import sync_item
    from connectors.vault import LocalKeyProvider, Vault
    from lake.raw import load_cursor

    root = tmp_path_factory.mktemp("bankprop")
    bank = SandboxBank.open(root / "bank", seed=seed, users=2, history_start=START,
                            clock=START + timedelta(days=5))
    lake = Lake(str(root / "lake"))
    creds = CredentialStore(lake, Vault(LocalKeyProvider(root / "keys")))
    limiter = LocalRateLimiter()

    @contextmanager
    def paced() -> Iterator[None]:  # the bank allows 10 requests/s per institution
        limiter.acquire("bank", rate=8.0, burst=1)
        yield

    with serve(bank) as running:
        api = partner_client(running.url, "prop", "prop")
        link_sandbox(api, running.url, creds)
        sync_days = [START + timedelta(days=5 + 2 * i) for i in range(days)]
        for day in sync_days:
            bank.advance_to(day)
            for cred in creds.all():
                sync_item(api, lake.store, cred, creds.token(cred), day, count=page_size,
                          call_slot=paced)
        truth = {(t["account_id"], t["transaction_id"]): t["amount"]
                 for cred in creds.all()
                 for t in bank.truth(creds.token(cred), load_cursor(lake.store,
                                                                    cred.item_id)[0])}
    seed_reference(spark, lake)
    order = data.draw(st.permutations(sync_days)) + data.draw(
        st.lists(st.sampled_from(sync_days), max_size=2))
    for day in order:
        merge_partition(spark, lake, day)
    rows = lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()
    live = {(r["account_id"], r["partner_txn_id"]): float(r["amount"]) for r in rows
            if r["status"] == "live"}
    assert live == pytest.approx(truth)
