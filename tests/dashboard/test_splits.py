"""Issue 24, item 2 on the Transactions page: a person splits one of their transactions
between categories (amounts in the transaction's own direction), a split that does not add up
is refused with what to do and nothing written, only their own posted transactions can be
split, a split the bank's change made stale is in the review queue, analysts see splits
de-identified and forgetting the person removes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import splits
from dashboard.actions import ActionError
from dashboard.data import txns
from dashboard.views.transactions import _why
from lake.duck import analyst_tables
from lake.lake import Lake
from lake.small_tables import append_rows, read_rows
from lake.tables import AUDIT_LOG, TRANSACTION_SPLITS
from tests.dashboard.test_dashboard import _button, _open, who
from tests.support.lake_fixtures import ALICE, BOB

MARKETPLACE = "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"
FURNITURE = "HOME_IMPROVEMENT_FURNITURE"


def _part(user: str, txn_id: str, part: int, category: str, amount: str, made_for: str
          ) -> dict:
    return {"user_id": user, "txn_id": txn_id, "part": part, "category": category,
            "amount": Decimal(amount), "txn_amount": Decimal(made_for),
            "posted_month": "2024-01", "source": "cli", "created_at": datetime.now(UTC)}


@pytest.fixture
def lake(writable_home: Path) -> Lake:
    lake = Lake(str(writable_home / "lake"))
    # bob's split on one of alice's ids: alice never sees it
    append_rows(lake, TRANSACTION_SPLITS, [
        _part(BOB, "alice-t1", 1, FURNITURE, "40.00", "82.40"),
        _part(BOB, "alice-t1", 2, MARKETPLACE, "42.40", "82.40")])
    return lake


def _mine(lake: Lake, user: str = ALICE) -> dict[str, list[tuple[str, Decimal]]]:
    out: dict[str, list[tuple[int, str, Decimal]]] = {}
    for r in read_rows(lake, TRANSACTION_SPLITS):
        if r["user_id"] == user:
            out.setdefault(r["txn_id"], []).append((r["part"], r["category"], r["amount"]))
    return {t: [(c, a) for _, c, a in sorted(v)] for t, v in out.items()}


def _split_on_page(at: AppTest, description: str, parts: list[tuple[str, str]]) -> AppTest:
    pick = at.selectbox(key=next(s.key for s in at.selectbox
                                 if s.label == "Transaction to split"))
    pick.set_value(next(o for o in pick.options if description in o)).run()
    at.number_input(key=next(n.key for n in at.number_input if n.label == "Parts")).set_value(
        len(parts)).run()
    for i, (category, amount) in enumerate(parts, start=1):
        at.selectbox(key=next(s.key for s in at.selectbox if s.label == f"Category {i}")
                     ).set_value(category)
        at.text_input(key=next(t.key for t in at.text_input if t.label == f"Amount {i}")
                      ).input(amount)
    _button(at, "Save split").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_split_a_transaction_on_the_page(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(Path(lake.root).parent, monkeypatch, "transactions", ALICE)
    # the pending ride is not offered: its amount may change when it posts
    pick = next(s for s in at.selectbox if s.label == "Transaction to split")
    assert not [o for o in pick.options if "UBER" in o]
    _split_on_page(at, "AMAZON", [(MARKETPLACE, "1,000"), (FURNITURE, "200.00")])
    [error] = [e.value for e in at.error]
    assert "add up to 1,200.00 but the transaction is 1,234.56" in error
    assert _mine(lake) == {}  # nothing written

    _split_on_page(at, "AMAZON", [(MARKETPLACE, "1,000"), (FURNITURE, "234.56")])
    assert [s.value for s in at.success] == [
        "AMAZON is split in 2 parts. Totals and budgets count them after the next refresh."]
    assert _mine(lake) == {"alice-t4": [(MARKETPLACE, Decimal("1000.00")),
                                        (FURNITURE, Decimal("234.56"))]}
    # the form shows the split stored; audited with counts only
    assert any(c.value.startswith("Split: ") for c in at.caption)
    [row] = [r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "split_transaction"]
    assert json.loads(row["detail"]) == {"parts": 2, "replaced": False, "split": "set"}

    _button(at, "Remove split").click().run()
    assert _mine(lake) == {}
    assert [s.value for s in at.success] == [
        "AMAZON is no longer split: it counts whole in its category after the next refresh."]


def test_money_in_is_split_in_its_own_direction_and_others_are_refused(lake: Lake) -> None:
    alice = who(lake, ALICE)
    # payroll of 2,500.00 coming in: typed as 2000 + 500, stored with the partner's sign
    splits.save(lake, alice, "alice-t2", [("INCOME_SALARY", "2000"),
                                          ("INCOME_OTHER", "500"), (None, "")])
    assert _mine(lake) == {"alice-t2": [("INCOME_SALARY", Decimal("-2000.00")),
                                        ("INCOME_OTHER", Decimal("-500.00"))]}
    assert splits.current(lake, alice, "alice-t2").parts == [
        ("INCOME_SALARY", Decimal("2000.00")), ("INCOME_OTHER", Decimal("500.00"))]
    refused = {"bob-t1": "not one of yours", "no-such-txn": "not one of yours",
               "alice-t5": "removed by the bank", "alice-t6": "still pending"}
    for txn_id, said in refused.items():
        with pytest.raises(ActionError, match=said):
            splits.save(lake, alice, txn_id, [(FURNITURE, "1"), (MARKETPLACE, "1")])
    with pytest.raises(ActionError, match="no category"):
        splits.save(lake, alice, "alice-t4", [(None, "34.56"), (FURNITURE, "1200")])
    assert splits.current(lake, alice, "alice-t1") is None  # bob's split on alice's id
    assert list(_mine(lake)) == ["alice-t2"] and list(_mine(lake, BOB)) == ["alice-t1"]


def test_a_stale_split_is_in_the_review_queue(lake: Lake) -> None:
    # split when AMAZON was 1,200.00; the bank has since changed it to 1,234.56
    append_rows(lake, TRANSACTION_SPLITS, [
        _part(ALICE, "alice-t4", 1, MARKETPLACE, "1000.00", "1200.00"),
        _part(ALICE, "alice-t4", 2, FURNITURE, "200.00", "1200.00")])
    queue, _ = txns.review_queue(lake, who(lake, ALICE))
    reasons = dict(zip(queue["txn_id"], queue["reasons"], strict=True))
    assert txns.SPLIT_STALE in reasons["alice-t4"]
    assert not [r for t, r in reasons.items() if t != "alice-t4" and txns.SPLIT_STALE in r]
    assert "changed its amount after you split it" in _why(reasons["alice-t4"], None)
    assert splits.current(lake, who(lake, ALICE), "alice-t4").stale


def test_splits_are_de_identified_for_analysts_and_forgotten(lake: Lake) -> None:
    from lake.analyst_tables import TableBuilder
    from lake.forget import forget

    splits.save(lake, who(lake, ALICE), "alice-t4", [(MARKETPLACE, "1000"),
                                                     (FURNITURE, "234.56")])
    builder = TableBuilder(lake, "k" * 64)
    try:
        t = {t.name: t for t in analyst_tables()}["transaction_splits"]
        rows = builder.batches(t, lake.delta(t)).read_all().to_pylist()
        assert len(rows) == 4
        assert not {r["user_id"] for r in rows} & {ALICE, BOB}
        assert not {r["txn_id"] for r in rows} & {"alice-t1", "alice-t4"}
    finally:
        builder.close()
    forget(lake, ALICE, revoke=None, say=lambda _: None)
    assert {r["user_id"] for r in read_rows(lake, TRANSACTION_SPLITS)} == {BOB}
