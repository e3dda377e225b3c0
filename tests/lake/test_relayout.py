"""``balance_observations`` is partitioned by month; a lake an older finlake wrote (the table
unpartitioned, without ``month``) is rewritten in place on first use, once, in one commit,
and keeps working for the day's MERGE, net worth, DuckDB and forgetting a person."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

import lake.relayout as relayout_module
from lake import delta
from lake.arrow import arrow_schema
from lake.duck import connect
from lake.lake import Lake
from lake.maintenance import maintain
from lake.relayout import MARK, LayoutError, relayout
from lake.small_tables import read_rows
from lake.tables import BALANCE_OBSERVATIONS, BALANCES_DAILY, NET_WORTH_DAILY
from pipelines.wealth.refresh import refresh_net_worth

pytestmark = pytest.mark.integration
# The table as finlake wrote it before: no month column, no partitioning.
OLD = dataclasses.replace(
    BALANCE_OBSERVATIONS, partition_by=(), months_of=(),
    columns=tuple(c for c in BALANCE_OBSERVATIONS.columns if c[0] != "month"))
DAYS = [date(2025, 11, 29), date(2025, 12, 1), date(2025, 12, 31), date(2026, 1, 1),
        date(2026, 1, 2)]


def _obs(account: str, user: str, kind: str, day: date, balance: str, **extra) -> dict:
    at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
    return {"account_id": account, "user_id": user, "type": kind, "date": day,
            "balance_current": Decimal(balance), "needs_review": False, "observed_at": at,
            "source_seq": f"{day:%Y%m%d}-accounts", **extra}


def old_rows() -> list[dict]:
    rows = []
    for i, day in enumerate(DAYS):
        rows += [_obs("chk-1", "alice", "depository", day, f"{1000 + i}.00"),
                 _obs("cc-1", "alice", "credit", day, f"{200 + i}.50"),
                 _obs("chk-ü", "bøb ✓", "depository", day, f"{50 + i}.00",
                      needs_review=None if i == 2 else i == 3)]
    rows.append(_obs("loan-1", "carol", "loan", DAYS[0], "9000.00", balance_current=None))
    return rows


def write_old(lake: Lake) -> None:
    """Two commits in the old layout (the second an append), as the nightlies left them."""
    rows = old_rows()
    for mode, part in (("overwrite", rows[:6]), ("append", rows[6:])):
        write_deltalake(lake.uri(OLD), pa.Table.from_pylist(part, schema=arrow_schema(OLD)),
                        mode=mode)


def table_rows(lake: Lake) -> list[tuple]:
    return sorted(tuple(sorted(r.items())) for r in read_rows(lake, BALANCE_OBSERVATIONS))


def expected(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(sorted({**r, "month": f"{r['date']:%Y-%m}"}.items())) for r in rows)


def test_old_layout_is_rewritten_once_in_place_and_keeps_working(spark, lake: Lake) -> None:
    write_old(lake)
    duck_before = connect(lake).execute(
        "SELECT count(*), count(month) FROM balance_observations").fetchall()
    assert duck_before == [(len(old_rows()), 0)]  # DuckDB reads the old layout (month null)
    v_old = lake.delta(BALANCE_OBSERVATIONS).version()

    # The first use (the day's MERGE, as pipelines/silver/refresh.py merge_accounts does it).
    day = date(2026, 1, 3)
    today = [_obs("chk-1", "alice", "depository", day, "1234.56", month="2026-01"),
             _obs("sav-new", "dana", "depository", day, "1.00", month="2026-01")]
    delta.merge(spark, lake, BALANCE_OBSERVATIONS,
                spark.createDataFrame(today, schema=BALANCE_OBSERVATIONS.ddl),
                changed="s.source_seq > t.source_seq", partitions=["2026-01"])
    dt = lake.delta(BALANCE_OBSERVATIONS)
    assert tuple(dt.metadata().partition_columns) == ("month",)
    history = dt.history(dt.version() - v_old)
    assert [h["operation"] for h in reversed(history)] == ["WRITE", "MERGE"]
    assert MARK in str(history[-1])  # one commit rewrote it
    assert table_rows(lake) == expected(old_rows() + [
        {k: v for k, v in r.items() if k != "month"} for r in today])
    files = dt.get_add_actions(flatten=True)
    months = dict(zip(files.column("path").to_pylist(),
                      files.column("partition.month").to_pylist(), strict=True))
    assert sorted(set(months.values())) == ["2025-11", "2025-12", "2026-01"]
    assert all(p.startswith(f"month={m}/") for p, m in months.items())
    assert dt.version() == v_old + 2

    # Idempotent: nothing to do again (no new version), and the old version still reads.
    assert relayout(lake, BALANCE_OBSERVATIONS) is False
    assert lake.delta(BALANCE_OBSERVATIONS).version() == v_old + 2
    assert maintain(lake, [BALANCE_OBSERVATIONS], say=lambda _: None)[0].status == "ok"
    from deltalake import DeltaTable

    assert DeltaTable(lake.uri(OLD), version=v_old).to_pyarrow_table().num_rows \
        == len(old_rows())

    # Readers: net worth (both paths: from all observations, then carried from the day
    # before), DuckDB, and deleting a person's rows (as forget-user does).
    for d in (date(2026, 1, 2), day):
        refresh_net_worth(spark, lake, d)
    worth = {(r["user_id"], r["date"]): r["net_worth"] for r in read_rows(lake, NET_WORTH_DAILY)}
    assert worth[("alice", day)] == Decimal("1234.56") - Decimal("204.50")
    assert worth[("bøb ✓", date(2026, 1, 2))] == Decimal("54.00")
    assert len(read_rows(lake, BALANCES_DAILY)) > 0
    assert connect(lake).execute(
        "SELECT month, count(*) FROM balance_observations GROUP BY 1 ORDER BY 1").fetchall() \
        == [("2025-11", 4), ("2025-12", 6), ("2026-01", 8)]
    lake.delta(BALANCE_OBSERVATIONS).delete("user_id = 'bøb ✓'")
    assert {r["user_id"] for r in read_rows(lake, BALANCE_OBSERVATIONS)} == {
        "alice", "carol", "dana"}


def test_a_rewrite_killed_half_way_leaves_the_old_table(lake: Lake, monkeypatch) -> None:
    write_old(lake)
    before = lake.delta(BALANCE_OBSERVATIONS).version()
    real, calls = relayout_module._with_months, []

    def dies(batch, t):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("killed")
        return real(batch, t)

    monkeypatch.setattr(relayout_module, "BATCH_ROWS", 4)
    monkeypatch.setattr(relayout_module, "_with_months", dies)
    with pytest.raises(Exception, match="killed"):
        relayout(lake, BALANCE_OBSERVATIONS)
    dt = lake.delta(BALANCE_OBSERVATIONS)
    assert dt.version() == before and dt.metadata().partition_columns == []
    assert sorted(tuple(sorted(r.items())) for r in dt.to_pyarrow_table().to_pylist()) == sorted(
        tuple(sorted(r.items())) for r in old_rows())
    monkeypatch.setattr(relayout_module, "_with_months", real)
    assert relayout(lake, BALANCE_OBSERVATIONS) is True  # the next open finishes it
    assert table_rows(lake) == expected(old_rows())
    assert lake.delta(BALANCE_OBSERVATIONS).version() == before + 1


def test_a_layout_finlake_cannot_derive_is_refused(lake: Lake) -> None:
    write_old(lake)
    odd = dataclasses.replace(BALANCE_OBSERVATIONS, partition_by=("type",), months_of=())
    assert relayout(lake, odd) is True  # an existing column: rewritten
    with pytest.raises(LayoutError, match="cannot derive"):
        relayout(lake, dataclasses.replace(BALANCE_OBSERVATIONS, partition_by=("region",)))


def test_a_new_lake_creates_the_partitioned_table(spark, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "new"))
    delta.ensure_table(spark, lake, BALANCE_OBSERVATIONS)
    dt = lake.delta(BALANCE_OBSERVATIONS)
    assert dt.metadata().partition_columns == ["month"] and dt.version() == 0
    assert relayout(lake, BALANCE_OBSERVATIONS) is False
