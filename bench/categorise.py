"""Benchmark: categorisation throughput on Sail (normalise -> override/rule/pattern -> model).

    .venv/bin/python -m bench.categorise [--users 400] [--days 60]

Transactions come from the sandbox world (so descriptions are realistic); the model is
trained on the reference data plus the k-anonymous pairs the rule layer labelled, as the
weekly job does.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--days", type=int, default=60)
    args = ap.parse_args()

    from pyspark.sql import functions as F

    from connectors.sandbox_bank.labelled import labelled_transactions
    from lake import delta
    from lake.spark import spark_session
    from pipelines.categories.categorise import apply_layers, categorise, pair_layers
    from pipelines.categories.crowd import training_pairs
    from pipelines.categories.distinct import attach
    from pipelines.categories.merchants import merchant_columns, merchant_pairs
    from pipelines.categories.reference import PATTERN_SCHEMA, merchant_rules, pattern_rules
    from pipelines.categories.training import fit_model

    spark = spark_session()
    t = time.perf_counter()
    end = date(2026, 1, 31)
    pdf = labelled_transactions(7, args.users, end - timedelta(days=args.days), end)
    pdf = pdf[["user_id", "description", "merchant_name"]].rename(
        columns={"merchant_name": "merchant"})
    print(f"generated {len(pdf):,} transactions in {time.perf_counter() - t:.1f}s")
    df = spark.createDataFrame(pdf).repartition(2).cache()
    n = df.count()
    rules = spark.createDataFrame(merchant_rules(), schema="merchant_key string, category "
                                  "string, source string, version int, votes int")
    patterns = spark.createDataFrame(pattern_rules(), schema=PATTERN_SCHEMA)
    empty = spark.createDataFrame([], schema="user_id string, merchant_key string, "
                                  "category string")

    t = time.perf_counter()
    keyed = merchant_columns(df, "description", "merchant")
    keyed_n = keyed.count()
    t_norm = time.perf_counter() - t

    t = time.perf_counter()
    ruled = categorise(keyed, empty, rules, None, patterns=patterns)
    labelled = ruled.withColumn("status", F.lit("live"))
    pairs = training_pairs(labelled, k=3).toPandas()
    model = fit_model(pairs, k=3)  # the knowledge base + trade words + these pairs
    t_train = time.perf_counter() - t

    t = time.perf_counter()
    out = categorise(keyed, empty, rules, model, patterns=patterns)
    by_source = {r["category_source"]: r["count"]
                 for r in out.groupBy("category_source").count().collect()}
    t_cat = time.perf_counter() - t

    # As the nightly does (pipelines/silver/refresh.py categorised_day): each distinct
    # (description, merchant) pair normalised once and pinned, rules and the model once per
    # pair, looked up by the rows, overrides joined per row.
    t = time.perf_counter()
    distinct = delta.pin(spark, merchant_pairs(df.select("description", "merchant")
                                               .distinct()).drop("merchant_display"))
    n_pairs = distinct.count()
    t_pairs = time.perf_counter() - t
    t = time.perf_counter()
    layers = pair_layers(distinct, rules, model, patterns=patterns)
    rows = apply_layers(attach(df, layers, ["description", "merchant"]), empty)
    nightly_by_source = {r["category_source"]: r["count"]
                         for r in rows.groupBy("category_source").count().collect()}
    t_layers = time.perf_counter() - t
    assert nightly_by_source == by_source, (nightly_by_source, by_source)
    # again, in the same process: what a process that already holds this model version pays
    t = time.perf_counter()
    layers = pair_layers(distinct, rules, model, patterns=patterns)
    apply_layers(attach(df, layers, ["description", "merchant"]), empty) \
        .groupBy("category_source").count().collect()
    t_warm = time.perf_counter() - t
    assert keyed_n == n
    report = {
        "transactions": n, "normalise_rows_per_s": round(n / t_norm),
        "categorise_rows_per_s": round(n / t_cat),
        "normalise_plus_categorise_rows_per_s": round(n / (t_norm + t_cat)),
        "nightly_distinct_pairs": n_pairs,
        "nightly_normalise_pairs_s": round(t_pairs, 2),
        "nightly_layers_and_lookup_s": round(t_layers, 2),
        "nightly_rows_per_s": round(n / (t_pairs + t_layers)),
        "nightly_layers_and_lookup_again_s": round(t_warm, 2),
        "nightly_again_rows_per_s": round(n / (t_pairs + t_warm)),
        "train_pairs": len(pairs), "train_seconds": round(t_train, 2),
        "model_mib": round(len(json.dumps(model)) / 2**20, 1), "rules": len(merchant_rules()),
        "by_source": by_source,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
