"""Nightly gold recomputes only the cells a day changed, and equals a full rebuild."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal

from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import (
    ALERTS,
    BUDGET_PROGRESS,
    CATEGORY_OVERRIDES,
    DAILY_SPEND,
    EXPENSE_DAYS,
    GOLD_CHANGES,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    SPEND_TRENDS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
)
from pipelines.categories.refresh import seed_reference
from pipelines.corrections.recategorise import refresh_categories
from pipelines.corrections.user_category import set_user_category
from pipelines.gold.refresh import rebuild_gold, reconcile_cells, refresh_gold
from pipelines.silver.changes import changed_cells
from pipelines.silver.refresh import merge_partition
from tests.support import budget_lake
from tests.support.lake_fixtures import write_table
from tests.support.raw_builder import USER, land, page, txn

GOLD = (DAILY_SPEND, MONTHLY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS, EXPENSE_DAYS,
        UNUSUAL_ACTIVITY, BUDGET_PROGRESS)
D1, D2, D3 = date(2026, 1, 5), date(2026, 2, 3), date(2026, 2, 10)


def snapshot(lake: Lake) -> dict:
    return {t.name: sorted((tuple(sorted(r.items())) for r in read_rows(lake, t)), key=str)
            for t in GOLD}


def cells_of(spark, lake: Lake, day: date) -> set:
    return {(r["user_id"], r["month"]) for r in changed_cells(spark, lake, day).collect()}


def nightly(spark, lake: Lake, day: date) -> None:
    merge_partition(spark, lake, day)
    refresh_categories(spark, lake, day)
    refresh_gold(spark, lake, changed_cells(spark, lake, day), day)


def test_incremental_nights_equal_a_full_rebuild(spark, lake: Lake) -> None:
    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("a1", 50.00, "2026-01-03", "KROGER #12", merchant="Kroger"),
        txn("a2", 5.00, "2026-01-04", "STARBUCKS 123", merchant="Starbucks"),
        txn("a3", -2000.00, "2026-01-02", "ACME PAYROLL", merchant=None),
        txn("a4", 120.00, "2026-01-04", "AMZN Mktp US*2K4", merchant="Amazon"),
    ])])
    nightly(spark, lake, D1)
    assert cells_of(spark, lake, D1) == {(USER, "2026-01")}

    # A modification, a removal, a late-arriving December charge and a new February one.
    land(lake.store, D2.isoformat(), 2, [page(
        added=[txn("a5", 60.00, "2026-02-01", "SHELL OIL 5521", merchant="Shell"),
               txn("a6", 80.00, "2025-12-20", "BEST BUY 00123", merchant="Best Buy")],
        modified=[txn("a1", 55.00, "2026-01-03", "KROGER #12", merchant="Kroger")],
        removed=["a4"])])
    nightly(spark, lake, D2)
    assert cells_of(spark, lake, D2) == {(USER, "2025-12"), (USER, "2026-01"),
                                         (USER, "2026-02")}
    a5 = next(r for r in read_rows(lake, TRANSACTIONS) if r["partner_txn_id"] == "a5")
    set_user_category(spark, lake, USER, a5["txn_id"], "FOOD_AND_DRINK_RESTAURANT", as_of=D2)

    # A charge moves from January to February; a refund; a pending; a new override.
    upsert_rows(lake, CATEGORY_OVERRIDES, [{
        "user_id": USER, "merchant_key": "kroger", "category": "GENERAL_MERCHANDISE_SUPERSTORES",
        "source": "cli", "created_at": datetime.now(UTC)}])
    land(lake.store, D3.isoformat(), 3, [page(
        added=[txn("a7", -20.00, "2026-02-08", "SHELL OIL 5521", merchant="Shell"),
               txn("p1", 15.00, "2026-02-09", "UBER TRIP", merchant="Uber", pending=True)],
        modified=[txn("a2", 5.00, "2026-02-05", "STARBUCKS 123", merchant="Starbucks")])])
    nightly(spark, lake, D3)
    assert cells_of(spark, lake, D3) == {(USER, "2026-01"), (USER, "2026-02")}

    monthly = {(r["month"], r["category"]): r["amount"] for r in read_rows(lake, MONTHLY_SPEND)}
    assert monthly == {
        ("2025-12", "GENERAL_MERCHANDISE_ELECTRONICS"): Decimal("80.00"),
        ("2026-01", "GENERAL_MERCHANDISE_SUPERSTORES"): Decimal("55.00"),  # the override
        ("2026-02", "FOOD_AND_DRINK_RESTAURANT"): Decimal("60.00"),  # the user's category
        ("2026-02", "TRANSPORTATION_GAS"): Decimal("-20.00"),  # a refund
        ("2026-02", "FOOD_AND_DRINK_COFFEE"): Decimal("5.00"),  # moved from January
    }
    incremental = snapshot(lake)
    everything = changed_cells(spark, lake, D1).union(changed_cells(spark, lake, D2)).union(
        changed_cells(spark, lake, D3))
    assert reconcile_cells(spark, lake, everything) == []

    for t in (*GOLD, GOLD_CHANGES):
        shutil.rmtree(lake.uri(t))
    rebuild_gold(spark, lake, D3)
    assert snapshot(lake) == incremental


def test_gold_skip_inputs_cover_every_table_gold_reads(spark, lake: Lake, monkeypatch) -> None:
    """assets/spend.py skips a day's gold when no table in ``INPUTS`` has a new commit since
    the day's gold completed: that is exact only if gold reads nothing outside the list."""
    from lake import delta
    from pipelines.gold import refresh

    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("a1", 50.00, "2026-01-03", "KROGER #12", merchant="Kroger"),
        txn("a3", -2000.00, "2026-01-02", "ACME PAYROLL", merchant=None)])])
    merge_partition(spark, lake, D1)
    read: set[str] = set()
    real = delta.read_table

    def spy(s, the_lake, t):
        read.add(t.name)
        return real(s, the_lake, t)

    monkeypatch.setattr(delta, "read_table", spy)
    refresh_gold(spark, lake, changed_cells(spark, lake, D1), D1)
    rebuild_gold(spark, lake, D1)
    assert "transactions" in read and "budget_progress" in read
    assert read - {"alerts"} <= {t.name for t in refresh.INPUTS}


def test_nights_of_many_people_equal_a_full_rebuild(spark, lake: Lake) -> None:
    """Twenty people (manual, history and template budgets, custom categories) built to the end
    of February, then two March nights that touch every person's March and, late, some
    Februaries: every gold table equals a rebuild as of the second night."""
    budget_lake.build(lake)
    for t in (BUDGET_PROGRESS, ALERTS):  # no state from before
        shutil.rmtree(lake.uri(t))
    everything = budget_lake.history()
    rows = [r for r in everything if r["posted_month"] <= "2025-02"]
    write_table(lake, TRANSACTIONS, rows)
    rebuild_gold(spark, lake, date(2025, 2, 28))
    for night in (date(2025, 3, 6), date(2025, 3, 12)):
        today = [r for r in everything if r["posted_month"] == "2025-03"
                 and r["posted_date"] <= night] + [
            {**r, "amount": r["amount"] + 1, "sync_date": night}
            for r in rows if r["posted_date"] >= date(2025, 2, 20) and r["user_id"] < "u03"]
        late = {r["txn_id"] for r in today}
        write_table(lake, TRANSACTIONS, [r for r in rows if r["txn_id"] not in late] + today)
        cells = sorted({(r["user_id"], r["posted_month"]) for r in today})
        assert {m for _, m in cells} == {"2025-02", "2025-03"}
        refresh_gold(spark, lake, spark.createDataFrame(cells, "user_id string, month string"),
                     night)
    incremental = snapshot(lake)
    assert len(incremental["budget_progress"]) > 100
    progress = [dict(r) for r in incremental["budget_progress"]]
    assert {r["as_of"] for r in progress if r["month"] == "2025-03"} == {date(2025, 3, 12)}
    assert {r["as_of"] for r in progress if r["month"] == "2025-02"} == {date(2025, 2, 28)}
    for t in GOLD:
        shutil.rmtree(lake.uri(t))
    rebuild_gold(spark, lake, date(2025, 3, 12))
    assert snapshot(lake) == incremental
