"""Benchmark: a day's silver rows (normalise, categorise, stage), per row (ea5e8ca) against
per distinct (description, merchant) pair (now), side by side on one Sail session.

    .venv/bin/python -m bench.categorise_distinct [--rows 200000] [--users 5000] [--runs 3]

A day of ``--rows`` change records (the statement descriptions of ``bench/dashboard_lake.py``'s
vocabulary: catalog merchants, a few renderings each, so a realistic few thousand distinct
(description, merchant) pairs; 1% modifications of a row of the same day, 1% removals) is
written as Parquet, as the intake stages it. A lake holds the seeded rules, 200 overrides and
a published model trained on the vocabulary's keys. Each run times, for each path in turn
(the order alternates), building the rows from the Parquet and writing them to Parquet (what
``place_in_months``' stage does): the old path is ``tests/support/per_row_categorise.py``
(the normaliser through ``mapInArrow`` and the model through ``mapInPandas``, over every
row), the new one ``pipelines/silver/refresh.py`` ``categorised_day``. It checks that both
wrote the same rows, then prints the seconds per path (median of the runs) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path


def day_of_changes(rows: int, users: int, seed: int):  # noqa: ANN201
    """``rows`` change records in the staged-changes shape (a pyarrow table)."""
    import numpy as np
    import pyarrow as pa

    from bench import dashboard_lake as dl

    rng = np.random.default_rng(seed)
    vocab = dl.vocabulary(seed)
    w = np.array(vocab.purchase_weight)
    payee = np.array(vocab.purchase)[rng.choice(len(w), rows, p=w / w.sum())]
    u = rng.integers(0, users, rows)
    desc = payee * dl.VARIANTS + rng.integers(0, dl.VARIANTS, rows)
    n_mod, n_rm = rows // 100, rows // 100
    ids = [f"t{i:09d}" for i in range(rows)]
    ids[-n_mod - n_rm:] = ids[:n_mod + n_rm]  # the last 2% change earlier rows of the day
    u[-n_mod - n_rm:] = u[:n_mod + n_rm]
    change = ["upsert"] * (rows - n_rm) + ["remove"] * n_rm
    kind = ["added"] * (rows - n_mod - n_rm) + ["modified"] * n_mod + ["removed"] * n_rm
    live = np.array([c == "upsert" for c in change])
    day = date(2026, 1, 10)
    return vocab, pa.table({
        "change": change, "change_kind": kind, "transaction_id": ids,
        "account_id": [f"acc{x}" for x in u],
        "amount": pa.array(np.round(rng.uniform(1, 200, rows), 2), mask=~live),
        "iso_currency_code": pa.array(np.where(live, "USD", None).tolist(), pa.string()),
        "date": pa.array(np.where(live, "2026-01-09", None).tolist(), pa.string()),
        "authorized_date": pa.array(np.where(live, "2026-01-08", None).tolist(), pa.string()),
        "name": pa.array(np.where(live, np.array(vocab.descriptions, dtype=object)[desc], None)
                         .tolist(), pa.string()),
        "merchant_name": pa.array(np.where(live, np.array(vocab.names, dtype=object)[payee],
                                           None).tolist(), pa.string()),
        "pending": live & (rng.random(rows) < 0.1),
        "pending_transaction_id": pa.nulls(rows, pa.string()),
        "payment_channel": pa.array(np.where(live, "in store", None).tolist(), pa.string()),
        "user_id": [f"u{x:06d}" for x in u], "item_id": [f"item{x}" for x in u],
        "raw_ref": ["raw/day"] * rows, "sync_date": pa.array([day] * rows, pa.date32()),
        "observed_at": pa.array([datetime(2026, 1, 10, 2, tzinfo=UTC)] * rows,
                                pa.timestamp("us", tz="UTC")),
        "source_seq": [f"{i:012d}" for i in range(rows)],
    })


def prepare_lake(spark, root: Path, vocab, users: int):  # noqa: ANN001, ANN201
    import pandas as pd

    from bench import dashboard_lake as dl
    from lake import models
    from lake.lake import Lake
    from lake.small_tables import upsert_rows
    from lake.tables import CATEGORY_OVERRIDES
    from pipelines.categories.model import CategoryModel
    from pipelines.categories.refresh import seed_reference

    lake = Lake(str(root / "lake"))
    seed_reference(spark, lake)
    labels = [c for c in vocab.categories for _ in range(dl.VARIANTS)]
    keys = sorted({(k, c) for k, c in zip(vocab.keys, labels, strict=True) if k})
    model = CategoryModel.fit(pd.DataFrame({"merchant_key": [k for k, _ in keys],
                                            "category": [c for _, c in keys],
                                            "users": [5] * len(keys)})).to_json()
    models.save(lake.store, model["version"], model, {})
    models.publish(lake.store, model["version"])
    now = datetime(2026, 1, 9, tzinfo=UTC)
    upsert_rows(lake, CATEGORY_OVERRIDES, [
        {"user_id": f"u{i * (users // 200):06d}", "merchant_key": vocab.keys[i * 6],
         "category": "GENERAL_SERVICES_OTHER_GENERAL_SERVICES", "source": "bench",
         "created_at": now} for i in range(200)])
    return lake


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    import pyarrow.parquet as pq

    from lake.spark import spark_session
    from pipelines.categories.refresh import engine_inputs
    from pipelines.silver.refresh import categorised_day
    from pipelines.silver.rows import latest_changes
    from tests.support import per_row_categorise as per_row

    spark = spark_session()
    root = Path(tempfile.mkdtemp(prefix="categorise_distinct-"))
    vocab, table = day_of_changes(args.rows, args.users, args.seed)
    pq.write_table(table, root / "changes.parquet")
    lake = prepare_lake(spark, root, vocab, args.users)
    changes = spark.read.parquet(str(root / "changes.parquet"))
    pairs = changes.select("name", "merchant_name").distinct().count()
    print(f"{table.num_rows:,} changes, {pairs:,} distinct (description, merchant) pairs")

    def old() -> object:
        return per_row.categorise(per_row.transaction_rows(latest_changes(changes)),
                                  **engine_inputs(spark, lake))

    def new() -> object:
        return categorised_day(spark, lake, changes)

    paths = {"per row (ea5e8ca)": old, "per distinct pair": new}
    seconds: dict[str, list[float]] = {k: [] for k in paths}
    for run in range(args.runs + 1):  # run 0 warms up Sail's Python workers and caches
        for name in (list(paths) if run % 2 else list(reversed(paths))):
            t = time.perf_counter()
            paths[name]().write.mode("overwrite").parquet(str(root / name.split()[1]))
            if run:
                seconds[name].append(time.perf_counter() - t)
    written = {name: spark.read.parquet(str(root / name.split()[1])) for name in paths}
    cols = sorted(written["per row (ea5e8ca)"].columns)
    a, b = (written[n].select(*cols) for n in paths)
    assert a.count() == b.count() and a.exceptAll(b).count() == 0 == b.exceptAll(a).count()
    print(f"both paths wrote the same {a.count():,} rows")
    for name, s in seconds.items():
        print(f"{name:20s} {statistics.median(s):7.2f} s  (runs: "
              f"{', '.join(f'{x:.2f}' for x in s)})")
    per_row_s, distinct_s = (statistics.median(s) for s in seconds.values())
    print(f"ratio per row / per distinct: {per_row_s / distinct_s:.2f}x")


if __name__ == "__main__":
    main()
