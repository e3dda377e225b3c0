"""lake/delta.py ``pin``: the rows a MERGE reads more than once come back exactly, with every
type a lake table uses (and a few it may one day), NULLs, the empty frame and the schema."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from lake import delta, tables

DDL = ("s string, b bigint, i int, f double, amount decimal(18,2), d date, ts timestamp, "
       "ok boolean, tags array<string>, attrs map<string,string>, "
       "pos struct<lat: double, lon: double>")

UTC = dt.UTC


def _rows() -> list[tuple]:
    return [
        ("Café Ünïcode — 東京 'quoted'", 2**62, -7, 1e-300, Decimal("-12345678.90"),
         dt.date(1970, 1, 1), dt.datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC), True,
         ["a", None, ""], {"k": "v", "n": None}, (51.5, -0.12)),
        (None, None, None, None, None, None, None, None, None, None, None),
        ("", 0, 0, float("inf"), Decimal("0.01"), dt.date(2099, 12, 31),
         dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), False, [], {}, None),
    ]


def test_pin_keeps_every_value_and_the_schema(spark) -> None:
    df = spark.createDataFrame(_rows(), DDL)
    pinned = delta.pin(spark, df)
    assert pinned.schema == df.schema
    assert sorted(map(repr, pinned.collect())) == sorted(map(repr, df.collect()))


def test_pin_of_an_empty_frame_and_of_every_table_layout(spark) -> None:
    empty = delta.pin(spark, spark.createDataFrame([], DDL))
    assert empty.count() == 0 and empty.schema == spark.createDataFrame([], DDL).schema
    for t in (v for v in vars(tables).values() if isinstance(v, tables.Table)):
        frame = delta.empty_frame(spark, t)
        assert delta.pin(spark, frame).schema == frame.schema, t.name


def test_pin_holds_the_rows_not_the_plan(spark, tmp_path) -> None:
    path = str(tmp_path / "p")
    spark.createDataFrame([(1,), (2,)], "x int").write.parquet(path)
    pinned = delta.pin(spark, spark.read.parquet(path))
    spark.createDataFrame([(3,)], "x int").write.mode("append").parquet(path)
    assert sorted(r.x for r in pinned.collect()) == [1, 2]
