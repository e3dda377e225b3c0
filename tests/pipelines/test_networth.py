"""Net worth transforms on a hand-built sync history (every expected figure worked by hand)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from pipelines.wealth.networth import (
    balance_snapshots,
    balances_daily,
    carry_forward,
    net_worth_daily,
)

START, END = date(2024, 1, 1), date(2024, 1, 6)
DDL = ("account_id string, user_id string, type string, date date,"
       " balance_current decimal(18,2), needs_review boolean, observed_at timestamp")


def _obs(acct: str, user: str, kind: str, day: date, bal: str, hour: int,
         review: bool = False) -> tuple:
    return (acct, user, kind, day, Decimal(bal), review,
            datetime(day.year, day.month, day.day, hour))


D = [date(2024, 1, d) for d in range(1, 7)]
ROWS = [
    # two observations on 01-01; the later (18:00) one is listed first and must still win
    _obs("chk", "A", "depository", D[0], "1200.00", 18),
    _obs("chk", "A", "depository", D[0], "1000.00", 9),
    _obs("chk", "A", "depository", D[2], "900.00", 8),
    _obs("chk", "A", "depository", D[4], "50000.00", 8, review=True),  # held back: skipped
    _obs("sav", "A", "depository", date(2023, 12, 30), "5000.00", 8),  # before the range
    _obs("sav", "A", "depository", D[3], "5100.00", 8),
    _obs("cc", "A", "credit", D[1], "300.55", 8),  # first seen mid-range
    _obs("cc", "A", "credit", D[5], "250.00", 8),
    _obs("loan", "A", "loan", D[0], "20000.37", 8),
    _obs("bchk", "B", "depository", D[0], "7.50", 8),
    _obs("bchk", "B", "depository", D[2], "10.00", 8),
    _obs("bchk", "B", "depository", D[2], "99.00", 7),  # earlier that day: loses
]


@pytest.fixture(scope="module")
def daily(spark):
    snaps = balance_snapshots(spark.createDataFrame(ROWS, DDL))
    return balances_daily(snaps, START, END).cache()


def test_snapshots_last_of_day_and_no_review(spark):
    snaps = balance_snapshots(spark.createDataFrame(ROWS, DDL))
    got = {(r.account_id, r.date): r.balance_current for r in snaps.collect()}
    assert got[("chk", D[0])] == Decimal("1200.00")
    assert got[("bchk", D[2])] == Decimal("10.00")
    assert ("chk", D[4]) not in got
    assert len(got) == 9  # chk 2, sav 2, cc 2, loan 1, bchk 2


def test_balances_carried_forward(daily):
    got = {(r.account_id, r.date): (r.balance, r.observed, r.user_id, r.type)
           for r in daily.collect()}
    chk = [got[("chk", d)][:2] for d in D]
    assert chk == [(Decimal("1200.00"), True), (Decimal("1200.00"), False),
                   (Decimal("900.00"), True), (Decimal("900.00"), False),
                   (Decimal("900.00"), False), (Decimal("900.00"), False)]
    sav = [got[("sav", d)][:2] for d in D]
    assert sav == [(Decimal("5000.00"), False)] * 3 + [(Decimal("5100.00"), True)] + [
        (Decimal("5100.00"), False)] * 2
    assert [d for d in D if ("cc", d) in got] == D[1:]  # nothing before its first snapshot
    assert got[("cc", D[5])][:2] == (Decimal("250.00"), True)
    assert got[("loan", D[5])] == (Decimal("20000.37"), False, "A", "loan")
    assert len(got) == 6 * 4 + 5  # 4 accounts x 6 days, minus cc's first day
    assert {r.date for r in daily.collect()} == set(D)  # nothing outside [START, END]


def test_net_worth_by_hand(daily):
    nw = {(r.user_id, r.date): r for r in net_worth_daily(daily).collect()}
    expected_a = [  # assets, liabilities, net worth, accounts, stale
        ("6200.00", "20000.37", "-13800.37", 3, 1),
        ("6200.00", "20300.92", "-14100.92", 4, 3),
        ("5900.00", "20300.92", "-14400.92", 4, 3),
        ("6000.00", "20300.92", "-14300.92", 4, 3),
        ("6000.00", "20300.92", "-14300.92", 4, 4),
        ("6000.00", "20250.37", "-14250.37", 4, 3),
    ]
    for d, (assets, liab, net, n, stale) in zip(D, expected_a, strict=True):
        r = nw[("A", d)]
        assert (r.assets, r.liabilities, r.net_worth) == (
            Decimal(assets), Decimal(liab), Decimal(net)), d
        assert (r.accounts, r.stale_accounts) == (n, stale), d
        assert r.net_worth == r.assets - r.liabilities


def test_user_b_isolated(daily):
    rows = net_worth_daily(daily).filter("user_id = 'B'").orderBy("date").collect()
    assert [r.net_worth for r in rows] == [Decimal(x) for x in
                                          ("7.50", "7.50", "10.00", "10.00", "10.00", "10.00")]
    assert all(r.liabilities == Decimal("0.00") and r.accounts == 1 for r in rows)
    assert [r.stale_accounts for r in rows] == [0, 1, 0, 1, 1, 1]
    assert {r.user_id for r in daily.filter("account_id = 'bchk'").collect()} == {"B"}


def test_schema(daily):
    nw = net_worth_daily(daily)
    types = dict(nw.dtypes)
    assert types["assets"] == types["liabilities"] == types["net_worth"] == "decimal(18,2)"
    assert dict(daily.dtypes)["balance"] == "decimal(18,2)"
    assert dict(daily.dtypes)["observed"] == "boolean"


def test_carry_forward_equals_balances_daily(spark, daily):
    snaps = balance_snapshots(spark.createDataFrame(ROWS, DDL))
    for d in D[1:]:
        previous = daily.filter(F.col("date") == F.lit(d - timedelta(days=1)))
        got = carry_forward(previous, snaps, d)
        assert got.dtypes == daily.dtypes
        assert set(got.collect()) == set(daily.filter(F.col("date") == F.lit(d)).collect()), d
