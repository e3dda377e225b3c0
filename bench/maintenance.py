"""Benchmark: Delta maintenance after a year of nightlies (issue 9).

    .venv/bin/python -m bench.maintenance [--nights 365] [--per-night 2000] [--users 2000]

Simulates ``--nights`` nightly commits the way the pipeline makes them: a Sail ``MERGE
INTO`` silver ``transactions`` (partitioned by ``posted_month``) per night with the night's
new transactions and the previous night's pending ones posted (an update), four delta-rs
appends to ``audit_log`` (partitioned by day) and a delta-rs MERGE into ``logins``. Then,
BEFORE maintenance, AFTER compaction + checkpoint (``lake.maintenance``, default policy),
it times:

* opening each table (delta-rs: log replay to the current version, file list);
* the analyst's path: ``lake.duck.connect`` (opens every table, registers views) and a
  query on a fresh connection, then the same query again (Parquet footers cached);
* a Sail read of the same aggregate, and ``finlake sql``'s audit-log example;

and prints the ratios. Layout evidence: copies of the year-old table compacted at several
target sizes, with files per partition, the compaction's time and the same queries; and a
week of nightlies after maintenance with what the daily and the full pass then do.

Every comparison is measured on copies of the lake side by side, interleaved repetition by
repetition (A B A B ...: load from other processes hits both alike); medians are printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

START = date(2025, 1, 1)
MERCHANTS = [("KROGER", "FOOD_AND_DRINK_GROCERIES"), ("STARBUCKS", "FOOD_AND_DRINK_COFFEE"),
             ("SHELL", "TRANSPORTATION_GAS"), ("AMAZON", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
             ("UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"), ("TARGET",
                                                                "GENERAL_MERCHANDISE_SUPERSTORES")]
ANALYST_SQL = ("SELECT posted_month, category, sum(amount) AS spend, count(*) AS n "
               "FROM transactions WHERE status = 'live' AND NOT pending "
               "AND posted_month >= '{since}' GROUP BY 1, 2 ORDER BY 1, 2")
USER_SQL = ("SELECT posted_date, merchant, amount FROM transactions "
            "WHERE user_id = 'user_7' AND posted_month = '{month}' ORDER BY 1")
AUDIT_SQL = "SELECT action, count(*) FROM audit_log GROUP BY 1 ORDER BY 1"


def say(line: str) -> None:
    print(line, flush=True)


Probe = tuple[str, Callable[[Any], Any]]


def probes(spark: Any, newest: str, since: str, small_tables: bool = True) -> list[Probe]:
    """The reads a maintenance pass should speed up, each a function of the lake."""
    from deltalake import DeltaTable
    from pyspark.sql import functions as F

    from lake.duck import connect
    from lake.tables import AUDIT_LOG, LOGINS, TRANSACTIONS

    analyst, user = ANALYST_SQL.format(since=since), USER_SQL.format(month=newest)
    warm: dict[str, Any] = {}

    def cold(lake: Any, sql: str) -> None:
        con = connect(lake)
        con.execute(sql).fetchall()
        con.close()

    def hot(lake: Any, sql: str) -> None:
        if lake.root not in warm:
            warm[lake.root] = connect(lake)
        warm[lake.root].execute(sql).fetchall()

    def sail(lake: Any) -> None:
        (spark.read.format("delta").load(lake.uri(TRANSACTIONS))
         .where((F.col("status") == "live") & ~F.col("pending") & (F.col("posted_month") >= since))
         .groupBy("posted_month", "category").agg(F.sum("amount"), F.count("*")).collect())

    def opener(t: Any) -> Callable[[Any], Any]:
        return lambda lake: DeltaTable(lake.uri(t)).file_uris()

    out: list[Probe] = [(f"open {t.name}", opener(t)) for t in (
        (TRANSACTIONS, AUDIT_LOG, LOGINS) if small_tables else (TRANSACTIONS,))]
    out += [("duckdb connect (every table)", lambda lake: connect(lake).close()),
            ("duckdb analyst query, new connection", lambda lake: cold(lake, analyst)),
            ("duckdb one user's month, new connection", lambda lake: cold(lake, user)),
            ("duckdb analyst query, warm", lambda lake: hot(lake, analyst))]
    if small_tables:
        out += [("duckdb audit_log by action, new connection", lambda lake: cold(lake, AUDIT_SQL)),
                ("duckdb audit_log by action, warm", lambda lake: hot(lake, AUDIT_SQL))]
    out += [("sail analyst query", sail),
            ("sail count(*)", lambda lake: spark.read.format("delta").load(
                lake.uri(TRANSACTIONS)).count())]
    return out


def measure(lakes: dict[str, Any], checks: list[Probe], reps: int) -> dict[str, dict[str, float]]:
    """Median ms of every probe on every lake, interleaved: one warm-up run each, then
    ``reps`` rounds, each round timing every lake in turn (the order rotates)."""
    labels = list(lakes)
    out: dict[str, dict[str, float]] = {label: {} for label in labels}
    for name, fn in checks:
        for label in labels:
            fn(lakes[label])
        samples: dict[str, list[float]] = {label: [] for label in labels}
        for rep in range(reps):
            for label in labels[rep % len(labels):] + labels[:rep % len(labels)]:
                t0 = time.perf_counter()
                fn(lakes[label])
                samples[label].append(time.perf_counter() - t0)
        for label in labels:
            out[label][name] = round(statistics.median(samples[label]) * 1000, 1)
    return out


def compare(before: dict[str, float], after: dict[str, float], prefix: str = "") -> dict:
    rows = {}
    for k in before:
        rows[k] = {"before_ms": before[k], "after_ms": after[k],
                   "before/after": round(before[k] / after[k], 2) if after[k] else None}
        say(f"  {prefix}{k:<45} {before[k]:>9.1f} ms -> {after[k]:>8.1f} ms  "
            f"x{rows[k]['before/after']}")
    return rows


def copy_lake(src: Path, dst: Path) -> Any:
    from lake.lake import Lake

    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return Lake(str(dst))


def night_source(spark: Any, night: int, day: date, per_night: int, users: int) -> Any:
    """The night's new transactions plus the previous night's pending ones, now posted."""
    from pyspark.sql import functions as F

    from lake.tables import TRANSACTIONS

    def rows(n: int, d: date, count: int, posted: bool) -> Any:
        ids = spark.range(count)
        if posted:
            ids = ids.where(F.col("id") % 10 == 0)
        k = (F.abs(F.hash("id", F.lit(n))) % len(MERCHANTS) + 1).cast("int")
        who = (F.col("id") * 7919 + n) % users
        key = F.concat(F.lit(f"n{n}_"), F.col("id").cast("string"))
        seq = night if posted else n
        noise = F.abs(F.hash("id", F.lit(n), F.lit(11)))
        cols = {
            "txn_id": F.sha2(key, 256).substr(1, 32),  # ids are random: they do not compress
            "user_id": F.concat(F.lit("user_"), who.cast("string")),
            "item_id": F.concat(F.lit("item_"), who.cast("string")),
            "account_id": F.concat(F.lit("acct_"), who.cast("string")),
            "partner_txn_id": F.concat(key, F.lit("_"), F.sha2(key, 224).substr(1, 24)),
            "pending": F.lit(False) if posted else F.col("id") % 10 == 0,
            "amount": ((F.abs(F.hash("id", F.lit(n))) % 20000 + (7 if posted else 0)) / 100),
            "currency": F.lit("USD"),
            "posted_date": F.lit(d.isoformat()).cast("date"),
            "authorized_date": F.lit(d.isoformat()).cast("date"),
            "description": F.concat(F.lit("POS "), F.element_at(
                F.array(*[F.lit(m) for m, _ in MERCHANTS]), k), F.lit(" #"),
                (noise % 99991).cast("string"), F.lit(" CARD "), (noise % 9973).cast("string")),
            "merchant": F.element_at(F.array(*[F.lit(m) for m, _ in MERCHANTS]), k),
            "merchant_key": F.lower(F.element_at(F.array(*[F.lit(m) for m, _ in MERCHANTS]), k)),
            "category": F.element_at(F.array(*[F.lit(c) for _, c in MERCHANTS]), k),
            "category_source": F.lit("rule"),
            "category_confidence": (noise % 1000) / 1000,
            "status": F.lit("live"),
            "partner_duplicate": F.lit(False),
            "source_seq": F.lit(f"{seq:06d}"),
            "content_seq": F.lit(f"{seq:06d}"),
            "raw_ref": F.lit(f"raw/transactions_sync/sync_date={day}/page-{seq}.json"),
            "sync_date": F.lit(day.isoformat()).cast("date"),
            "updated_at": (F.lit(f"{day}T03:00:00Z").cast("timestamp").cast("long")
                           + noise % 3600).cast("timestamp"),
            "posted_month": F.lit(d.isoformat()[:7]),
        }
        return ids.select(*[cols.get(c, F.lit(None)).cast(typ).alias(c)
                            for c, typ in TRANSACTIONS.columns])

    new = rows(night, day, per_night, posted=False)
    if night == 0:
        return new
    return new.unionByName(rows(night - 1, day - timedelta(days=1), per_night, posted=True))


def audit_batch(night: int, day: date, flush: int, n: int = 10) -> list[dict[str, Any]]:
    at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC) + timedelta(hours=flush)
    actions = ("decrypt_credential", "sign_in", "override_merchant", "export")
    return [{"audit_id": f"{night}_{flush}_{i}", "occurred_at": at, "actor": "pipeline:nightly",
             "action": actions[(i + flush) % len(actions)], "subject": f"s_{i}",
             "detail": json.dumps({"count": i}), "day": day} for i in range(n)]


def login_rows(night: int, logins: int) -> list[dict[str, Any]]:
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=night)
    which = range(logins) if night == 0 else sorted({night % logins, (night * 7) % logins})
    return [{"login": f"login_{i}", "user_id": f"user_{i}", "role": "user",
             "password_hash": f"$argon2id$v=19$night{night}", "created_at": at,
             "disabled": False} for i in which]


def simulate(spark: Any, lake: Any, nights: int, per_night: int, users: int,
             first_night: int = 0) -> float:
    """Write ``nights`` nightlies starting at ``first_night``; returns the seconds taken."""
    from lake.delta import merge
    from lake.small_tables import append_rows, upsert_rows
    from lake.tables import AUDIT_LOG, LOGINS, TRANSACTIONS

    t0 = time.perf_counter()
    for night in range(first_night, first_night + nights):
        day = START + timedelta(days=night)
        months = sorted({day.isoformat()[:7], (day - timedelta(days=1)).isoformat()[:7]})
        merge(spark, lake, TRANSACTIONS, night_source(spark, night, day, per_night, users),
              partitions=months)
        for flush in range(4):
            append_rows(lake, AUDIT_LOG, audit_batch(night, day, flush))
        upsert_rows(lake, LOGINS, login_rows(night, 300))
        done = night - first_night + 1
        if done % 30 == 0 or done == nights:
            rate = (time.perf_counter() - t0) / done
            say(f"  night {done}/{nights} ({day}): {rate:.2f} s/night")
    return time.perf_counter() - t0


def table_stats(lake: Any, t: Any) -> dict[str, Any]:
    from lake.maintenance import DEFAULT_TARGET_SIZE, layout

    lay = layout(lake.delta(t), DEFAULT_TARGET_SIZE)
    per = sorted(lay.files_per_partition.values())
    logs = [k for k in lake.store.list(f"{t.key}/_delta_log/") if k.rsplit("/", 1)[-1][:1]
            .isdigit()]
    return {"version": lay.version, "files": lay.files, "mib": round(lay.bytes / 2**20, 1),
            "partitions": len(per), "files_per_partition_median": statistics.median(per),
            "files_per_partition_max": per[-1],
            "log_json": sum(k.endswith(".json") for k in logs),
            "checkpoints": sum(".checkpoint" in k for k in logs)}


def layout_evidence(spark: Any, before: Path, work: Path, targets_mib: list[float],
                    reps: int, newest: str, since: str) -> list[dict[str, Any]]:
    """Copies of the year-old transactions table, compacted at each target size."""
    from lake.lake import Lake
    from lake.maintenance import Policy, maintain_table
    from lake.tables import TRANSACTIONS

    lakes, rows = {}, {}
    for target in [0.0, *targets_mib]:
        label = f"{target:g} MiB" if target else "as written"
        root = work / f"layout_{target:g}"
        copy_lake(before / TRANSACTIONS.key, root / TRANSACTIONS.key)
        lake = Lake(str(root))
        seconds = 0.0
        if target:
            seconds = maintain_table(lake, TRANSACTIONS, Policy(
                target_size=int(target * 2**20))).seconds["compact"]
        st = table_stats(lake, TRANSACTIONS)
        lakes[label] = lake
        rows[label] = {"target": label, "compact_s": round(seconds, 2), "files": st["files"],
                       "files_per_partition": st["files_per_partition_median"],
                       "mib_per_file": round(st["mib"] / max(st["files"], 1), 2)}
        say(f"  {label}: {st['files']} files ({st['files_per_partition_median']} per "
            f"partition, {rows[label]['mib_per_file']} MiB each), compaction {seconds:.2f}s")
    timings = measure(lakes, probes(spark, newest, since, small_tables=False), reps)
    for label, row in rows.items():
        row.update(timings[label])
        say(f"  {label:<11} files/partition {row['files_per_partition']:>5}: " + ", ".join(
            f"{k} {v}" for k, v in timings[label].items()))
    return list(rows.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nights", type=int, default=365)
    p.add_argument("--per-night", type=int, default=2000, help="new transactions a night")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--week", type=int, default=7, help="nightlies after maintenance")
    p.add_argument("--targets", type=float, nargs="*", default=[0.25, 0.5, 1, 2, 4, 16, 128],
                   help="target file sizes (MiB) for the layout evidence")
    p.add_argument("--out", type=Path, default=None, help="work directory to keep")
    args = p.parse_args()

    from lake.lake import Lake
    from lake.maintenance import DAILY_MIN_SMALL_FILES, Policy, maintain_table
    from lake.spark import spark_session
    from lake.tables import AUDIT_LOG, LOGINS, TRANSACTIONS

    work = args.out or Path(tempfile.mkdtemp(prefix="finlake-maintenance-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lake = Lake(str(work / "lake"))
    spark = spark_session()
    say(f"machine: {platform.machine()}, Python {platform.python_version()}; work dir {work}")
    say(f"simulating {args.nights} nightlies ({args.per_night} new transactions + the previous "
        "night's pending posted, one Sail MERGE; 4 audit_log appends; 1 logins MERGE)")
    sim_s = simulate(spark, lake, args.nights, args.per_night, args.users)
    last = START + timedelta(days=args.nights - 1)
    newest = last.isoformat()[:7]
    since = (last - timedelta(days=90)).isoformat()[:7]
    tables = (TRANSACTIONS, AUDIT_LOG, LOGINS)
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                              "simulate_s": round(sim_s, 1)}
    before = copy_lake(work / "lake", work / "before")
    result["before_stats"] = {t.name: table_stats(lake, t) for t in tables}

    say("maintenance (default policy: compaction + vacuum + checkpoint)")
    reports = {t.name: maintain_table(lake, t, Policy()) for t in tables}
    for r in reports.values():
        say(f"  {r.line()}")
    result["maintenance"] = {n: {"compact_s": round(r.seconds["compact"], 2),
                                 "vacuum_s": round(r.seconds["vacuum"], 3),
                                 "checkpoint_s": round(r.seconds["checkpoint"], 3),
                                 "files": f"{r.files_before} -> {r.files_after}",
                                 "bytes": f"{r.bytes_before} -> {r.bytes_after}"}
                             for n, r in reports.items()}
    result["after_stats"] = {t.name: table_stats(lake, t) for t in tables}
    for t in tables:
        say(f"  {t.name}: before {result['before_stats'][t.name]}")
        say(f"  {t.name}: after  {result['after_stats'][t.name]}")
    say(f"measuring BEFORE vs AFTER (interleaved, median of {args.reps})")
    m = measure({"before": before, "after": lake}, probes(spark, newest, since), args.reps)
    result["queries"] = compare(m["before"], m["after"])

    say(f"a week later: {args.week} more nightlies, then the daily and the full pass")
    simulate(spark, lake, args.week, args.per_night, args.users, first_night=args.nights)
    week_lake = copy_lake(work / "lake", work / "week")
    result["week_stats"] = table_stats(lake, TRANSACTIONS)
    say(f"  after the week: {result['week_stats']}")
    daily = maintain_table(lake, TRANSACTIONS, Policy(min_small_files=DAILY_MIN_SMALL_FILES,
                                                      dry_run=True))
    full = maintain_table(lake, TRANSACTIONS, Policy())
    say(f"  daily pass (>= {DAILY_MIN_SMALL_FILES} small files) would compact "
        f"{daily.partitions_compacted}/{daily.partitions} partition(s) "
        f"({daily.files_compacted} files)")
    say(f"  full pass: {full.line()}")
    result["week"] = {"daily_would_compact": f"{daily.partitions_compacted}/{daily.partitions}",
                      "full_compacted": f"{full.partitions_compacted}/{full.partitions}",
                      "full_files": f"{full.files_before} -> {full.files_after}",
                      "full_compact_s": round(full.seconds["compact"], 2)}
    m = measure({"week": week_lake, "after": lake},
                probes(spark, newest=(last + timedelta(days=args.week)).isoformat()[:7],
                       since=since, small_tables=False), args.reps)
    result["week_queries"] = compare(m["week"], m["after"], prefix="week: ")

    say("layout evidence: the year-old table compacted at each target size")
    result["layout"] = layout_evidence(spark, work / "before", work, args.targets, args.reps,
                                       newest, since)
    print(json.dumps(result, indent=1, default=str))
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
