"""Incremental gold refreshes equal full recomputes: net worth day by day, recurring per user."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

import pipelines.wealth.networth as networth
from lake import delta
from lake.lake import Lake
from lake.tables import (
    BALANCE_OBSERVATIONS,
    BALANCES_DAILY,
    NET_WORTH_DAILY,
    RECURRING_PAYMENTS,
    TRANSACTIONS,
)
from pipelines.wealth.recurring import recurring_payments
from pipelines.wealth.refresh import refresh_net_worth, refresh_recurring
from tests.support.lake_fixtures import txn, write_table

D = [date(2024, 1, d) for d in range(1, 8)]


def _obs(acct: str, user: str, kind: str, day: date, bal: str, hour: int,
         review: bool = False) -> dict[str, Any]:
    at = datetime(day.year, day.month, day.day, hour)
    return {"account_id": acct, "user_id": user, "type": kind, "date": day,
            "balance_current": Decimal(bal), "needs_review": review, "observed_at": at,
            "source_seq": at.isoformat(), "month": f"{day:%Y-%m}"}


OBSERVATIONS = [
    _obs("chk", "A", "depository", D[0], "1200.00", 18),  # two the same day: 18:00 wins
    _obs("chk", "A", "depository", D[0], "1000.00", 9),
    _obs("chk", "A", "depository", D[2], "900.00", 8),
    _obs("chk", "A", "depository", D[4], "50000.00", 8, review=True),  # skipped, 900 carried
    _obs("chk", "A", "depository", D[5], "950.00", 8),
    _obs("chk", "A", "depository", D[5], "99999.00", 20, review=True),  # later, under review
    _obs("sav", "A", "depository", date(2023, 12, 30), "5000.00", 8),  # before the range
    _obs("sav", "A", "depository", D[3], "5100.00", 8),
    _obs("cc", "A", "credit", D[1], "300.55", 8),  # first seen mid-range
    _obs("cc", "A", "credit", D[5], "250.00", 8),
    _obs("loan", "A", "loan", D[0], "20000.37", 8),
    _obs("loan", "A", "loan", D[3], "19800.00", 8),
    _obs("bchk", "B", "depository", D[0], "7.50", 8),
    _obs("bchk", "B", "depository", D[2], "10.00", 8),
    _obs("bchk", "B", "depository", D[2], "99.00", 7),
    _obs("ccc", "C", "credit", D[3], "40.00", 8),  # a user first seen mid-range
    _obs("ccc", "C", "credit", D[6], "45.00", 8, review=True),
]


def _rows(spark, lake: Lake, t) -> set[tuple]:
    return {tuple(r) for r in delta.conform(delta.read_table(spark, lake, t), t).collect()}


def _run_days(spark, lake: Lake, days: list[date], monkeypatch) -> set[date]:
    """Refresh ``days`` in order; returns the days computed by carrying the day before."""
    carried: set[date] = set()
    real = networth.carry_forward

    def spy(previous, snapshots, day):
        carried.add(day)
        return real(previous, snapshots, day)

    monkeypatch.setattr(networth, "carry_forward", spy)
    write_table(lake, BALANCE_OBSERVATIONS, OBSERVATIONS)
    for d in days:
        refresh_net_worth(spark, lake, d)
    monkeypatch.setattr(networth, "carry_forward", real)
    return carried


@pytest.fixture(scope="module")
def full(spark, tmp_path_factory) -> tuple[set[tuple], set[tuple]]:
    """Every day computed from all observations (newest first, so never a day before)."""
    lake = Lake(str(tmp_path_factory.mktemp("full") / "lake"))
    mp = pytest.MonkeyPatch()
    try:
        assert _run_days(spark, lake, D[::-1], mp) == set()
    finally:
        mp.undo()
    return _rows(spark, lake, BALANCES_DAILY), _rows(spark, lake, NET_WORTH_DAILY)


def test_full_refresh_matches_all_at_once(spark, full) -> None:
    obs = spark.createDataFrame(OBSERVATIONS, schema=BALANCE_OBSERVATIONS.ddl)
    daily = networth.balances_daily(networth.balance_snapshots(obs), D[0], D[-1]).withColumn(
        "month", F.date_format("date", "yyyy-MM"))
    assert full[0] == {tuple(r) for r in delta.conform(daily, BALANCES_DAILY).collect()}
    worth = networth.net_worth_daily(daily).withColumn("month", F.date_format("date", "yyyy-MM"))
    assert full[1] == {tuple(r) for r in delta.conform(worth, NET_WORTH_DAILY).collect()}
    assert len(full[0]) == 7 * 3 + 6 + 7 + 4  # A: 4 accounts (cc from D2); B 7 days; C 4


def test_net_worth_day_by_day_equals_full(spark, tmp_path: Path, full, monkeypatch) -> None:
    lake = Lake(str(tmp_path / "lake"))
    assert _run_days(spark, lake, D, monkeypatch) == set(D[1:])
    assert _rows(spark, lake, BALANCES_DAILY) == full[0]
    assert _rows(spark, lake, NET_WORTH_DAILY) == full[1]
    chk = {r.date: (r.balance, r.observed) for r in delta.read_table(
        spark, lake, BALANCES_DAILY).filter("account_id = 'chk'").collect()}
    assert chk[D[4]] == (Decimal("900.00"), False)
    assert chk[D[5]] == (Decimal("950.00"), True)


def test_net_worth_gap_falls_back_to_full(spark, tmp_path: Path, full, monkeypatch) -> None:
    lake = Lake(str(tmp_path / "lake"))
    order = [D[0], D[1], D[3], D[4], D[2], D[6], D[5]]
    assert _run_days(spark, lake, order, monkeypatch) == {D[1], D[4], D[2], D[5]}
    assert _rows(spark, lake, BALANCES_DAILY) == full[0]
    assert _rows(spark, lake, NET_WORTH_DAILY) == full[1]


def test_net_worth_rerun_writes_nothing(spark, tmp_path: Path, monkeypatch) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _run_days(spark, lake, D[:3], monkeypatch)
    assert refresh_net_worth(spark, lake, D[2]) == 0


AS_OF = date(2026, 7, 10)
TV = "ENTERTAINMENT_TV_AND_MOVIES"
_n = iter(range(1, 1_000_000))


def _charges(user: str, name: str, days: list[date], amount: str,
             **extra: Any) -> list[dict[str, Any]]:
    return [txn(user, next(_n), d, amount, name, TV, **extra) for d in days]


def _fifths(months: range, year: int = 2026, day: int = 5) -> list[date]:
    return [date(year, m, day) for m in months]


def history() -> list[dict[str, Any]]:
    rows = _charges("A", "NETFLIX", _fifths(range(1, 7)), "15.49")
    rows += _charges("A", "SPOTIFY", _fifths(range(1, 7), day=12), "13.99")
    rows += _charges("A", "DOMAIN", [date(2025, 3, 1), date(2026, 3, 1)], "12.00")
    rows += _charges("B", "HULU", _fifths(range(3, 7), day=9), "7.99")
    rows += _charges("B", "GYM", [date(2026, 6, 1) + timedelta(days=7 * i) for i in range(6)],
                     "20.00")
    return rows


def _stored(spark, lake: Lake, user: str) -> set[tuple]:
    return {tuple(r) for r in delta.read_table(spark, lake, RECURRING_PAYMENTS)
            .filter(f"user_id = '{user}'").collect()}


def _expected(spark, rows: list[dict[str, Any]], user: str, as_of: date = AS_OF) -> set[tuple]:
    silver = spark.createDataFrame([r for r in rows if r["user_id"] == user],
                                   schema=TRANSACTIONS.ddl)
    found = delta.conform(recurring_payments(silver, as_of), RECURRING_PAYMENTS)
    return {tuple(r) for r in found.collect()}


def _series(spark, *pairs: tuple[str, str]):
    return spark.createDataFrame(list(pairs), schema="user_id string, merchant_key string")


def test_recurring_refresh_for_changed_series(spark, lake: Lake) -> None:
    rows = history()
    write_table(lake, TRANSACTIONS, rows)
    assert refresh_recurring(spark, lake, AS_OF) == 5
    b_before = _stored(spark, lake, "B")
    assert {r[1] for r in b_before} == {"hulu", "gym"}
    assert {r[1] for r in _stored(spark, lake, "A")} == {"netflix", "spotify", "domain"}

    rows = [dict(r, status="removed") if r["merchant_key"] == "spotify" else r for r in rows]
    rows += _charges("A", "NETFLIX", [date(2026, 7, 5)], "17.99")  # price rise: update
    rows += _charges("A", "DISNEY", _fifths(range(4, 7), day=2), "9.99")  # new: insert
    rows += _charges("B", "HULU", [AS_OF], "7.99")  # B changed, not in scope
    write_table(lake, TRANSACTIONS, rows)
    changed = _series(spark, ("A", "spotify"), ("A", "netflix"), ("A", "disney"))
    assert refresh_recurring(spark, lake, AS_OF, series=changed, since=AS_OF) == 3

    a = _stored(spark, lake, "A")
    assert a == _expected(spark, rows, "A")
    assert {r[1] for r in a} == {"netflix", "disney", "domain"}
    assert _stored(spark, lake, "B") == b_before
    assert _stored(spark, lake, "B") != _expected(spark, rows, "B")

    assert refresh_recurring(spark, lake, AS_OF, series=changed, since=AS_OF) == 0
    assert refresh_recurring(spark, lake, AS_OF, series=_series(spark, ("nobody", "x")),
                             since=AS_OF) == 0
    assert refresh_recurring(spark, lake, AS_OF, series=_series(spark), since=AS_OF) == 0
    # A changed series of B's alone: B's gym, untouched, is not read again.
    assert refresh_recurring(spark, lake, AS_OF, series=_series(spark, ("B", "hulu")),
                             since=AS_OF) == 1
    assert _stored(spark, lake, "B") == _expected(spark, rows, "B")
    assert refresh_recurring(spark, lake) == 0  # all series, as of the last sync: the same
    assert _stored(spark, lake, "A") == a


def test_recurring_window_moving_recomputes_the_series_it_changes(spark, lake: Lake) -> None:
    """From a day three years back to today, every month of both windows moved: the series
    with a charge in them are recomputed (A's netflix gone, spotify found, B's hulu gone)
    although no series was logged as changed; as a full recompute gives."""
    old = date(2023, 7, 10)
    rows = _charges("A", "NETFLIX", _fifths(range(1, 7), year=2023), "15.49")
    rows += _charges("A", "SPOTIFY", _fifths(range(1, 7)), "13.99")
    rows += _charges("B", "HULU", _fifths(range(1, 4), year=2023), "7.99")  # missed by then
    write_table(lake, TRANSACTIONS, rows)
    refresh_recurring(spark, lake, old)
    assert {r[1] for r in _stored(spark, lake, "A")} == {"netflix"}
    assert {r[1] for r in _stored(spark, lake, "B")} == {"hulu"}

    assert refresh_recurring(spark, lake, AS_OF, series=_series(spark), since=old) == 3
    recent = [r for r in rows if r["posted_date"].year == 2026]
    assert {r[1] for r in _stored(spark, lake, "A")} == {"spotify"}
    assert _stored(spark, lake, "A") == _expected(spark, recent, "A")
    assert _stored(spark, lake, "B") == set()


def test_recurring_series_whose_missed_flag_flips_are_refreshed(spark, lake: Lake) -> None:
    rows = history()
    write_table(lake, TRANSACTIONS, rows)
    refresh_recurring(spark, lake, AS_OF)
    later = date(2026, 7, 25)  # B's hulu (last 06-09, next ~07-09, 7 days' grace) is missed
    assert refresh_recurring(spark, lake, later, series=_series(spark), since=AS_OF) >= 1
    hulu = [r for r in _stored(spark, lake, "B") if r[1] == "hulu"]
    assert hulu and hulu[0][9] is True
    assert _stored(spark, lake, "B") == _expected(spark, rows, "B", later)
    # And back: as of the earlier day again, it is not missed.
    assert refresh_recurring(spark, lake, AS_OF, series=_series(spark), since=later) >= 1
    assert _stored(spark, lake, "B") == _expected(spark, rows, "B", AS_OF)
