"""Unusual activity from running statistics (issue 21 item 4) flags exactly what the old
windows over 14 months of silver flagged (``tests/support/old_unusual.py``): on a generated
multi-person history with outliers, large first payments, refunds, income and transfers,
rows without a merchant or with an empty one, pending and removed rows, a person's own
category, amounts whose averages do not divide evenly, and payments exactly 400/401 and
60/59 days apart; for a full rebuild, a night's changed cells, and a lake from before the
statistics existed.
"""

from __future__ import annotations

import random
import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lake import delta
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import (
    CATEGORIES,
    CUSTOM_CATEGORIES,
    EXPENSE_DAYS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
)
from pipelines.categories.reference import categories
from pipelines.gold.refresh import rebuild_gold, refresh_gold
from pipelines.silver.changes import all_cells
from tests.support import old_unusual
from tests.support.lake_fixtures import txn, write_table

AS_OF = date(2025, 8, 20)
FIRST = date(2024, 1, 1)
SHOPS = (("KROGER", "FOOD_AND_DRINK_GROCERIES", 60), ("STARBUCKS", "FOOD_AND_DRINK_COFFEE", 6),
         ("SHELL", "TRANSPORTATION_GAS", 45), ("TARGET", "GENERAL_MERCHANDISE_SUPERSTORES", 55),
         ("AMC", "ENTERTAINMENT_TV_AND_MOVIES", 25), ("CVS", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS",
                                                      20))
USERS = [f"p{i:02d}" for i in range(24)]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def history() -> list[dict]:
    rng = random.Random(21)
    rows: list[dict] = []

    def add(user: str, day: date, amount: str, description: str | None, category: str | None,
            **extra) -> None:
        rows.append(txn(user, len(rows), day, amount, description or "POS DEBIT", category,
                        **extra))

    days = (AS_OF - FIRST).days + 1
    for user in USERS:
        start = FIRST + timedelta(days=rng.randrange(0, 200))
        for k in range((AS_OF - start).days + 1):
            day = start + timedelta(days=k)
            if day.day in (1, 15):
                add(user, day, "-2100.00", "ACME PAYROLL", "INCOME_WAGES")
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                name, cat, base = rng.choice(SHOPS)
                cents = rng.randrange(50, 150) * base
                add(user, day, f"{cents / 100:.2f}", name, cat)
            if rng.random() < 0.01:  # an outlier at a usual shop
                name, cat, base = rng.choice(SHOPS)
                add(user, day, f"{base * rng.choice((5, 9, 20)) + 0.37:.2f}", name, cat)
            if rng.random() < 0.004 and k > 70:  # a large first payment somewhere new
                add(user, day, f"{rng.randrange(600, 3000)}.15", f"NEWSHOP {k}",
                    "HOME_IMPROVEMENT_FURNITURE")
            if rng.random() < 0.02:  # a refund
                name, cat, _ = rng.choice(SHOPS)
                add(user, day, "-12.34", name, cat)
            if rng.random() < 0.02:  # no merchant key at all, and an empty one
                add(user, day, "412.00", None, "GENERAL_SERVICES_OTHER_GENERAL_SERVICES",
                    merchant=None, merchant_key=None)
                add(user, day, "640.00", None, "GENERAL_SERVICES_OTHER_GENERAL_SERVICES",
                    merchant=None, merchant_key="")
            if rng.random() < 0.01:  # money to one's own savings: not spend
                add(user, day, "900.00", "TRANSFER TO SAVINGS", "TRANSFER_OUT_SAVINGS")
            if rng.random() < 0.01:  # pending and removed rows never count
                add(user, day, "5000.00", "KROGER", "FOOD_AND_DRINK_GROCERIES", pending=True)
                add(user, day, "5000.00", "TARGET", "GENERAL_MERCHANDISE_SUPERSTORES",
                    status="removed")
    assert days > 400
    # Exact edges: a shop paid 400 and 401 days before a payment there, a first large
    # payment 60 days (seasoned) and 59 days (not) after a person's first expense, and
    # averages that do not divide evenly (33.33, 33.33, 33.34).
    edge = "edge"
    judged = date(2025, 8, 12)
    for n in range(3):
        add(edge, judged - timedelta(days=400 - n), "33.33" if n < 2 else "33.34", "DELI",
            "FOOD_AND_DRINK_RESTAURANT")
    add(edge, judged - timedelta(days=401), "1.00", "DELI", "FOOD_AND_DRINK_RESTAURANT")
    add(edge, judged, "150.01", "DELI", "FOOD_AND_DRINK_RESTAURANT")
    for who, gap in (("seasoned", 60), ("fresh", 59)):
        add(who, AS_OF - timedelta(days=gap), "10.00", "STARBUCKS", "FOOD_AND_DRINK_COFFEE")
        add(who, AS_OF, "800.00", "FURNITURE WORLD", "HOME_IMPROVEMENT_FURNITURE")
    # A person's own category (a custom primary) and a user category on a bank row.
    add("p00", date(2025, 8, 3), "700.00", "POTTERY BARN KIDS", "fay:pottery")
    add("p01", date(2025, 8, 4), "950.00", "AIRLINE", "TRAVEL_FLIGHTS",
        user_category="FOOD_AND_DRINK_RESTAURANT")
    return rows


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("unusual") / "lake"))
    write_table(lake, TRANSACTIONS, history())
    write_table(lake, CATEGORIES, categories())
    write_table(lake, CUSTOM_CATEGORIES, [{
        "user_id": "p00", "category": "fay:pottery", "category_primary": "ENTERTAINMENT",
        "display_name": "Pottery", "created_at": T0}])
    rebuild_gold(spark, lake, AS_OF)
    return lake


def copy_of(lake: Lake, where) -> Lake:  # noqa: ANN001
    shutil.copytree(lake.root, where / "lake")
    return Lake(str(where / "lake"))


def rows_of(df_or_rows) -> list[tuple]:  # noqa: ANN001
    rows = df_or_rows if isinstance(df_or_rows, list) else [r.asDict() for r in
                                                            df_or_rows.collect()]
    return sorted((tuple(sorted(r.items())) for r in rows), key=str)


def old_flags(spark, lake: Lake, cells) -> list[tuple]:  # noqa: ANN001
    return rows_of(delta.conform(old_unusual.flags(spark, lake, cells), UNUSUAL_ACTIVITY))


def stored(lake: Lake, t=UNUSUAL_ACTIVITY, months: set[str] | None = None) -> list[tuple]:  # noqa: ANN001
    return rows_of([r for r in read_rows(lake, t) if months is None or r["month"] in months])


def test_a_rebuild_flags_exactly_what_the_old_windows_flagged(spark, built: Lake) -> None:
    new = stored(built)
    assert new == old_flags(spark, built, all_cells(spark, built))
    kinds = {dict(r)["kind"] for r in new}
    assert kinds == {"merchant_outlier", "new_merchant_large", "category_spike"}
    flagged = {(dict(r)["user_id"], dict(r)["txn_id"]) for r in new}
    by_user = {u for u, _ in flagged}
    assert "seasoned" in by_user and "fresh" not in by_user  # 60 days seasoned, 59 not
    edge = [dict(r) for r in new if dict(r)["user_id"] == "edge"]
    # the 401-day-old $1.00 is outside the window: the usual is 33.33 (100.00 / 3)
    assert [(r["kind"], r["baseline"]) for r in edge] == [
        ("merchant_outlier", Decimal("33.33"))]
    assert "4.5x your usual $33.33" in edge[0]["reason"]
    # statistics hold every expense row of every cell, refunds and rows without a merchant
    days = [dict(r) for r in read_rows(built, EXPENSE_DAYS)]
    assert any(d["merchant_key"] == "#none" for d in days)
    assert any(d["merchant_key"] == "" for d in days)
    assert any(d["payments"] < d["expenses"] for d in days)  # a refund that day


def test_a_nights_cells_flag_what_the_old_windows_flagged(spark, built: Lake, tmp_path) -> None:
    lake = copy_of(built, tmp_path)
    day = AS_OF + timedelta(days=1)
    silver = [r for r in read_rows(lake, TRANSACTIONS)]
    late = next(r for r in silver if r["user_id"] == "p03" and r["posted_month"] == "2025-03"
                and r["merchant_key"] == "kroger")
    new_rows = [
        txn("p02", 900_001, day, "480.00", "KROGER", "FOOD_AND_DRINK_GROCERIES",
            sync_date=day),
        txn("p04", 900_002, day, "2400.00", "FANCY SOFA CO", "HOME_IMPROVEMENT_FURNITURE",
            sync_date=day),
        {**late, "txn_id": "late-1", "partner_txn_id": "late-1", "amount": Decimal("700.00"),
         "sync_date": day},
    ]
    changed = [r for r in silver if r["user_id"] == "p05" and r["posted_month"] == "2025-08"
               and Decimal(r["amount"]) > 0][:1]
    modified = [{**r, "amount": Decimal(r["amount"]) * 12, "sync_date": day} for r in changed]
    write_table(lake, TRANSACTIONS, [r for r in silver if r not in changed] + modified
                + new_rows)
    pairs = sorted({(r["user_id"], r["posted_month"]) for r in new_rows + modified})
    cells = spark.createDataFrame(pairs, "user_id string, month string")
    months = {m for _, m in pairs}
    result = refresh_gold(spark, lake, cells, day)
    expected = old_flags(spark, lake, cells)  # after the refresh: spikes read monthly_spend
    assert result.rows_changed["expense_days"] > 0
    touched = [r for r in stored(lake, months=months)
               if (dict(r)["user_id"], dict(r)["month"]) in set(pairs)]
    assert touched == expected
    subjects = {dict(r)["subject"] for r in touched}
    assert {"p02-t900001", "p04-t900002", "late-1"} <= subjects
    # the statistics equal a rebuild's for every cell
    rebuilt = copy_of(lake, tmp_path / "rebuilt")
    rebuild_gold(spark, rebuilt, day)
    assert stored(lake, EXPENSE_DAYS) == stored(rebuilt, EXPENSE_DAYS)


def test_a_lake_from_before_the_statistics_builds_them_once(spark, built: Lake,
                                                            tmp_path) -> None:
    lake = copy_of(built, tmp_path)
    shutil.rmtree(Path(lake.root) / EXPENSE_DAYS.key)
    assert not lake.exists(EXPENSE_DAYS)
    pairs = [(u, "2025-08") for u in USERS]
    cells = spark.createDataFrame(pairs, "user_id string, month string")
    result = refresh_gold(spark, lake, cells, AS_OF)
    assert lake.exists(EXPENSE_DAYS)
    assert stored(lake, EXPENSE_DAYS) == stored(built, EXPENSE_DAYS)
    assert [a.suite for a in result.audits].count("expense_days") == 2  # built, then the cells
    assert stored(lake, months={"2025-08"}) == stored(built, months={"2025-08"})


def test_a_late_payment_re_judges_the_months_after_it(spark, built: Lake, tmp_path) -> None:
    """A payment judged in July is measured against the 400 days before it: payments at the
    same shop arriving late for May raise its usual there, and the July flag must go, as a
    rebuild would have it (before, only the late payment's own month was judged again)."""
    lake = copy_of(built, tmp_path / "night")
    flagged = sorted((dict(r) for r in stored(lake, months={"2025-07"})
                      if dict(r)["kind"] == "merchant_outlier"), key=lambda r: r["txn_id"])
    assert flagged, "the generated history has July outliers"
    target = flagged[0]
    day = AS_OF + timedelta(days=1)
    late = [txn(target["user_id"], 800_000 + n, date(2025, 5, 10 + n), str(target["amount"]),
                target["merchant_key"].upper(), "FOOD_AND_DRINK_GROCERIES", sync_date=day)
            for n in range(6)]
    write_table(lake, TRANSACTIONS, read_rows(lake, TRANSACTIONS) + late)
    cells = spark.createDataFrame([(target["user_id"], "2025-05")], "user_id string, month string")
    refresh_gold(spark, lake, cells, day)
    subjects = {dict(r)["subject"] for r in stored(lake)}
    assert target["txn_id"] not in subjects
    rebuilt = copy_of(lake, tmp_path / "rebuilt")
    rebuild_gold(spark, rebuilt, day)
    assert stored(lake) == stored(rebuilt)
    assert stored(lake, EXPENSE_DAYS) == stored(rebuilt, EXPENSE_DAYS)
