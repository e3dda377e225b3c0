"""Per distinct value, not per row: merchant keys and categories computed once per distinct
(description, merchant) pair and joined back give exactly the rows the per-row path of
ea5e8ca gave (``tests/support/per_row_categorise.py``), every column, NaN and NULL kept
apart, on realistic and hostile rows; and the day's normaliser runs once per distinct pair."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from lake import models
from lake.small_tables import upsert_rows
from lake.tables import CATEGORY_OVERRIDES
from pipelines.categories import merchants
from pipelines.categories.categorise import categorise
from pipelines.categories.merchants import merchant_columns
from pipelines.categories.model import CategoryModel
from pipelines.categories.reference import PATTERN_SCHEMA, pattern_rules
from pipelines.categories.refresh import engine_inputs, seed_reference
from pipelines.silver.refresh import categorised_day
from pipelines.silver.rows import latest_changes
from tests.support import per_row_categorise as per_row

pytestmark = pytest.mark.integration

CHANGES = ("change string, change_kind string, transaction_id string, account_id string, "
           "amount double, iso_currency_code string, date string, authorized_date string, "
           "name string, merchant_name string, pending boolean, pending_transaction_id string, "
           "payment_channel string, user_id string, item_id string, raw_ref string, "
           "sync_date date, observed_at timestamp, source_seq string")
# (description, merchant): realistic statements, and the hostile ones.
PAIRS = [
    ("STARBUCKS STORE 04521 SAN FRANCISCO CA", "Starbucks"),
    ("STARBUCKS STORE 04521 SAN FRANCISCO CA", None),      # same description, no merchant
    ("STARBUCKS STORE 04521 SAN FRANCISCO CA", "Peet's Coffee"),  # ... another merchant
    ("STARBUCKS STORE 04521 SAN FRANCISCO CA", "   "),      # a blank merchant name
    ("SQ *BLUE BOTTLE 0423 OAKLAND CA", None),
    ("SHELL OIL 57442 HOUSTON TX", None),                    # word-prefix rule "shell"
    ("JOES COFFEE 0042", None), ("QUICK GAS 7 AUSTIN TX", None),  # the model's keys
    ("ZZQX 99", None), ("BLRGH", "Blrgh Holdings"),          # below threshold / unknown
    ("DIRECT DEP ACME CORP PAYROLL", None),                  # a pattern rule
    ("ONLINE PAYMENT, THANK YOU", None),                     # a pattern, no merchant words
    ("ATM FEE", "Starbucks"),                                # a key rule beats a pattern
    ("CAFÉ DU MONDE #12 NEW ORLEANS LA", None), ("ＳＴＡＲＢＵＣＫＳ ＃１２３", None),
    ("北京烤鸭 #12", None), ("☕ BLUE BOTTLE COFFEE", "Café Olé"),
    ("PEET\u2019S COFFEE #123 BERKELEY CA", None), ("a\tb\x00c", "\u200b"),
    (None, None), ("", None), (None, ""), ("", ""), ("   ", "  "), (None, "Starbucks"),
    ("NULL", None), ("null", "NULL"),                         # text that reads as null
]


def tiny_model() -> dict:
    pairs = pd.DataFrame({
        "merchant_key": ["joes coffee", "coffee corner", "bean coffee bar", "gas n go",
                         "quick gas", "fuel stop gas", "starbucks"],
        "category": ["FOOD_AND_DRINK_COFFEE"] * 3 + ["TRANSPORTATION_GAS"] * 3
        + ["FOOD_AND_DRINK_COFFEE"],
        "users": [5] * 7})
    return CategoryModel.fit(pairs).to_json()


def same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN and NULL equal only to NULL."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def assert_same_rows(new, old, key: str) -> None:  # noqa: ANN001
    assert sorted(new.columns) == sorted(old.columns)
    assert {f.name: f.dataType for f in new.schema.fields} == {
        f.name: f.dataType for f in old.schema.fields}
    got = [r.asDict() for r in new.collect()]
    want = [r.asDict() for r in old.collect()]
    assert len(got) == len(want) and len({r[key] for r in want}) == len(want)
    by_key = {r[key]: r for r in got}
    for w in want:
        g = by_key[w[key]]
        bad = {c: (g[c], w[c]) for c in w if not same(g[c], w[c])}
        assert not bad, f"{w[key]}: {bad}"


def changes_frame(spark):  # noqa: ANN001, ANN201
    """Changes of three people over the hostile pairs: each person buys every pair, a key
    is changed twice in the batch (the older change names another merchant) and some
    transactions are removed (no description, no merchant)."""
    t0 = datetime(2026, 1, 10, 2, tzinfo=UTC)
    rows = []
    for u, user in enumerate(("u1", "u2", "u3")):
        for i, (desc, merchant) in enumerate(PAIRS):
            seq = f"{u:04d}{i:06d}"
            rows.append(("upsert", "added", f"t{u}_{i}", f"acc{u}", 3.25 + i,
                         "USD", "2026-01-09", None if i % 4 else "2026-01-08", desc,
                         merchant, i % 5 == 0, None, "in store", user, f"item{u}",
                         f"raw/{u}", date(2026, 1, 10), t0 + timedelta(seconds=i), seq))
        rows.append(("upsert", "added", f"t{u}_0", f"acc{u}", 1.0, "USD", "2026-01-09",
                     None, "OLD NAME 77", "Old Merchant", False, None, "online", user,
                     f"item{u}", f"raw/{u}", date(2026, 1, 10), t0, f"{u:04d}00000"))
        rows.append(("remove", "removed", f"gone{u}", f"acc{u}", None, None, None, None,
                     None, None, None, None, None, user, f"item{u}", f"raw/{u}",
                     date(2026, 1, 10), t0, f"{u:04d}999999"))
    return spark.createDataFrame(rows, schema=CHANGES)


def overrides_frame(spark):  # noqa: ANN001, ANN201
    return spark.createDataFrame([
        ("u1", "starbucks", "FOOD_AND_DRINK_RESTAURANT"),   # one person's only
        ("u2", "", "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE"),  # the empty key
        ("u3", "joes coffee", None),                         # an override without a category
        ("u3", "zzqx", "ENTERTAINMENT_CASINOS_AND_GAMBLING"),
    ], schema="user_id string, merchant_key string, category string")


def rules_frame(spark):  # noqa: ANN001, ANN201
    return spark.createDataFrame([
        ("starbucks", "FOOD_AND_DRINK_COFFEE", "seed"), ("shell", "TRANSPORTATION_GAS", "seed"),
        ("blue bottle", "FOOD_AND_DRINK_COFFEE", "crowd"),
        ("cafe du monde", "FOOD_AND_DRINK_RESTAURANT", "crowd"),
    ], schema="merchant_key string, category string, source string")


def test_merchant_columns_equals_per_row(spark) -> None:
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("id", T.LongType()), T.StructField("description", T.StringType()),
        T.StructField("merchant", T.StringType()), T.StructField("amount", T.DecimalType(18, 2)),
        T.StructField("posted_date", T.DateType()), T.StructField("score", T.DoubleType()),
        T.StructField("merchant_key", T.StringType()), T.StructField("n", T.LongType())])
    rows = [(i, d, m, Decimal(f"{i}.25"), date(2025, 1, 1) + timedelta(days=i),
             float("nan") if i % 3 == 0 else (None if i % 3 == 1 else i / 7), "stale",
             None if i % 2 else 2**62 + i)
            for i, (d, m) in enumerate(PAIRS * 2)]
    df = spark.createDataFrame(rows, schema)
    assert_same_rows(merchant_columns(df), per_row.merchant_columns(df), "id")
    assert merchant_columns(df).columns == per_row.merchant_columns(df).columns
    no_merchant = df.drop("merchant", "merchant_key")
    assert_same_rows(merchant_columns(no_merchant, merchant_col=None),
                     per_row.merchant_columns(no_merchant, merchant_col=None), "id")


@pytest.mark.parametrize(("with_model", "with_patterns"),
                         [(True, True), (False, True), (True, False), (False, False)])
def test_categorise_equals_per_row(spark, with_model: bool, with_patterns: bool) -> None:
    keyed = merchant_columns(latest_changes(changes_frame(spark)).selectExpr(
        "transaction_id", "user_id", "name AS description", "merchant_name AS merchant",
        "amount"))
    keyed = keyed.unionByName(spark.createDataFrame(  # a key no normaliser gives: NULL
        [("nokey", "u1", "STARBUCKS 1", None, 1.0, None, None)], schema=keyed.schema))
    args = (overrides_frame(spark), rules_frame(spark), tiny_model() if with_model else None,
            # the frozen per-row version knows no pattern sections: every pattern after rules
            0.6, spark.createDataFrame(pattern_rules(), PATTERN_SCHEMA).drop("stage")
            if with_patterns else None)
    new, old = categorise(keyed, *args), per_row.categorise(keyed, *args)
    assert_same_rows(new, old, "transaction_id")
    sources = {r["category_source"] for r in new.collect()}
    assert sources == ({"override", "rule", "crowd", "none"} | ({"model"} if with_model else set()))


@pytest.mark.parametrize("with_model, staged", [(True, False), (False, False), (True, True)])
def test_silver_rows_equal_per_row(spark, lake, monkeypatch, with_model: bool,
                                   staged: bool) -> None:
    """``staged``: the pairs go through staged Parquet, as merge_partition does. The frozen
    per-row version knows no pattern sections, so both see every pattern after the rules."""
    from pipelines.categories import reference

    real = reference.pattern_rules()
    monkeypatch.setattr(reference, "pattern_rules", lambda: [
        {**r, "stage": "after"} for r in real])
    seed_reference(spark, lake)
    now = datetime(2026, 1, 9, tzinfo=UTC)
    upsert_rows(lake, CATEGORY_OVERRIDES, [
        {"user_id": r["user_id"], "merchant_key": r["merchant_key"],
         "category": r["category"] or "GENERAL_SERVICES_OTHER_GENERAL_SERVICES",
         "source": "cli", "created_at": now} for r in overrides_frame(spark).collect()])
    if with_model:
        model = tiny_model()
        models.save(lake.store, model["version"], model, {})
        models.publish(lake.store, model["version"])
    changes = changes_frame(spark)
    new = categorised_day(spark, lake, changes, "_staging/test-pairs" if staged else None)
    old = per_row.categorise(per_row.transaction_rows(latest_changes(changes)),
                             **engine_inputs(spark, lake))
    assert_same_rows(new, old, "txn_id")
    got = {r["partner_txn_id"]: r for r in new.collect() if r["user_id"] == "u1"}
    assert got["t0_0"]["description"] == PAIRS[0][0]  # the newest change of the key won
    assert got["t0_0"]["category_source"] == "override"
    assert {r["category_source"] for r in got.values()} >= {"override", "rule", "none"} | (
        {"model"} if with_model else set())


def test_normaliser_runs_once_per_distinct_pair(spark, lake, monkeypatch, tmp_path) -> None:
    """Counted through a file (a Python UDF may run in another process). The rows are
    computed twice (count, collect) and the pairs are still normalised once each: the
    rows' plan holds no normaliser, only the staged pairs."""
    tally = tmp_path / "normalised.txt"

    def counting(description, merchant_name=None, _real=merchants.normalise,  # noqa: ANN001, ANN202
                 _tally=str(tally)):
        with open(_tally, "a") as fh:
            fh.write(repr((description, merchant_name)) + "\n")
        return _real(description, merchant_name)

    seed_reference(spark, lake)  # (its model report normalises the check set's lines)
    monkeypatch.setattr(merchants, "normalise", counting)
    changes = changes_frame(spark)
    rows = categorised_day(spark, lake, changes, "_staging/test-count")
    assert rows.count() == changes.select("account_id", "transaction_id").distinct().count()
    rows.collect()
    calls = tally.read_text().splitlines()
    pairs = {(r["name"], r["merchant_name"]) for r in changes.collect()}
    assert len(calls) == len(pairs) == len(set(calls))  # each pair once, not once per row
    assert len(calls) < changes.count() / 2


