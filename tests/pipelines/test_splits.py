"""Issue 24, item 2: a person splits a transaction between categories. A split that does not
add up (or is otherwise wrong) is refused with one line and nothing written; gold counts each
part in its category and its totals do not move; when the partner changes the transaction's
amount the split stops counting (gold counts the transaction whole, reconciled) and says so;
a removed transaction leaves gold; clearing a split puts its cell back through the nightly."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import load_settings
from finlake.commands.split import split_clear, split_set, split_show
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import GOLD_CHANGES, MONTHLY_CASHFLOW, MONTHLY_SPEND, TRANSACTIONS
from lake.tables_splits import TRANSACTION_SPLITS
from pipelines.categories.refresh import seed_reference
from pipelines.corrections.recategorise import refresh_categories
from pipelines.corrections.split_parts import SplitError, parse_amount
from pipelines.corrections.splits import (
    AMOUNT_CHANGED,
    REMOVED,
    clear_split,
    set_split,
    split_of,
)
from pipelines.gold.refresh import reconcile_cells, refresh_gold
from pipelines.silver.changes import changed_cells
from pipelines.silver.refresh import merge_partition
from tests.support.raw_builder import USER, land, page, txn

pytestmark = pytest.mark.integration

D1, D2, D3, D4 = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7), date(2026, 1, 8)
MONTH = "2026-01"
GROCERIES, SUPERSTORES = "FOOD_AND_DRINK_GROCERIES", "GENERAL_MERCHANDISE_SUPERSTORES"
OTHER, FURNITURE = "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", "HOME_IMPROVEMENT_FURNITURE"
SAVINGS = "TRANSFER_OUT_SAVINGS"


def _logged(spark, lake: Lake, day: date) -> list[str]:
    """The nightly's corrections step for ``day`` (it logs the cells splits changed); the
    months logged for that day's gold."""
    refresh_categories(spark, lake, day)
    return sorted(r["month"] for r in read_rows(lake, GOLD_CHANGES) if r["sync_date"] == day)


def _gold(spark, lake: Lake, day: date) -> dict:
    """The night's gold for ``day``'s logged cells, then what the month holds: per category
    (amount, count), the cash flow's expense and count, and whether gold reconciles."""
    logged = _logged(spark, lake, day)
    refresh_gold(spark, lake, changed_cells(spark, lake, day), day)
    cells = spark.createDataFrame([(USER, MONTH)], "user_id string, month string")
    [flow] = [r for r in read_rows(lake, MONTHLY_CASHFLOW) if r["user_id"] == USER]
    return {"spend": {r["category"]: (r["amount"], r["txn_count"])
                      for r in read_rows(lake, MONTHLY_SPEND) if r["user_id"] == USER},
            "expense": flow["expense"], "count": flow["txn_count"],
            "unreconciled": reconcile_cells(spark, lake, cells), "logged": logged}


def _silver(lake: Lake) -> dict[str, dict]:
    return {r["partner_txn_id"]: r for r in read_rows(lake, TRANSACTIONS)}


def _own(row: dict) -> str:
    return row["user_category"] or row["category"] or "UNCATEGORIZED"


@pytest.fixture(scope="module")
def story(spark, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Night 1: three purchases (50.00, 60.00, 80.00) and a pending cab ride arrive. Then the
    person splits the three (gold after night 2). Night 3: the partner changes the first
    one's amount to 57.25, only the second one's description, and removes the third (gold
    again). Then the person clears the first one's split (night 4 logs its cell). One lake
    for the module; gold runs twice (it is most of the module's time)."""
    lake = Lake(str(tmp_path_factory.mktemp("splits") / "lake"))
    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("a1", 50.00, "2026-01-03", "KROGER #12", merchant="Kroger"),
        txn("c1", 60.00, "2026-01-03", "IKEA 44", merchant="Ikea"),
        txn("b1", 80.00, "2026-01-04", "COSTCO 9", merchant="Costco"),
        txn("p1", 12.00, "2026-01-04", "YELLOW CAB", merchant="Yellow Cab", pending=True)])])
    merge_partition(spark, lake, D1)
    out: dict = {"lake": lake, "ids": {k: r["txn_id"] for k, r in _silver(lake).items()},
                 "own": {k: _own(r) for k, r in _silver(lake).items()}}
    _logged(spark, lake, D1)
    ids = out["ids"]
    # a refund inside a purchase is a negative part; parts of another flow (a transfer) too
    set_split(lake, USER, ids["a1"], [(GROCERIES, "35"), (SUPERSTORES, "20.00"),
                                      (OTHER, "-5")], actor="test", source="cli")
    set_split(lake, USER, ids["c1"], [(FURNITURE, "45.50"), (OTHER, "14.50")],
              actor="test", source="cli")
    set_split(lake, USER, ids["b1"], [(GROCERIES, "70"), (SAVINGS, "10")], actor="test",
              source="cli")
    out["split"] = _gold(spark, lake, D2)
    land(lake.store, D3.isoformat(), 2, [page(
        modified=[txn("a1", 57.25, "2026-01-03", "KROGER #12", merchant="Kroger"),
                  txn("c1", 60.00, "2026-01-03", "IKEA 44 HOME", merchant="Ikea")],
        removed=["b1"])])
    merge_partition(spark, lake, D3)
    out["changed"] = _gold(spark, lake, D3)
    out["stale"] = {k: split_of(lake, USER, ids[k]) for k in ("a1", "b1", "c1")}
    assert clear_split(lake, USER, ids["a1"], actor="test")
    out["cleared"] = _logged(spark, lake, D4)
    return out


def test_gold_counts_the_parts_and_its_totals_do_not_move(story: dict) -> None:
    after, own = story["split"], story["own"]
    assert after["unreconciled"] == []
    assert after["logged"] == [MONTH]  # the nightly found the splits' cell
    # unsplit, each purchase would count whole in its own category (190.00 in all)
    whole: dict[str, tuple[Decimal, int]] = {}
    for k, amount in (("a1", "50.00"), ("c1", "60.00"), ("b1", "80.00")):
        total, n = whole.get(own[k], (Decimal(0), 0))
        whole[own[k]] = (total + Decimal(amount), n + 1)
    assert after["spend"] != whole
    # split: the parts, each in its category; b1's transfer part is no spending
    assert after["spend"] == {GROCERIES: (Decimal("105.00"), 2),
                              SUPERSTORES: (Decimal("20.00"), 1),
                              OTHER: (Decimal("9.50"), 2),
                              FURNITURE: (Decimal("45.50"), 1)}
    assert after["expense"] == Decimal("180.00")  # 10.00 of b1 moved to savings
    # three posted transactions, however many parts (the pending ride counts nowhere)
    assert after["count"] == 3


def test_a_changed_amount_makes_the_split_stale_and_gold_counts_it_whole(story: dict) -> None:
    changed, own, stale = story["changed"], story["own"], story["stale"]
    assert changed["unreconciled"] == []
    assert stale["a1"].stale == AMOUNT_CHANGED and stale["a1"].amount_now == Decimal("57.25")
    assert stale["a1"].txn_amount == Decimal("50.00")  # what it was made for, kept to show
    assert stale["c1"].stale is None  # a new description only: the split still fits
    assert stale["b1"].stale == REMOVED
    expected = {FURNITURE: (Decimal("45.50"), 1), OTHER: (Decimal("14.50"), 1)}
    a1 = own["a1"]
    amount, count = expected.get(a1, (Decimal(0), 0))
    expected[a1] = (amount + Decimal("57.25"), count + 1)
    # a1 whole in its own category, c1 still as parts, b1 (removed) nowhere
    assert changed["spend"] == expected
    assert changed["expense"] == Decimal("117.25") and changed["count"] == 2


def test_clearing_a_split_goes_through_the_nightly(story: dict) -> None:
    assert split_of(story["lake"], USER, story["ids"]["a1"]) is None
    assert story["cleared"] == [MONTH]  # its cell is logged for the night's gold


def _version(lake: Lake) -> int:
    return lake.delta(TRANSACTION_SPLITS).version()  # type: ignore[union-attr]


@pytest.mark.parametrize(("parts", "said"), [
    ([(FURNITURE, "45.50"), (OTHER, "14.00")],
     "add up to 59.50 but the transaction is 60.00 (a difference of 0.50)"),
    ([(FURNITURE, "60.00")], "at least 2 parts"),
    ([(FURNITURE, "45.505"), (OTHER, "14.495")], "more than two decimals"),
    ([(FURNITURE, "NaN"), (OTHER, "60")], "not a number"),
    ([(FURNITURE, "inf"), (OTHER, "60")], "not a number"),
    ([(FURNITURE, "1e2"), (OTHER, "-40")], "not a number"),
    ([(FURNITURE, "60"), (OTHER, "0")], "is 0.00: leave it out"),
    ([("NOT_A_CATEGORY", "30"), (OTHER, "30")], "Unknown category 'NOT_A_CATEGORY'"),
    ([(FURNITURE, "30"), (FURNITURE.lower(), "30")], "named twice"),
    ([("GROCERIES; DROP", "30"), (OTHER, "30")], "not a category code"),
    ([(OTHER, "3")] * 21, "at most 20 parts"),
])
def test_a_wrong_split_is_refused_and_nothing_is_written(story: dict, parts: list,
                                                        said: str) -> None:
    lake, c1 = story["lake"], story["ids"]["c1"]
    version, before = _version(lake), split_of(lake, USER, c1)
    with pytest.raises(SplitError, match=said.replace("(", r"\(").replace(")", r"\)")):
        set_split(lake, USER, c1, parts, actor="test", source="cli")
    assert _version(lake) == version and split_of(lake, USER, c1) == before


@pytest.mark.parametrize(("who", "which", "said"), [
    ("user_someone_else", "c1", "No transaction"),  # another person's: as if unknown
    (USER, "p1", "still pending"),
    (USER, "b1", "removed by the bank"),
])
def test_only_the_persons_posted_live_transactions_can_be_split(
        story: dict, who: str, which: str, said: str) -> None:
    lake = story["lake"]
    version = _version(lake)
    with pytest.raises(SplitError, match=said):
        set_split(lake, who, story["ids"][which], [(GROCERIES, "6"), (OTHER, "6")],
                  actor="test", source="cli")
    assert _version(lake) == version


def test_amounts_are_read_exactly() -> None:
    assert parse_amount("1,250.5") == Decimal("1250.50")
    assert parse_amount(12.1) == Decimal("12.10") and parse_amount(-3) == Decimal("-3.00")
    for bad in (float("nan"), float("inf"), "12.345", "$12", "", True, 1e-7):
        with pytest.raises(SplitError):
            parse_amount(bad)


def test_the_cli_sets_shows_and_clears_with_one_line_for_bad_input(
        story: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    lake, c1 = story["lake"], story["ids"]["c1"]
    monkeypatch.setenv("FINLAKE_HOME", str(Path(lake.root).parent))
    settings = load_settings()
    before = split_of(lake, USER, c1)
    assert split_set(settings, USER, c1, [f"{FURNITURE}=45.50", f"{OTHER}=14"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("finlake split set: The parts add up to 59.50")
    assert split_set(settings, USER, c1, [f"{FURNITURE}45"]) == 2
    assert "is not CATEGORY=AMOUNT" in capsys.readouterr().err
    assert split_of(lake, USER, c1) == before
    assert split_show(settings, USER, c1) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["parts"] == [{"category": FURNITURE, "amount": "45.50"},
                              {"category": OTHER, "amount": "14.50"}]
    assert shown["stale"] is None and shown["split_for"] == "60.00"
    assert split_set(settings, USER, c1, [f"{FURNITURE}=40", f"{OTHER}=20.00"]) == 0
    assert json.loads(capsys.readouterr().out)["parts"][1] == {"category": OTHER,
                                                               "amount": "20.00"}
    assert split_clear(settings, USER, c1) == 0
    assert json.loads(capsys.readouterr().out)["cleared"] is True
    assert split_of(lake, USER, c1) is None
    # put the module's split back for the other tests
    set_split(lake, USER, c1, before.parts, actor="test", source="cli")
