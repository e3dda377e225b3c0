"""Recurring payments night by night, series by series, equal a full recompute (issue 21,
item 4): nights merged through the silver MERGE, whose series log names the merchant a
modified row leaves; a new month moving the 27-month window; a replay of an older day."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from lake import delta, step_marks
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import RECURRING_PAYMENTS, SERIES_CHANGES, STEP_MARKS, TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.silver.refresh import merge_partition
from pipelines.wealth.recurring import lookback_months, recurring_payments
from pipelines.wealth.refresh import RECURRING_STEP, recurring_night
from tests.support.raw_builder import USER, land, page, txn

D1, D2, D3 = date(2026, 3, 5), date(2026, 3, 6), date(2026, 4, 2)


def _monthly(prefix: str, name: str, merchant: str, days: list[str], amount: float) -> list:
    return [txn(f"{prefix}{i}", amount, d, name, merchant=merchant) for i, d in enumerate(days)]


def _history() -> list[dict]:
    rows = _monthly("nf", "NETFLIX.COM 866-579-7172 CA", "Netflix",
                    ["2025-12-05", "2026-01-05", "2026-02-05"], 15.49)
    rows += _monthly("hu", "HULU 877-8244858 CA", "Hulu", ["2025-12-20", "2026-01-20"], 7.99)
    rows += _monthly("sp", "Spotify USA", "Spotify",
                     ["2025-11-12", "2025-12-12", "2026-01-12", "2026-02-12"], 10.99)
    # A dissimilar first charge in the oldest month of March's window: recurring only once
    # April's window has dropped January 2024.
    rows += [txn("in-first", 90.00, "2024-01-10", "GEICO *AUTO 800-841-3000 DC", merchant="GEICO")]
    rows += _monthly("in", "GEICO *AUTO 800-841-3000 DC", "GEICO",
                     [f"{y}-{m:02d}-10" for y, m in [(2024, 2), (2024, 3), (2024, 4)]], 30.00)
    # Yearly, its first charge in that oldest month: not recurring any more in April.
    rows += _monthly("dm", "GOOGLE *Domains", "Google Domains", ["2024-01-15", "2025-01-15"],
                     12.00)
    return rows


def _stored(spark, lake: Lake) -> set[tuple]:
    return {tuple(r) for r in delta.conform(
        delta.read_table(spark, lake, RECURRING_PAYMENTS), RECURRING_PAYMENTS).collect()}


def _rebuilt(spark, lake: Lake, as_of: date) -> set[tuple]:
    silver = delta.read_table(spark, lake, TRANSACTIONS).filter(
        F.col("posted_month").isin(*lookback_months(as_of)))
    return {tuple(r) for r in delta.conform(recurring_payments(silver, as_of),
                                            RECURRING_PAYMENTS).collect()}


def _night(spark, lake: Lake, day: date) -> dict:
    merge_partition(spark, lake, day)
    detail = recurring_night(spark, lake, day, [])
    assert _stored(spark, lake) == _rebuilt(spark, lake, date.fromisoformat(detail["as_of"]))
    return detail


def _keys(spark, lake: Lake) -> set[str]:
    return {r[1] for r in _stored(spark, lake)}


@pytest.fixture
def nights(spark, lake: Lake) -> Lake:
    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=_history())])
    first = _night(spark, lake, D1)
    assert first["scope"] == "every series"  # nothing stored before
    assert _keys(spark, lake) == {"netflix", "spotify", "google domains"}
    return lake


def test_nights_change_only_their_series_and_equal_a_recompute(spark, nights: Lake) -> None:
    lake = nights
    # A charge moves from Netflix to Hulu (the partner re-attributed it), one is removed.
    land(lake.store, D2.isoformat(), 2, [page(
        modified=[txn("nf2", 15.49, "2026-02-05", "HULU 877-8244858 CA", merchant="Hulu")],
        removed=["sp0"])])
    second = _night(spark, lake, D2)
    assert second["scope"] == "changed series" and second["as_of"] == D2.isoformat()
    logged = {r["merchant_key"] for r in read_rows(lake, SERIES_CHANGES)
              if r["sync_date"] == D2}
    assert logged == {"netflix", "hulu", "spotify"}  # the merchant the charge left included
    assert "netflix" not in _keys(spark, lake)  # two charges left: not a series any more

    # April: the window drops January 2024 although no charge of those series changed.
    land(lake.store, D3.isoformat(), 3, [page(added=_monthly(
        "sp", "Spotify USA", "Spotify", ["2026-03-12"], 10.99))])
    third = _night(spark, lake, D3)
    assert third["scope"] == "changed series"
    assert "geico" in _keys(spark, lake) and "google domains" not in _keys(spark, lake)

    # A replay of the older day: nothing moves back to it.
    before = _stored(spark, lake)
    replay = _night(spark, lake, D2)
    assert replay["as_of"] == D3.isoformat() and _stored(spark, lake) == before


def test_rows_written_by_anything_else_are_recomputed_in_full(spark, nights: Lake) -> None:
    """The stored rows are trusted only as the last run left them: compaction keeps that;
    another writer (here a deletion, as forget-user's) does not, and the next night
    recomputes every series."""
    lake = nights
    lake.delta(RECURRING_PAYMENTS).optimize.compact()
    assert step_marks.last_state(lake, RECURRING_STEP, RECURRING_PAYMENTS)["as_of"] == \
        D1.isoformat()
    lake.delta(RECURRING_PAYMENTS).delete(f"user_id = '{USER}' AND merchant_key = 'netflix'")
    assert step_marks.last_state(lake, RECURRING_STEP, RECURRING_PAYMENTS) is None
    land(lake.store, D2.isoformat(), 2, [page(added=_monthly(
        "sp", "Spotify USA", "Spotify", ["2026-03-05"], 10.99))])
    assert _night(spark, lake, D2)["scope"] == "every series"
    assert "netflix" in _keys(spark, lake)
    marks = [r for r in read_rows(lake, STEP_MARKS) if r["step"] == RECURRING_STEP]
    assert len(marks) == 2
