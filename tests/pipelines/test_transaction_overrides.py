"""A person's category for one transaction, written by the dashboard without Spark, reaches
silver's user_category and gold on the next nightly run (or replay), once."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import CUSTOM_CATEGORIES, MONTHLY_SPEND, TRANSACTION_OVERRIDES, TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.corrections.recategorise import refresh_categories
from pipelines.gold.refresh import refresh_gold
from pipelines.silver.changes import changed_cells
from pipelines.silver.refresh import merge_partition
from tests.support.raw_builder import ACCOUNT, USER, land, page, txn

D1, D2, D3 = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)
SUPERSTORES = "GENERAL_MERCHANDISE_SUPERSTORES"


def nightly(spark, lake: Lake, day: date) -> tuple[list[str], int]:
    merge_partition(spark, lake, day)
    recategorised = refresh_categories(spark, lake, day)
    refresh_gold(spark, lake, changed_cells(spark, lake, day), day)
    return recategorised


def from_dashboard(lake: Lake, *overrides: tuple[str, str], month: str | None = None) -> None:
    """Rows as the dashboard writes them (``month``: the transaction's posted_month)."""
    upsert_rows(lake, TRANSACTION_OVERRIDES, [
        {"user_id": USER, "txn_id": txn_id, "category": category, "source": "dashboard",
         "created_at": datetime.now(UTC), "posted_month": month}
        for txn_id, category in overrides])


def silver(lake: Lake) -> dict[str, dict]:
    return {r["partner_txn_id"]: r for r in read_rows(lake, TRANSACTIONS)}


def monthly(lake: Lake) -> dict[tuple[str, str], Decimal]:
    return {(r["month"], r["category"]): r["amount"] for r in read_rows(lake, MONTHLY_SPEND)}


def txn_id(partner_txn_id: str) -> str:
    """Silver's id of a transaction that has not arrived yet (as pipelines.silver.rows makes it)."""
    return hashlib.sha256(f"{ACCOUNT}|{partner_txn_id}".encode()).hexdigest()[:32]


def test_override_reaches_silver_and_gold_once(spark, lake: Lake) -> None:
    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("a1", 50.00, "2026-01-03", "KROGER #12", merchant="Kroger"),
        txn("a2", 5.00, "2026-01-04", "STARBUCKS 123", merchant="Starbucks")])])
    assert nightly(spark, lake, D1) == ([], 0)  # a lake without the table works
    rows = silver(lake)
    groceries = rows["a1"]["category"]
    assert monthly(lake)[("2026-01", groceries)] == Decimal("50.00")

    from_dashboard(lake, (rows["a1"]["txn_id"], SUPERSTORES),
                   (rows["a2"]["txn_id"], "NOT_A_CATEGORY"), month="2026-01")
    from_dashboard(lake, (txn_id("not-synced-yet"), "FOOD_AND_DRINK_RESTAURANT"))
    assert nightly(spark, lake, D2) == (["2026-01"], 1)  # nothing landed on D2

    rows = silver(lake)
    assert rows["a1"]["user_category"] == SUPERSTORES
    assert rows["a1"]["category"] == groceries  # the automatic category is kept
    assert rows["a2"]["user_category"] is None  # unknown code: not applied
    assert changed_cells(spark, lake, D2).collect() == [(USER, "2026-01")]
    spend = monthly(lake)
    assert spend[("2026-01", SUPERSTORES)] == Decimal("50.00")
    assert ("2026-01", groceries) not in spend
    assert spend[("2026-01", rows["a2"]["category"])] == Decimal("5.00")

    version = lake.delta(TRANSACTIONS).version()
    assert refresh_categories(spark, lake, D2) == ([], 0)
    assert lake.delta(TRANSACTIONS).version() == version  # applied once: no new version
    assert len(read_rows(lake, TRANSACTION_OVERRIDES)) == 3  # the other two are kept


def test_cli_override_is_recorded_and_not_reverted(spark, lake: Lake, monkeypatch) -> None:
    from core.settings import load_settings
    from finlake.commands.category import override

    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("a1", 50.00, "2026-01-03", "KROGER #12", merchant="Kroger")])])
    nightly(spark, lake, D1)
    a1 = silver(lake)["a1"]["txn_id"]
    from_dashboard(lake, (a1, SUPERSTORES), month="2026-01")
    assert nightly(spark, lake, D2) == (["2026-01"], 1)
    monkeypatch.setenv("FINLAKE_HOME", str(Path(lake.root).parent))
    assert override(load_settings(), USER, "FOOD_AND_DRINK_RESTAURANT", None, a1) == 0
    [row] = read_rows(lake, TRANSACTION_OVERRIDES)
    assert (row["category"], row["source"], row["posted_month"]) == (
        "FOOD_AND_DRINK_RESTAURANT", "cli", "2026-01")
    assert nightly(spark, lake, D3) == ([], 0)  # the later choice stands
    assert silver(lake)["a1"]["user_category"] == "FOOD_AND_DRINK_RESTAURANT"


def test_override_waits_for_its_transaction_and_follows_a_posting(spark, lake: Lake) -> None:
    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("p1", 15.00, "2026-01-04", "UBER TRIP", merchant="Uber", pending=True)])])
    merge_partition(spark, lake, D1)
    upsert_rows(lake, CUSTOM_CATEGORIES, [{
        "user_id": USER, "category": "CUSTOM_WORK_RIDES", "category_primary": "TRANSPORTATION",
        "display_name": "Work rides", "created_at": datetime.now(UTC)}])
    from_dashboard(lake, (silver(lake)["p1"]["txn_id"], "CUSTOM_WORK_RIDES"),
                   (txn_id("a9"), "FOOD_AND_DRINK_RESTAURANT"))

    # The posting replaces the pending row in the same night the override is first applied.
    land(lake.store, D2.isoformat(), 2, [page(added=[
        txn("q1", 15.00, "2026-01-05", "UBER TRIP", merchant="Uber", pending_id="p1"),
        txn("a9", 12.00, "2026-01-05", "JOES DINER", merchant="Joes Diner")])])
    nightly(spark, lake, D2)
    rows = silver(lake)
    assert rows["a9"]["txn_id"] == txn_id("a9")
    assert rows["p1"]["status"] == "superseded"
    assert (rows["q1"]["user_category"], rows["a9"]["user_category"]) == (
        "CUSTOM_WORK_RIDES", "FOOD_AND_DRINK_RESTAURANT")
    spend = {k: v for k, v in monthly(lake).items() if k[0] == "2026-01"}
    assert spend == {("2026-01", "CUSTOM_WORK_RIDES"): Decimal("15.00"),
                     ("2026-01", "FOOD_AND_DRINK_RESTAURANT"): Decimal("12.00")}
    assert refresh_categories(spark, lake, D3) == ([], 0)
