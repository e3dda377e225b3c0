"""Benchmark: merchant normalisation, pure Python vs ``merchant_columns`` on Sail.

    .venv/bin/python -m bench.normalise [--n 200000] [--partitions 0] [--seed 7]

Renders ``n`` raw descriptions from the sandbox bank's catalog (every merchant, every
template, random fills), then times :func:`pipelines.categories.merchants.normalise` in a plain loop
(descriptions/s) and :func:`pipelines.categories.merchants.merchant_columns` on an embedded Sail
session (rows/s of ``merchant_columns(df).count()``, after a warm-up call that starts Sail's
Python worker; the bare ``df.count()`` is printed for scale). ``--partitions`` spreads the
rows over that many partitions first (0: leave Sail's choice).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta


def render_descriptions(n: int, seed: int) -> list[str]:
    """``n`` descriptions: a uniformly drawn catalog merchant and template, random fills."""
    from connectors.sandbox_bank import merchants as mc
    from connectors.sandbox_bank.world import CITIES

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        m = rng.choice(mc.MERCHANTS)
        city, state = rng.choice(CITIES)
        day = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        out.append(mc.render(rng.choice(m.templates), rng, day, city=city, state=state,
                             token=m.token))
    return out


def time_python(descriptions: list[str]) -> float:
    from pipelines.categories.merchants import normalise

    t = time.perf_counter()
    for d in descriptions:
        normalise(d)
    return len(descriptions) / (time.perf_counter() - t)


def time_spark(descriptions: list[str], partitions: int) -> tuple[float, float]:
    """(rows/s of merchant_columns + count, rows/s of the bare count on the same input)."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    from lake.spark import spark_session
    from pipelines.categories.merchants import merchant_columns

    spark = spark_session()
    table = pa.table({"txn_id": pa.array(range(len(descriptions)), pa.int64()),
                      "description": pa.array(descriptions, pa.string()),
                      "amount": pa.array([1.25] * len(descriptions), pa.float64())})
    df = spark.createDataFrame(table.to_pandas())
    if partitions:
        df = df.repartition(partitions)
    df = df.cache()
    n = df.count()  # materialise the input, and start Sail's Python worker once:
    merchant_columns(df.limit(100)).count()
    t = time.perf_counter()
    assert df.count() == n
    bare = n / (time.perf_counter() - t)
    t = time.perf_counter()
    assert merchant_columns(df).count() == n
    rate = n / (time.perf_counter() - t)
    distinct = merchant_columns(df).agg(F.count_distinct("merchant_key")).first()[0]
    print(f"  ({distinct} distinct merchant keys)")
    return rate, bare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    descriptions = render_descriptions(args.n, args.seed)
    print(f"{len(descriptions)} descriptions rendered from the sandbox catalog")
    py = time_python(descriptions)
    print(f"python normalise:            {py:12,.0f} descriptions/s")
    sail, bare = time_spark(descriptions, args.partitions)
    print(f"sail merchant_columns+count: {sail:12,.0f} rows/s   (bare count: {bare:,.0f} rows/s)")
    print(f"ratio sail / python:         {sail / py:12.2f}")


if __name__ == "__main__":
    main()
