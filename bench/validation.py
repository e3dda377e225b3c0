"""Benchmark: what the data quality gates cost, in seconds per million rows.

    .venv/bin/python -m bench.validation [--rows 1000000] [--page 500] [--bad 0.01]

Builds ``rows`` partner records (realistic fields, ``bad`` of them broken) as landed raw
pages of ``page`` records in memory, then times, side by side in one run:

- ``json.loads`` of every page alone (the parse any reader pays: the baseline),
- the raw contract (:func:`pipelines.raw.contract.parse_page`: parse + check every field),
- writing the valid changes as staged Parquet (what Spark then reads),
- the ``raw_changes`` GX suite on the staged changes (Spark on embedded Sail),
- the ``silver_transactions`` GX suite on the staged silver rows built from them.

Each figure is printed as seconds per million rows; the contract is also given as a ratio
to the bare parse. Reports and ``quality_results`` rows go to a temporary lake.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date, timedelta

SYNC_DAY = date(2026, 11, 20)
MERCHANTS = ["Starbucks", "Shell", "Amazon", "Whole Foods", "Uber", "Netflix", None]


def records(n: int, bad: float, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        merchant = rng.choice(MERCHANTS)
        rec = {"transaction_id": f"txn_{seed}_{i:09d}", "account_id": f"acc_{i % 7}",
               "amount": round(rng.uniform(-2000, 400), 2), "iso_currency_code": "USD",
               "date": (SYNC_DAY - timedelta(days=rng.randrange(60))).isoformat(),
               "authorized_date": None, "name": f"{(merchant or 'ACME PAYROLL').upper()} "
                                                f"#{rng.randrange(9999)} SEATTLE WA",
               "merchant_name": merchant, "pending": rng.random() < 0.05,
               "pending_transaction_id": None, "payment_channel": "in store"}
        if rng.random() < bad:
            rec[rng.choice(["amount", "date", "iso_currency_code"])] = "broken"
        out.append(rec)
    return out


def pages(recs: list[dict], size: int) -> list[tuple[str, bytes]]:
    out = []
    for p, start in enumerate(range(0, len(recs), size), 1):
        user = f"user_{p % 1000:04d}"
        key = (f"raw/transactions_sync/sync_date={SYNC_DAY}/user={user}/item=item_{user}/"
               f"update=0000000001/attempt=a/page-{p:05d}.json")
        meta = {"raw_ref": key, "sync_date": SYNC_DAY.isoformat(), "user_id": user,
                "item_id": f"item_{user}", "institution_id": "ins_1", "update_seq": 1,
                "attempt": "a", "page": p, "landed_at": f"{SYNC_DAY}T02:00:00+00:00"}
        chunk = recs[start:start + size]
        accounts = [{"account_id": f"acc_{i}", "name": "Checking", "mask": "0000",
                     "type": "depository", "subtype": "checking",
                     "balances": {"current": 100.0, "available": 100.0,
                                  "iso_currency_code": "USD"}} for i in range(7)]
        body = {"added": chunk, "modified": [], "removed": [], "accounts": accounts,
                "next_cursor": "c", "has_more": False}
        out.append((key, json.dumps({"meta": meta, "response": body}).encode()))
    return out


def per_million(seconds: float, rows: int) -> float:
    return seconds * 1_000_000 / rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--bad", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    import pyarrow as pa

    from lake.lake import Lake
    from lake.spark import spark_session
    from lake.staging import put_arrow, stage_frame
    from pipelines.categories.reference import currencies
    from pipelines.raw.contract import parse_page
    from pipelines.raw.intake import CHANGE_SCHEMA
    from pipelines.silver import rows as silver_rows
    from quality.validation import LOCAL_ROWS, validate

    t = time.perf_counter()
    bodies = pages(records(args.rows, args.bad, args.seed), args.page)
    print(f"built {args.rows:,} records in {len(bodies):,} pages "
          f"({sum(len(b) for _, b in bodies) / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")

    t = time.perf_counter()
    for _, body in bodies:
        json.loads(body)
    parse = time.perf_counter() - t
    print(f"  json.loads alone       {per_million(parse, args.rows):7.2f} s/M rows")

    known = frozenset(currencies())
    t = time.perf_counter()
    changes, rejected = [], 0
    for key, body in bodies:
        out = parse_page(body, key, SYNC_DAY, known)
        changes.extend(out.changes)
        rejected += len(out.rejected)
    contract = time.perf_counter() - t
    print(f"  raw contract           {per_million(contract, args.rows):7.2f} s/M rows "
          f"({contract / parse:.2f}x the bare parse; {rejected:,} quarantined)")

    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(f"{tmp}/lake")
        t = time.perf_counter()
        uri = put_arrow(lake, "_staging/bench/changes.parquet",
                        pa.Table.from_pylist(changes, schema=CHANGE_SCHEMA))
        staged_write = time.perf_counter() - t
        print(f"  staged Parquet write   {per_million(staged_write, args.rows):7.2f} s/M rows")
        del changes

        spark = spark_session()
        staged = spark.read.parquet(uri)
        n = staged.count()
        warm = LOCAL_ROWS + 1  # GX start-up on its Spark engine (small batches use pandas)
        validate(lake, "raw_changes", staged.limit(warm), "warmup", SYNC_DAY)
        t = time.perf_counter()
        audit = validate(lake, "raw_changes", staged, "bench", SYNC_DAY)
        raw_gx = time.perf_counter() - t
        print(f"  raw_changes suite      {per_million(raw_gx, n):7.2f} s/M rows "
              f"({len(audit.results)} expectations, passed={audit.passed})")

        rows = silver_rows.transaction_rows(silver_rows.latest_changes(staged)).withColumn(
            "category", silver_rows.F.lit("FOOD_AND_DRINK_COFFEE"))
        t = time.perf_counter()
        staged_silver = stage_frame(spark, lake, rows, "_staging/bench/silver")
        build = time.perf_counter() - t
        validate(lake, "silver_transactions", staged_silver.limit(warm), "warmup", SYNC_DAY)
        t = time.perf_counter()
        audit = validate(lake, "silver_transactions", staged_silver, "bench", SYNC_DAY)
        silver_gx = time.perf_counter() - t
        print(f"  (silver rows built and staged in {per_million(build, n):.2f} s/M rows)")
        print(f"  silver suite           {per_million(silver_gx, n):7.2f} s/M rows "
              f"({len(audit.results)} expectations, passed={audit.passed})")
    total = contract + staged_write + raw_gx + silver_gx
    print(f"validation total         {per_million(total, args.rows):7.2f} s/M rows "
          f"(contract {contract / total:.0%}, GX suites {(raw_gx + silver_gx) / total:.0%})")


if __name__ == "__main__":
    main()
