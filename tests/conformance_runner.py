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
    from pyspark.sql import SparkSession

    return (SparkSession.builder.remote("local[2]")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false").getOrCreate())


def collect(df, order: list[str]) -> list[dict]:
    return [{k: (str(v) if v is not None else None) for k, v in r.asDict().items()}
            for r in df.orderBy(*order).collect()]


def main(engine: str, pages_dir: str) -> None:
    from pyspark.sql import functions as F

    from lake.reference import categories, currencies, merchant_rules
    from lake.tables import CATEGORIES, MERCHANT_RULES
    from pipelines import silver, spend
    from pipelines.categorise import categorise

    spark = session(engine)
    paths = sorted(str(p) for p in Path(pages_dir).rglob("page-*.json"))
    pages = spark.read.schema(silver.PAGE_DDL).json(paths)
    changes = silver.page_changes(pages)
    good, bad = silver.split_contract(changes, date(2026, 2, 2), currencies())
    rules = spark.createDataFrame(merchant_rules(), schema=MERCHANT_RULES.ddl)
    cats = spark.createDataFrame(categories(), schema=CATEGORIES.ddl)
    rows = categorise(silver.transaction_rows(silver.latest_changes(good)), rules)
    live = rows.filter(F.col("change") == "upsert").withColumn("status", F.lit("live"))
    gold = spend.monthly_spend(live.withColumn("pending", F.coalesce("pending", F.lit(False))),
                               cats, ["2026-01", "2026-02"])
    out = {
        "changes": collect(changes, ["source_seq"]),
        "quarantine": collect(silver.quarantine_rows(bad), ["record_id"]),
        "rows": collect(rows, ["account_id", "partner_txn_id"]),
        "accounts": collect(silver.account_rows(pages), ["account_id"]),
        "monthly_spend": collect(gold, ["user_id", "month", "category"]),
    }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
