"""Budgets of every touched month in one pass (issue 21) equal the old pass per month and day
(``tests/support/old_budgets.py``), for a day touching seven months and for every cell."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import pytest

from core.months import month_end
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import ALERTS, BUDGET_PROGRESS
from pipelines.gold.refresh import GoldResult, _refresh_budget_cells
from pipelines.silver.changes import all_cells
from tests.support import old_budgets
from tests.support.budget_lake import AS_OF, CURRENT, USERS, build, touched


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build(Lake(str(tmp_path_factory.mktemp("budgets") / "lake")))


def copy_of(lake: Lake, where) -> Lake:  # noqa: ANN001
    shutil.copytree(lake.root, where / "lake")
    return Lake(str(where / "lake"))


def budget_rows(lake: Lake) -> list[tuple]:
    return sorted((tuple(sorted(r.items())) for r in read_rows(lake, BUDGET_PROGRESS)), key=str)


def alert_rows(lake: Lake) -> list[tuple]:
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k != "created_at"))
                  for r in read_rows(lake, ALERTS))


def both(spark, old: Lake, new: Lake, pairs: list[tuple[str, str]], as_of: date) -> GoldResult:
    """The old loop on ``old``, the one pass on ``new``, for the same cells and day."""
    cells = spark.createDataFrame(pairs, "user_id string, month string")
    changed, alerts = old_budgets.refresh_budget_cells(spark, old, cells, as_of)
    months = sorted({m for _, m in pairs})
    result = GoldResult()
    _refresh_budget_cells(spark, new, cells, months, as_of, 0.8, result)
    assert result.rows_changed["budget_progress"] == changed
    assert sorted(a["alert_key"] for a in result.alerts) == sorted(a["alert_key"] for a in alerts)
    assert budget_rows(new) == budget_rows(old)
    assert alert_rows(new) == alert_rows(old)
    return result


def test_one_pass_equals_the_pass_per_month_and_day(spark, built: Lake, tmp_path) -> None:
    old, new = copy_of(built, tmp_path / "old"), copy_of(built, tmp_path / "new")
    pairs = touched(USERS)
    versions = new.delta(BUDGET_PROGRESS).version()
    result = both(spark, old, new, pairs, AS_OF)
    # One publish for seven months: one audit, one table version.
    assert [a.suite for a in result.audits] == ["budget_progress"]
    assert new.delta(BUDGET_PROGRESS).version() == versions + 1

    rows = {(r["user_id"], r["month"], r["category_primary"]): r
            for r in read_rows(new, BUDGET_PROGRESS)}
    assert len({m for _, m, _ in rows}) == 7 and "2025-04" not in {m for _, m, _ in rows}
    assert {r["budget_source"] for r in rows.values()} == {"manual", "history", "template",
                                                          "none"}
    assert rows[("gus", CURRENT, "FOOD_AND_DRINK")]["as_of"] == date(2025, 3, 20)  # not back
    assert rows[("gus", CURRENT, "FOOD_AND_DRINK")]["spent"] >= Decimal("1600.00")
    assert {r["as_of"] for (u, m, _), r in rows.items() if u == "hal" and m == CURRENT} == {AS_OF}
    assert ("eve", CURRENT, "FOOD_AND_DRINK") not in rows  # the 20th is after AS_OF
    assert rows[("eve", CURRENT, "UNCATEGORIZED")]["spent"] == Decimal("45.10")
    assert ("u03", "2024-09", "TRAVEL") not in rows  # a stale row of a replaced cell
    assert rows[("bo", CURRENT, "TRANSPORTATION")]["state"] == "no_budget"  # manual 0
    assert rows[("bo", CURRENT, "TRAVEL")]["budget_source"] == "manual"
    closed = {r["as_of"] for (_, m, _), r in rows.items() if m < CURRENT}
    assert closed and all(d == month_end(d.strftime("%Y-%m")) for d in closed)
    assert {a["period"] for a in result.alerts} == {CURRENT}  # closed months raise none
    assert any(a["user_id"] == "gus" for a in result.alerts)

    # Later nights: a replay of an older day for part of the people, then a later day.
    replay = [(u, m) for u, m in pairs if u in ("gus", "hal", "u01", "bo") and m >= "2025-01"]
    both(spark, old, new, replay, date(2025, 3, 4))
    later = [(u, CURRENT) for u in USERS] + [("fay", "2025-02"), ("célia-🌍", "2025-02")]
    both(spark, old, new, later, date(2025, 3, 28))


def test_every_cell_at_once_equals_the_old_loop(spark, built: Lake, tmp_path) -> None:
    """What a rebuild computes: every (person, month) of silver, sixteen months."""
    old, new = copy_of(built, tmp_path / "old"), copy_of(built, tmp_path / "new")
    pairs = sorted((r["user_id"], r["month"]) for r in all_cells(spark, built).collect())
    assert len({m for _, m in pairs}) == 18
    both(spark, old, new, pairs, AS_OF)


