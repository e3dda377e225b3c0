"""Benchmark: analyst queries in DuckDB over silver, through finlake's views vs DuckDB alone.

    .venv/bin/python -m bench.duck_bridge [--users 20000] [--reps 5] [--lake DIR]

Builds (or reuses) a synthetic lake with ``bench.dashboard_lake`` (``--users`` users with
1-60 months of history, ~25 transactions a month), then runs the same analyst queries over
silver ``transactions``, interleaved, in four ways:

* ``direct``: DuckDB alone, ``read_parquet`` over the table's Parquet files (the floor);
* ``view``: ``lake.duck.connect(lake)``, the identified view (``finlake sql --identified``,
  notebooks): the current Delta version's file list, typed as in the registry;
* ``de-identified``: the analyst sandbox as ``finlake sql`` runs by default
  (``lake.analyst_sql.AnalystSession``: the table de-identified into DuckDB memory when a
  query first reads it, so its open time is in the uncounted first round);
* ``arrow``: the table as a delta-rs Arrow dataset registered in DuckDB (the S3 path).

The bridge overhead is each way's time over ``direct``. Opening the lake (Delta log replay
and view registration) is timed apart from the queries. ``direct`` is only correct on a
table whose every file is live, which the bench checks (the generated table has one version).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

QUERIES = {
    "count by status": "SELECT status, count(*) FROM transactions GROUP BY 1",
    "category mix per month": (
        "SELECT posted_month, coalesce(user_category, category) AS category, "
        "sum(amount) AS amount, count(*) AS n "
        "FROM transactions WHERE status = 'live' AND NOT pending GROUP BY 1, 2"),
    "merchant leaderboard": (
        "SELECT merchant_key, count(DISTINCT user_id) AS users, sum(amount) AS amount "
        "FROM transactions WHERE status = 'live' GROUP BY 1 ORDER BY users DESC LIMIT 20"),
    "one month, active users": (
        "SELECT count(DISTINCT user_id) FROM transactions WHERE posted_month = "
        "(SELECT max(posted_month) FROM transactions)"),
}


def _build_lake(users: int, path: Path | None) -> Path:
    import subprocess
    import sys

    out = path or Path(f"/tmp/finlake-dashboard-lake-{users}u-25t")
    if not (out / "dashboard_lake.json").exists():
        print(f"building a {users:,}-user lake in {out} (bench.dashboard_lake)", flush=True)
        subprocess.run([sys.executable, "-m", "bench.dashboard_lake", "--out", str(out),
                        "--users", str(users)], check=True)
    return out


def _connections(lake, files: list[str], key: str) -> dict:  # noqa: ANN001
    """Each way's query runner (SQL -> rows), with the seconds it took to open."""
    from lake.analyst_sql import AnalystSession
    from lake.duck import connect, new_connection
    from lake.tables import TRANSACTIONS

    out = {}
    t = time.perf_counter()
    con = new_connection()
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE VIEW transactions AS SELECT * FROM read_parquet([{listed}], "
                "hive_partitioning = true)")
    out["direct"] = (_runner(con), time.perf_counter() - t)
    t = time.perf_counter()
    out["view"] = (_runner(connect(lake)), time.perf_counter() - t)
    t = time.perf_counter()
    session = AnalystSession(lake, key)
    out["de-identified"] = (lambda sql: session.run(sql)[2], time.perf_counter() - t)
    t = time.perf_counter()
    con = new_connection()
    con.register("transactions", lake.delta(TRANSACTIONS).to_pyarrow_dataset())
    out["arrow"] = (_runner(con), time.perf_counter() - t)
    return out


def _runner(con):  # noqa: ANN001, ANN202
    return lambda sql: con.execute(sql).fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--lake", type=Path, default=None, help="a bench.dashboard_lake directory")
    args = ap.parse_args()

    import pyarrow as pa

    from lake.lake import Lake
    from lake.tables import TRANSACTIONS

    home = _build_lake(args.users, args.lake)
    lake = Lake(str(home / "lake"))
    dt = lake.delta(TRANSACTIONS)
    files = dt.file_uris()
    on_disk = sorted(str(p) for p in Path(lake.uri(TRANSACTIONS)).rglob("*.parquet")
                     if "_delta_log" not in p.parts)
    if sorted(files) != on_disk:
        raise SystemExit("the table has files that are not live (rewrites, removes): "
                         "'direct' would read them too; use a freshly generated lake")
    rows = sum(pa.table(dt.get_add_actions(flatten=True)).column("num_records").to_pylist())
    size = sum(Path(f).stat().st_size for f in files)
    print(f"silver transactions: {rows:,} rows, {len(files)} files, {size / 2**30:.2f} GiB, "
          f"Delta version {dt.version()}", flush=True)

    cons = _connections(lake, files, key="bench-pseudonym-key-" + "x" * 24)
    ways = list(cons)
    for way, (_con, secs) in cons.items():
        print(f"  open {way:<14} {secs * 1000:8.1f} ms", flush=True)

    results: dict[str, dict[str, list[float]]] = {q: {w: [] for w in ways} for q in QUERIES}
    answers: dict[str, dict[str, object]] = {q: {} for q in QUERIES}
    for rep in range(args.reps + 1):  # the first round warms caches and is not counted
        for q, sql in QUERIES.items():
            for way in ways:
                run = cons[way][0]
                t = time.perf_counter()
                got = run(sql)
                secs = time.perf_counter() - t
                if rep:
                    results[q][way].append(secs)
                if way != "de-identified" and q != "merchant leaderboard":
                    answers[q][way] = sorted(map(str, got))
        print(f"  round {rep}/{args.reps} done", flush=True)
    for q, by_way in answers.items():
        if len({json.dumps(v) for v in by_way.values()}) > 1:
            raise SystemExit(f"ways disagree on {q!r}")

    print(f"\nmedian of {args.reps} (ms) and rows/s; ratio = time / direct")
    print(f"{'query':<26}" + "".join(f"{w:>22}" for w in ways))
    summary = {}
    for q in QUERIES:
        base = statistics.median(results[q]["direct"])
        cells = []
        for w in ways:
            med = statistics.median(results[q][w])
            summary.setdefault(q, {})[w] = {"ms": round(med * 1000, 1),
                                             "rows_per_s": round(rows / med),
                                             "ratio": round(med / base, 2)}
            cells.append(f"{med * 1000:8.1f} {rows / med / 1e6:6.1f}M/s x{med / base:4.2f}")
        print(f"{q:<26}" + "".join(f"{c:>22}" for c in cells))
    print(json.dumps({"rows": rows, "files": len(files), "bytes": size,
                      "machine": f"{platform.machine()}, {platform.python_version()}",
                      "open_ms": {w: round(s * 1000, 1) for w, (_c, s) in cons.items()},
                      "queries": summary}))


if __name__ == "__main__":
    main()
