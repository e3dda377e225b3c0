"""Silver merge: idempotent, order-independent, supersession, quarantine, gold from silver."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from lake.lake import Lake
from lake.tables import MONTHLY_CASHFLOW, MONTHLY_SPEND, QUARANTINE, TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.gold.refresh import refresh_gold
from pipelines.silver.changes import changed_cells
from pipelines.silver.refresh import merge_partition
from tests.support.raw_builder import land, page, txn

pytestmark = pytest.mark.integration

D1, D2, D3 = date(2026, 1, 10), date(2026, 1, 11), date(2026, 2, 2)


def rows(lake: Lake, table=TRANSACTIONS) -> dict:
    dt = lake.delta(table)
    data = dt.to_pyarrow_table().to_pylist() if dt else []
    return {tuple(r[k] for k in table.keys): r for r in data}


def version(lake: Lake, table=TRANSACTIONS) -> int:
    return lake.delta(table).version()


def history(lake: Lake) -> None:
    """Three days: pending coffee posts with a tip, a removal, a late modification."""
    land(lake.store, D1.isoformat(), 1, [
        page(added=[txn("p1", 4.50, "2026-01-10", pending=True),
                    txn("t2", 30.00, "2026-01-09", "SHELL OIL 5521", merchant="Shell"),
                    txn("t3", -1500.00, "2026-01-09", "ACME PAYROLL", merchant=None)],
             has_more=True),
        page(added=[txn("t4", 12.00, "2026-01-08", "AMZN Mktp US*2K4", merchant="Amazon")]),
    ])
    land(lake.store, D2.isoformat(), 2, [
        page(added=[txn("t1", 5.40, "2026-01-11", pending_id="p1")], removed=["p1", "t4"]),
    ])
    land(lake.store, D3.isoformat(), 3, [
        page(modified=[txn("t2", 31.00, "2026-01-09", "SHELL OIL 5521", merchant="Shell")],
             added=[txn("t5", 99.00, "2026-02-01", "BEST BUY 00123", merchant="Best Buy")]),
    ])


def run_days(spark, lake: Lake, days) -> list[str]:
    seed_reference(spark, lake)
    months: set[str] = set()
    for d in days:
        months.update(merge_partition(spark, lake, d).months)
        refresh_gold(spark, lake, changed_cells(spark, lake, d), d)
    return sorted(months)


def live(lake: Lake) -> dict:
    return {k: r for k, r in rows(lake).items() if r["status"] == "live"}


@pytest.fixture(scope="module")
def in_order(spark, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The three days merged in order, once for the module; read only (tests that write take
    a copy with :func:`copy_lake`)."""
    lake = Lake(str(tmp_path_factory.mktemp("in_order") / "lake"))
    history(lake)
    run_days(spark, lake, [D1, D2, D3])
    return lake


def copy_lake(lake: Lake, dest: Path) -> Lake:
    """A private copy (Delta logs hold paths relative to their table)."""
    return Lake(str(shutil.copytree(lake.root, dest)))


def test_merge_applies_adds_modifications_removals_and_supersession(in_order) -> None:
    lake = in_order
    silver = rows(lake)
    assert set(live(lake)) == {("acc_1", t) for t in ("t1", "t2", "t3", "t5")}
    assert float(silver[("acc_1", "t2")]["amount"]) == pytest.approx(31.00)  # modification applied
    assert silver[("acc_1", "t4")]["status"] == "removed"  # tombstone kept
    pending = silver[("acc_1", "p1")]
    assert (pending["status"], pending["superseded_by"]) == ("superseded", "t1")
    assert silver[("acc_1", "t2")]["category"] == "TRANSPORTATION_GAS"
    assert silver[("acc_1", "t4")]["merchant_key"] == "amazon"


def test_replay_changes_nothing_and_commits_no_version(spark, in_order, tmp_path) -> None:
    lake = copy_lake(in_order, tmp_path / "lake")
    before, v = rows(lake), version(lake)
    gold_before, gv = rows(lake, MONTHLY_SPEND), version(lake, MONTHLY_SPEND)
    run_days(spark, lake, [D1, D2, D3, D2])
    assert rows(lake) == before
    assert version(lake) == v
    assert rows(lake, MONTHLY_SPEND) == gold_before
    assert version(lake, MONTHLY_SPEND) == gv


@pytest.mark.parametrize("order", [[D3, D2, D1], [D2, D1, D3, D1], [D1, D3, D2, D3]])
def test_any_replay_order_converges(spark, tmp_path, in_order, order) -> None:
    reference = in_order
    shuffled = Lake(str(tmp_path / "shuffled"))
    history(shuffled)
    run_days(spark, shuffled, order)
    assert rows(reference) == rows(shuffled)
    assert rows(reference, MONTHLY_SPEND) == rows(shuffled, MONTHLY_SPEND)


def test_monthly_spend_reduces_live_posted_rows_without_transfers(in_order) -> None:
    lake = in_order
    gold = rows(lake, MONTHLY_SPEND)
    jan = {k[2]: r for k, r in gold.items() if k[1] == "2026-01"}
    assert float(jan["TRANSPORTATION_GAS"]["amount"]) == pytest.approx(31.00)
    assert float(jan["FOOD_AND_DRINK_COFFEE"]["amount"]) == pytest.approx(5.40)  # posted
    assert jan["FOOD_AND_DRINK_COFFEE"]["txn_count"] == 1
    assert "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES" not in jan  # removed
    assert "INCOME_SALARY" not in jan  # income is not spend
    cashflow = rows(lake, MONTHLY_CASHFLOW)
    assert float(cashflow[("user_0001", "2026-01")]["income"]) == pytest.approx(1500.00)
    feb = {k[2]: r for k, r in gold.items() if k[1] == "2026-02"}
    assert float(feb["GENERAL_MERCHANDISE_ELECTRONICS"]["amount"]) == pytest.approx(99.00)
    total_gold = sum(float(r["amount"]) for r in gold.values())
    total_silver = sum(float(r["amount"]) for r in live(lake).values()
                       if not r["pending"] and r["category"] != "INCOME_SALARY")
    assert total_gold == pytest.approx(total_silver)  # no transfers in this history


def test_bad_records_are_quarantined_with_reason_and_the_rest_proceeds(spark, lake) -> None:
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("ok", 10.0, "2026-01-10"),
        txn("", 10.0, "2026-01-10"),
        txn("cur", 10.0, "2026-01-10", currency="XXX"),
        txn("future", 10.0, "2031-01-01"),
        txn("nodate", 10.0, "not-a-date"),
    ])])
    run_days(spark, lake, [D1])
    assert set(rows(lake)) == {("acc_1", "ok")}
    reasons = sorted(r["reason"] for r in rows(lake, QUARANTINE).values())
    assert reasons == ["date implausible",
                       "date missing or not YYYY-MM-DD; authorized_date not YYYY-MM-DD",
                       "transaction_id empty", "unknown currency"]
    assert all(r["raw_ref"].startswith("raw/") for r in rows(lake, QUARANTINE).values())
    v = version(lake, QUARANTINE)
    run_days(spark, lake, [D1])
    assert version(lake, QUARANTINE) == v  # quarantining is idempotent too


def test_user_category_survives_partner_updates_and_carries_to_posted(spark, lake) -> None:
    land(lake.store, D1.isoformat(), 1, [page(added=[txn("p1", 4.5, "2026-01-10",
                                                         pending=True)])])
    run_days(spark, lake, [D1])
    lake_uri = lake.uri(TRANSACTIONS)
    spark.sql(f"UPDATE delta.`{lake_uri}` SET user_category = 'FOOD_AND_DRINK_RESTAURANT' "
              "WHERE partner_txn_id = 'p1'")
    land(lake.store, D2.isoformat(), 2, [page(added=[txn("t1", 5.0, "2026-01-11",
                                                         pending_id="p1")], removed=["p1"])])
    run_days(spark, lake, [D2])
    silver = rows(lake)
    assert silver[("acc_1", "p1")]["user_category"] == "FOOD_AND_DRINK_RESTAURANT"
    assert silver[("acc_1", "t1")]["user_category"] == "FOOD_AND_DRINK_RESTAURANT"
    gold = rows(lake, MONTHLY_SPEND)
    assert ("user_0001", "2026-01", "FOOD_AND_DRINK_RESTAURANT") in gold


def test_unlinked_posting_supersedes_pending_by_heuristic(spark, lake) -> None:
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("p1", 23.10, "2026-01-10", "SQ *BLUE BOTTLE 0423", merchant=None, pending=True),
        txn("p2", 9.99, "2026-01-10", "NETFLIX.COM", merchant="Netflix", pending=True),
    ])])
    # The bank posts both without a link and (for p2) never removes the pending row.
    land(lake.store, D2.isoformat(), 2, [page(added=[
        txn("t1", 23.10, "2026-01-12", "BLUE BOTTLE COFFEE 0423", merchant=None),
        txn("t2", 9.99, "2026-01-11", "NETFLIX.COM", merchant="Netflix"),
        txn("t3", 23.10, "2026-01-30", "BLUE BOTTLE COFFEE", merchant=None),  # too late
    ], removed=["p1"])])
    run_days(spark, lake, [D1, D2])
    silver = rows(lake)
    assert (silver[("acc_1", "p1")]["superseded_by"],
            silver[("acc_1", "p1")]["supersede_method"]) == ("t1", "heuristic")
    assert silver[("acc_1", "p2")]["status"] == "superseded"  # never counted twice
    assert silver[("acc_1", "t3")]["status"] == "live"
    jan = {k[2]: r for k, r in rows(lake, MONTHLY_SPEND).items() if k[1] == "2026-01"}
    assert jan["ENTERTAINMENT_TV_AND_MOVIES"]["txn_count"] == 1


def test_posting_seen_before_its_pending_still_supersedes_it(spark, lake) -> None:
    # Replay order: the later partition (posting) is merged before the earlier (pending).
    land(lake.store, D1.isoformat(), 1, [page(added=[txn("p1", 4.5, "2026-01-31",
                                                         pending=True)])])
    land(lake.store, D3.isoformat(), 2, [page(added=[txn("t1", 5.0, "2026-02-01",
                                                         pending_id="p1")])])
    run_days(spark, lake, [D3, D1])
    silver = rows(lake)
    assert silver[("acc_1", "p1")]["status"] == "superseded"
    assert silver[("acc_1", "p1")]["supersede_method"] == "link"


def test_partner_resending_an_id_with_new_details_updates_and_flags(spark, lake) -> None:
    land(lake.store, D1.isoformat(), 1, [page(added=[txn("t1", 10.0, "2026-01-10")])])
    land(lake.store, D2.isoformat(), 2, [page(added=[txn("t1", 12.5, "2026-01-10",
                                                         "STARBUCKS 999")])])
    run_days(spark, lake, [D1, D2])
    row = rows(lake)[("acc_1", "t1")]
    assert float(row["amount"]) == pytest.approx(12.5) and row["partner_duplicate"] is True
