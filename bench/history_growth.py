"""Benchmark: the two steps that grew with history, old code against new, side by side.

    .venv/bin/python -m bench.history_growth --base DIR [--dir DIR] [--users 1500]
        [--history 300000] [--overrides 100] [--accounts 5000] [--days 35 350]
        [--merge-rows 60000]

``--base`` is a checkout of the previous commit (``git worktree add --detach DIR ea5e8ca``);
each variant runs in its own process with that checkout or this one first on ``sys.path``.

1. **Re-categorisation after new merchant overrides.** A lake of ``--history`` silver rows
   (``bench/scale_data.py``, ``--users`` people, 14 rows a person a month: 15 months at the
   defaults) gets ``--overrides`` new merchant overrides (random (person, merchant key)
   pairs of the newest month: what people override on the dashboard), then
   ``refresh_categories`` runs: seconds, peak memory (the process's ``VmHWM``, reset before
   the step; Sail runs in-process), rows changed, rows copied (the MERGEs' own
   ``numTargetRowsCopied``), commits, and months that got new files.
2. **The day's balance observations MERGE** (``pipelines/silver/refresh.py``
   ``merge_accounts``' call) of ``--accounts`` accounts into ``--days`` days of history:
   the old unpartitioned table against the new one partitioned by month (and, new only,
   the one-off rewrite of an old table on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 20)


def peak_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def reset_peak() -> float:
    """Reset ``VmHWM`` to the current RSS; returns that RSS (MiB)."""
    Path("/proc/self/clear_refs").write_text("5")
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def merge_metrics(lake: Any, t: Any, since: int) -> dict[str, Any]:
    import json as _json

    dt = lake.delta(t)
    out = {"commits": dt.version() - since, "copied": 0, "updated": 0, "months": set()}
    log = Path(lake.uri(t).removeprefix("file://")) / "_delta_log"
    for v in range(since + 1, dt.version() + 1):
        for line in (log / f"{v:020d}.json").read_text().splitlines():
            action = _json.loads(line)
            m = action.get("commitInfo", {}).get("operationMetrics", {})
            out["copied"] += int(m.get("numTargetRowsCopied", 0))
            out["updated"] += int(m.get("numTargetRowsUpdated", 0))
            if "add" in action:
                out["months"].add(next(iter(action["add"]["partitionValues"].values()), ""))
    out["months"] = len(out["months"])
    return out


def child_recategorise(src: Path, work: Path, n_overrides: int, merge_rows: int
                       ) -> dict[str, Any]:
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(src, home)
    os.environ["FINLAKE_HOME"] = str(home)
    import pyarrow.compute as pc

    import pipelines.corrections.recategorise as recategorise
    from lake.lake import Lake
    from lake.small_tables import upsert_rows
    from lake.spark import spark_session
    from lake.tables import CATEGORY_OVERRIDES, TRANSACTIONS
    from pipelines.corrections.recategorise import refresh_categories

    if merge_rows:
        recategorise.MERGE_ROWS = merge_rows

    lake = Lake(str(home / "lake"))
    spark = spark_session()
    dt = lake.delta(TRANSACTIONS)
    newest = max(dt.get_add_actions(flatten=True).column("partition.posted_month").to_pylist())
    recent = dt.to_pyarrow_table(columns=["user_id", "merchant_key"],
                                 filters=[("posted_month", "=", newest)])
    recent = recent.filter(pc.invert(pc.is_null(recent["merchant_key"])))
    pairs = sorted(set(zip(recent["user_id"].to_pylist(), recent["merchant_key"].to_pylist(),
                           strict=True)))
    import random

    chosen = random.Random(7).sample(pairs, n_overrides)
    now = datetime.now(UTC)
    upsert_rows(lake, CATEGORY_OVERRIDES, [
        {"user_id": u, "merchant_key": k, "category": "GENERAL_SERVICES_OTHER_GENERAL_SERVICES",
         "source": "bench", "created_at": now} for u, k in chosen])
    before = dt.version()
    start = reset_peak()
    t0 = time.perf_counter()
    months, written = refresh_categories(spark, lake, DAY)
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), "peak_mib": round(peak_mib()),
            "peak_over_start_mib": round(peak_mib() - start), "rows_changed": written,
            "months_changed": len(months), **merge_metrics(lake, TRANSACTIONS, before)}


def observations(accounts: int, days: int, last: date, with_month: bool) -> Any:
    import numpy as np
    import pyarrow as pa

    n = accounts * days
    acct = np.tile(np.arange(accounts), days)
    day = np.repeat(np.arange(days), accounts)
    dates = np.datetime64(last - timedelta(days=days - 1)) + day.astype("timedelta64[D]")
    cols: dict[str, Any] = {
        "account_id": pa.array([f"acct_{a:07d}" for a in acct]),
        "user_id": pa.array([f"u{a // 3:07d}" for a in acct]),
        "type": pa.array(np.where(acct % 3 == 2, "credit", "depository")),
        "date": pa.array(dates.astype("datetime64[D]")),
        "balance_current": pa.array(
            [int(x) for x in (acct * 37 + day * 11) % 10_000_000],
            pa.int32()).cast(pa.decimal128(18, 2)),
        "needs_review": pa.array(np.zeros(n, bool)),
        "observed_at": pa.array(dates.astype("datetime64[us]")).cast(pa.timestamp("us", "UTC")),
        "source_seq": pa.array([f"{d:05d}-accounts" for d in day]),
    }
    if with_month:
        cols["month"] = pa.array(dates.astype("datetime64[M]").astype(str))
    return pa.table(cols)


def child_observations(work: Path, accounts: int, days: int, new: bool) -> dict[str, Any]:
    from deltalake import write_deltalake
    from pyspark.sql import functions as F

    from lake import delta
    from lake.lake import Lake
    from lake.spark import spark_session
    from lake.tables import BALANCE_OBSERVATIONS as T

    lake = Lake(str(work / "lake"))
    shutil.rmtree(work / "lake", ignore_errors=True)
    history = observations(accounts, days, DAY - timedelta(days=1), with_month=new)
    write_deltalake(lake.uri(T), history, partition_by=["month"] if new else None)
    spark = spark_session()
    today = observations(accounts, 1, DAY, with_month=new)
    source = spark.createDataFrame(today.to_pandas()).withColumn(
        "source_seq", F.lit("99999-accounts")).withColumn("date", F.col("date").cast("date"))
    source = delta.pin(spark, source)
    extra = {"partitions": [f"{DAY:%Y-%m}"]} if new else {}
    start = reset_peak()
    t0 = time.perf_counter()
    n = delta.merge(spark, lake, T, source, changed="s.source_seq > t.source_seq", **extra)
    out = {"seconds": round(time.perf_counter() - t0, 2), "peak_mib": round(peak_mib()),
           "peak_over_start_mib": round(peak_mib() - start),
           "rows": n, "history_rows": history.num_rows}
    if new:  # the one-off rewrite an old lake pays on first use
        old = observations(accounts, days, DAY - timedelta(days=1), with_month=False)
        shutil.rmtree(work / "lake")
        write_deltalake(lake.uri(T), old)
        from lake.relayout import relayout

        t0 = time.perf_counter()
        relayout(lake, T)
        out["relayout_s"] = round(time.perf_counter() - t0, 2)
    return out


def run_child(code: Path, args: list[str]) -> dict[str, Any]:
    """This file run with ``code``'s packages (finlake's, old or new) on the path."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run([sys.executable, __file__, "--child", *args],
                          cwd=code, env=env, capture_output=True, text=True, check=False)
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not last:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(last[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="checkout of the previous commit")
    ap.add_argument("--dir", type=Path, help="where data is kept (default: a temp dir)")
    ap.add_argument("--users", type=int, default=1500)
    ap.add_argument("--history", type=int, default=300_000)
    ap.add_argument("--overrides", type=int, default=100)
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--days", type=int, nargs="+", default=[35, 350])
    ap.add_argument("--merge-rows", type=int, default=60_000,
                    help="a third run with this MERGE_ROWS (at 10M rows, the default 2M is "
                         "~5 of 24 months a MERGE; 60k is ~3 of 15 months here)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "recat":
            out = child_recategorise(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]))
        else:
            out = child_observations(Path(rest[0]), int(rest[1]), int(rest[2]), rest[3] == "new")
        print(json.dumps(out), flush=True)
        return
    root = args.dir or Path(tempfile.mkdtemp(prefix="history_growth_"))
    subprocess.run([sys.executable, "-m", "bench.scale_data", "--dir", str(root / "data"),
                    "--users", str(args.users), "--new", "1000", "--histories",
                    str(args.history)], check=True, cwd=HERE, stdout=subprocess.DEVNULL)
    src = root / "data" / f"h{args.history}" / "home"
    codes = {"old": args.base, "new": HERE}
    print(f"re-categorisation, {args.overrides} new merchant overrides into {args.history:,} "
          "rows of history:")
    for name, code, merge_rows in (("old", args.base, 0), ("new", HERE, 0),
                                   (f"new, MERGE_ROWS={args.merge_rows}", HERE,
                                    args.merge_rows)):
        r = run_child(code, ["recat", str(src), str(root / "recat"), str(args.overrides),
                             str(merge_rows)])
        print(f"  {name}: {r}", flush=True)
    print(f"balance observations MERGE, {args.accounts:,} accounts a day:")
    for days in args.days:
        for name, code in codes.items():
            r = run_child(code, ["obs", str(root / f"obs_{name}"), str(args.accounts),
                                 str(days), name])
            print(f"  {days} days, {name}: {r}", flush=True)


if __name__ == "__main__":
    main()
