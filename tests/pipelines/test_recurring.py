"""recurring_payments on hand-built charge histories with known answers."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pipelines.wealth.recurring import (
    LOOKBACK_DAYS,
    LOOKBACK_MONTHS,
    OUTPUT_COLUMNS,
    flipped_series,
    lookback_months,
    recurring_payments,
)

AS_OF = date(2026, 7, 10)
SCHEMA = (
    "user_id string, account_id string, partner_txn_id string, amount decimal(18,2), "
    "posted_date date, merchant_key string, status string, pending boolean"
)
_seq = iter(range(1_000_000))


def charge(user: str, key: str | None, day: date, amount: str, status: str = "live",
           pending: bool = False) -> tuple[Any, ...]:
    return (user, f"{user}-acct", f"t{next(_seq)}", Decimal(amount), day, key, status, pending)


def monthly(user: str, key: str, days: list[date], amount: str) -> list[tuple[Any, ...]]:
    return [charge(user, key, d, amount) for d in days]


def fifths(months: range, year: int = 2026, day: int = 5) -> list[date]:
    return [date(year, m, day) for m in months]


def history() -> list[tuple[Any, ...]]:
    rows = monthly("u1", "netflix", fifths(range(1, 7)), "15.49")
    # Ignored rows that would break the Netflix series if counted.
    rows += [charge("u1", "netflix", date(2026, 3, 15), "15.49", status="removed"),
             charge("u1", "netflix", date(2026, 7, 5), "15.49", pending=True),
             charge("u1", "netflix", date(2026, 4, 20), "15.49", status="superseded")]
    rows += monthly("u1", "spotify", fifths(range(1, 6), day=12), "13.99")
    rows.append(charge("u1", "spotify", date(2026, 6, 12), "15.49"))
    rows += [charge("u1", "gym", date(2026, 5, 18) + timedelta(days=7 * i), "20.00")
             for i in range(8)]
    rows += [charge("u1", "domain", date(2025, 3, 1), "12.00"),
             charge("u1", "domain", date(2026, 3, 1), "12.00")]
    last_gas = AS_OF - timedelta(days=50)
    rows += monthly("u1", "gas", [date(2026, m, last_gas.day) for m in range(2, 6)], "50.00")
    rng = random.Random(7)
    day = date(2026, 1, 2)
    for _ in range(25):
        day += timedelta(days=rng.choice([1, 2, 3, 4, 5, 9, 12, 15]))
        rows.append(charge("u1", "coffee", day, f"{rng.uniform(3, 9):.2f}"))
    # Only 2 live Hulu charges: the removed/pending/superseded ones must not make it monthly.
    rows += monthly("u1", "hulu", fifths(range(4, 6), day=9), "7.99")
    rows += [charge("u1", "hulu", date(2026, 1, 9), "7.99", status="removed"),
             charge("u1", "hulu", date(2026, 2, 9), "7.99", status="superseded"),
             charge("u1", "hulu", date(2026, 3, 9), "7.99", pending=True)]
    rows += monthly("u1", "employer", fifths(range(1, 7), day=28), "-2000.00")
    rows += monthly("u1", "", fifths(range(1, 7), day=3), "9.99")
    rows += monthly("u1", None, fifths(range(1, 7), day=3), "9.99")
    rows += monthly("u2", "netflix", fifths(range(4, 7), day=20), "22.99")
    return rows


@pytest.fixture(scope="module")
def result(spark) -> dict[tuple[str, str], Any]:
    df = recurring_payments(spark.createDataFrame(history(), SCHEMA), AS_OF)
    assert tuple(df.columns) == OUTPUT_COLUMNS
    types = dict(df.dtypes)
    assert types["typical_amount"] == "decimal(18,2)"
    assert types["occurrences"] == "int"
    assert types["next_expected_date"] == "date"
    assert types["price_increase"] == types["missed_payment"] == "boolean"
    rows = df.collect()
    assert [(r.user_id, r.merchant_key) for r in rows] == sorted(
        (r.user_id, r.merchant_key) for r in rows)
    assert rows == df.collect()  # deterministic
    return {(r.user_id, r.merchant_key): r for r in rows}


def test_only_recurring_series_found(result) -> None:
    assert set(result) == {("u1", "netflix"), ("u1", "spotify"), ("u1", "gym"),
                           ("u1", "domain"), ("u1", "gas"), ("u2", "netflix")}


def test_monthly_netflix(result) -> None:
    r = result[("u1", "netflix")]
    assert (r.cadence, r.occurrences) == ("monthly", 6)
    assert r.typical_amount == r.last_amount == Decimal("15.49")
    assert r.last_date == date(2026, 6, 5)
    assert r.next_expected_date - r.last_date in (timedelta(days=30), timedelta(days=31))
    assert not r.price_increase and not r.missed_payment
    assert r.detail == "monthly since 2026-01-05, last $15.49"


def test_price_increase(result) -> None:
    r = result[("u1", "spotify")]
    assert (r.cadence, r.occurrences, r.price_increase) == ("monthly", 6, True)
    assert (r.typical_amount, r.last_amount) == (Decimal("13.99"), Decimal("15.49"))
    assert r.detail == "monthly since 2026-01-12, last $15.49 (was $13.99)"


def test_weekly_gym(result) -> None:
    r = result[("u1", "gym")]
    assert (r.cadence, r.occurrences, r.typical_amount) == ("weekly", 8, Decimal("20.00"))
    assert r.last_date == date(2026, 7, 6)
    assert r.next_expected_date == date(2026, 7, 13)
    assert not r.missed_payment and not r.price_increase


def test_yearly_domain(result) -> None:
    r = result[("u1", "domain")]
    assert (r.cadence, r.occurrences) == ("yearly", 2)
    assert r.next_expected_date == date(2027, 3, 1)
    assert not r.missed_payment


def test_missed_payment(result) -> None:
    r = result[("u1", "gas")]
    assert r.cadence == "monthly"
    assert r.last_date == AS_OF - timedelta(days=50)
    assert r.missed_payment
    assert "missed, expected" in r.detail


def test_users_are_separate(result) -> None:
    r = result[("u2", "netflix")]
    assert (r.cadence, r.occurrences, r.typical_amount) == ("monthly", 3, Decimal("22.99"))
    assert r.detail.startswith("monthly since 2026-04-20")
    assert result[("u1", "netflix")].occurrences == 6


def test_dissimilar_amounts_and_too_few_charges(spark) -> None:
    rows = monthly("u3", "utility", fifths(range(1, 7)), "40.00")
    rows.append(charge("u3", "utility", date(2026, 7, 5), "90.00"))  # far from the median
    rows += monthly("u3", "twice", fifths(range(1, 3)), "5.00")  # monthly needs 3 charges
    rows += [charge("u3", "lonely", date(2025, 1, 1), "99.00")]
    out = recurring_payments(spark.createDataFrame(rows, SCHEMA), AS_OF).collect()
    assert out == []


def test_even_count_median_is_the_mean_of_the_middle_two(spark) -> None:
    rows = [charge("u4", "class", date(2026, 6, 1) + timedelta(days=7 * i), a)
            for i, a in enumerate(["10.00", "10.00", "12.00", "12.00"])]
    (r,) = recurring_payments(spark.createDataFrame(rows, SCHEMA), AS_OF).collect()
    assert (r.cadence, r.typical_amount, r.price_increase) == ("weekly", Decimal("11.00"), False)


def test_lookback_window_covers_a_yearly_series_until_missed() -> None:
    assert LOOKBACK_DAYS == 370 + 365 + 30 + 1
    assert lookback_months(date(2026, 1, 31))[-3:] == ["2025-11", "2025-12", "2026-01"]
    day = date(2020, 1, 1)
    while day < date(2032, 1, 1):
        months = lookback_months(day)
        assert len(months) == LOOKBACK_MONTHS and months[-1] == day.strftime("%Y-%m")
        assert (day - date.fromisoformat(f"{months[0]}-01")).days >= LOOKBACK_DAYS
        day += timedelta(days=1)


def test_flipped_series_are_those_whose_missed_flag_the_day_changes(result, spark) -> None:
    stored = spark.createDataFrame(list(result.values()))

    def flipped(day: date) -> set[tuple[str, str]]:
        return {(r.user_id, r.merchant_key) for r in flipped_series(stored, day).collect()}

    assert flipped(AS_OF) == set()  # as stored (gas: missed already)
    later = date(2026, 7, 21)  # past u1's netflix, spotify and gym grace, not u2's netflix
    u1 = {("u1", "netflix"), ("u1", "spotify"), ("u1", "gym")}
    assert flipped(later) == u1
    assert flipped(date(2026, 8, 1)) == u1 | {("u2", "netflix")}
    # As of an earlier day the gas series is not missed yet: that flips too.
    assert flipped(AS_OF - timedelta(days=20)) == {("u1", "gas")}
