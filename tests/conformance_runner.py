"""Run finlake's transforms on one Spark Connect engine and print the results as JSON.

Usage: python -m tests.conformance_runner (sail|jvm) PAGES_DIR
``jvm`` starts JVM Spark in Spark Connect local mode (the pyspark package's own jars).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path


def session(engine: str):
    if engine == "sail":
        from lake.spark import spark_session

        return spark_session()
    import os

    from pyspark.sql import SparkSession

    # Python UDF workers (mapInPandas / mapInArrow) must use this venv's interpreter.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    return (SparkSession.builder.remote("local[2]")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false").getOrCreate())


def collect(df, order: list[str]) -> list[dict]:
    return [{k: (str(v) if v is not None else None) for k, v in r.asDict().items()}
            for r in df.orderBy(*order).collect()]


def main(engine: str, pages_dir: str) -> None:
    import tempfile

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from lake.reference import categories, currencies, merchant_rules
    from lake.tables import CATEGORIES, CATEGORY_OVERRIDES, MERCHANT_RULES
    from pipelines import silver, spend
    from pipelines.categorise import categorise
    from pipelines.category_model import CategoryModel
    from pipelines.contract import parse_page
    from pipelines.intake import ACCOUNT_SCHEMA, CHANGE_SCHEMA

    spark = session(engine)
    # The raw contract is Python (the same on every engine): its staged Parquet is the input.
    root = Path(pages_dir)
    parsed = [parse_page(p.read_bytes(), str(p.relative_to(root)), date(2026, 2, 2),
                         frozenset(currencies()))
              for p in sorted(root.rglob("page-*.json"))]
    out_dir = Path(tempfile.mkdtemp())
    for name, schema, rows_ in (
            ("changes", CHANGE_SCHEMA, [c for p in parsed for c in p.changes]),
            ("accounts", ACCOUNT_SCHEMA, [a for p in parsed for a in p.accounts])):
        pq.write_table(pa.Table.from_pylist(rows_, schema=schema), out_dir / f"{name}.parquet")
    good = spark.read.parquet(str(out_dir / "changes.parquet"))
    staged_accounts = spark.read.parquet(str(out_dir / "accounts.parquet"))
    bad = [r for p in parsed for r in p.rejected]
    rules = spark.createDataFrame(merchant_rules(), schema=MERCHANT_RULES.ddl)
    cats = spark.createDataFrame(categories(), schema=CATEGORIES.ddl)
    overrides = spark.createDataFrame(
        [("user_0001", "amazon", "GENERAL_MERCHANDISE_ELECTRONICS", "cli", None)],
        schema=CATEGORY_OVERRIDES.ddl)
    model = CategoryModel.fit(pd.DataFrame({  # a tiny model, so mapInPandas runs too
        "merchant_key": ["joes coffee", "coffee corner", "gas n go", "quick gas"],
        "category": ["FOOD_AND_DRINK_COFFEE"] * 2 + ["TRANSPORTATION_GAS"] * 2,
        "users": [5] * 4})).to_json()
    rows = categorise(silver.transaction_rows(silver.latest_changes(good)), overrides, rules,
                      model, threshold=0.5)
    live = rows.filter(F.col("change") == "upsert").withColumn("status", F.lit("live"))
    classified = spend.classify(live.withColumn("pending", F.coalesce("pending", F.lit(False))),
                                cats)
    gold = spend.monthly_spend(spend.daily_spend(spend.spend_map(classified)))
    out = {
        "changes": collect(good, ["source_seq"]),
        "quarantine": sorted((r["record_id"], r["reason"]) for r in bad),
        "rows": collect(rows, ["account_id", "partner_txn_id"]),
        "accounts": collect(silver.account_rows(staged_accounts), ["account_id"]),
        "monthly_spend": collect(gold, ["user_id", "month", "category"]),
    }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
