"""Benchmark: the nightly compute of one day (1M new transactions) against silver histories of
10M and 100M rows, side by side: does the night grow with the day or with history?

    .venv/bin/python -m bench.nightly_scale [--users 25000] [--new 1000000]
        [--histories 10000000 100000000] [--dir DIR | --keep DIR] [--no-replay] [--json]

Data: ``bench/scale_data.py`` (same options; reused when ``DIR`` already holds it): one lake
per history size, the same newest months in each, and the same raw day landed in each the way
the partner sync lands it. Without ``--dir``/``--keep`` a temporary directory under /tmp is
used and deleted at the end; ``--keep DIR`` keeps the data (a later run resets the lakes to
their generated versions with delta-rs ``restore`` and runs again).

Each history runs in its own process (both start cold: imports, Sail, Great Expectations):
the real Dagster ``replay`` job (``finlake nightly --date D --replay``: every nightly asset
after the partner sync: silver_transactions, gold_spend, net_worth, recurring_payments,
alert_outbox, and their blocking checks) materialises the day's partition in-process. The
pipeline functions the assets call are wrapped with timers (module attributes replaced in the
bench process, no code changed), so each step reports its wall time, the day's records per
second, and its peak memory: the process's ``VmHWM`` (Sail runs in-process), reset before
each step through ``/proc/self/clear_refs``. Then the same job runs again on the merged day
(a replay): its time, and which Delta tables got a new version. Last, the MERGE's key
lookup (``pipelines/silver/merge.py`` ``place_in_months``) is timed alone: the day's keys joined
with every key of silver, against the same join pruned to the months the day touches.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from bench import scale_data

# ---- Per-step timing and memory (child process) ---------------------------------------------


def peak_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


class Steps:
    """Nested step timings; each step's peak memory includes the steps inside it."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.stack: list[dict[str, Any]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        if self.stack:
            self.stack[-1]["peak"] = max(self.stack[-1]["peak"], peak_kib())
        path = " > ".join([*(f["name"] for f in self.stack), name])
        frame = {"name": name, "path": path, "depth": len(self.stack), "peak": 0}
        self.records.append(frame)
        reset_peak()
        self.stack.append(frame)
        t0 = time.perf_counter()
        try:
            yield frame
        finally:
            frame["seconds"] = time.perf_counter() - t0
            frame["peak"] = max(frame["peak"], peak_kib())
            self.stack.pop()
            if self.stack:
                self.stack[-1]["peak"] = max(self.stack[-1]["peak"], frame["peak"])
            if frame["depth"] <= 1:
                print(f"    {'  ' * frame['depth']}{name}: {frame['seconds']:.1f}s, peak "
                      f"{frame['peak'] / 1024:,.0f} MiB", flush=True)

    def summary(self) -> list[dict[str, Any]]:
        """Per step path, in first-seen order: total seconds, calls, peak MiB."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            s = out.setdefault(r["path"], {"path": r["path"], "name": r["name"],
                                           "depth": r["depth"], "seconds": 0.0, "calls": 0,
                                           "peak_mib": 0.0})
            s["seconds"] += r.get("seconds", 0.0)
            s["calls"] += 1
            s["peak_mib"] = max(s["peak_mib"], r["peak"] / 1024)
        return list(out.values())


STEPS = Steps()


def timed(module: Any, attr: str, label: str | Callable[..., str]) -> None:
    """Replace ``module.attr`` with a timed wrapper (callers look the name up at call time)."""
    fn = getattr(module, attr)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        name = label(*args, **kwargs) if callable(label) else label
        with STEPS.step(name):
            return fn(*args, **kwargs)

    setattr(module, attr, wrapper)


def instrument() -> None:
    """Time the pipeline functions the nightly assets and checks call."""
    import pipelines.categories.refresh as categories
    import pipelines.corrections.recategorise as recat
    import pipelines.gold.refresh as gold
    import pipelines.health.alerts as alerts
    import pipelines.silver.refresh as silver
    import pipelines.wealth.refresh as wealth

    def suite(_lake: Any, name: str, *_a: Any, **_k: Any) -> str:
        return f"audit {name}"

    def table(_spark: Any, _lake: Any, t: Any, *_a: Any, **_k: Any) -> str:
        return f"publish {t.name}"

    for module, attr, label in [
        (categories, "seed_reference", "seed reference tables"),
        (silver, "merge_partition", "silver: merge_partition"),
        (silver, "stage_landed_pages", "raw contract + staging (intake)"),
        (silver, "audit_before_publish", suite),
        (silver, "categorised_day", "normalise + categorise the distinct pairs"),
        (silver, "place_in_months", "place_in_months (normalise, categorise, key lookup, stage)"),
        (silver, "stage_frame", "stage silver rows (computes the rows)"),
        (silver, "log_changes", "log gold cells"),
        (silver, "merge_transactions", "silver MERGE"),
        (silver, "apply_supersession", "supersession (pending -> posted)"),
        (silver, "merge_accounts", "accounts + balance observations"),
        (silver, "reconcile", "raw-silver reconciliation"),
        (silver, "discard", "discard staging"),
        (recat, "refresh_categories", "re-categorise (overrides, rules, model)"),
        (gold, "refresh_gold", "gold: spend, trends, unusual, budgets"),
        (gold, "publish", table),
        (gold, "audit_before_publish", suite),
        (gold, "refresh_budgets", "budgets"),  # the per-month loop before one pass
        (gold, "publish_budgets", "budgets"),
        (wealth, "refresh_net_worth", "gold: net worth"),
        (wealth, "refresh_recurring", "gold: recurring payments"),
        (alerts, "deliver", "alert delivery"),
        (gold, "reconcile_cells", "check: gold reconciles with silver"),
    ]:
        if hasattr(module, attr):  # the code measured may predate a step (side by side)
            timed(module, attr, label)


SPARK_CALLS = {"n": 0}


def count_spark_calls() -> None:
    """Count Spark Connect requests (executions and plan analyses) the process sends."""
    from pyspark.sql.connect.client.core import SparkConnectClient

    for attr in ("_execute_plan_request_with_metadata", "_analyze_plan_request_with_metadata"):
        fn = getattr(SparkConnectClient, attr)

        def counted(*args: Any, _fn: Any = fn, **kwargs: Any) -> Any:
            SPARK_CALLS["n"] += 1
            return _fn(*args, **kwargs)

        setattr(SparkConnectClient, attr, counted)


# ---- One history, in its own process ----------------------------------------------------------


def table_versions(lake: Any) -> dict[str, int]:
    return {t.name: lake.delta(t).version() for t in lake.tables()}


def key_lookup(spark: Any, lake: Any, day: date, months: list[str]) -> dict[str, Any]:
    """``place_in_months``'s lookup alone: the day's keys left-joined with silver's keys, over all
    months and pruned to the months the day touches."""
    from pyspark.sql import functions as F

    from lake.delta import read_table
    from lake.tables import TRANSACTIONS
    from pipelines.silver.merge import KEYS

    silver = read_table(spark, lake, TRANSACTIONS)
    uri = lake.store.uri("_staging/bench_keys")
    silver.filter(F.col("sync_date") == F.lit(day).cast("date")).select(*KEYS) \
        .write.mode("overwrite").parquet(uri)
    batch = spark.read.parquet(uri)
    out: dict[str, Any] = {"batch_keys": batch.count()}
    for name, current in (("all_months", silver),
                          ("touched_months", silver.filter(F.col("posted_month").isin(months)))):
        current = current.select(*KEYS, F.col("posted_month").alias("_current_month"))
        t0 = time.perf_counter()
        found = batch.join(current, KEYS, "left").filter(
            F.col("_current_month").isNotNull()).count()
        out[name] = {"seconds": round(time.perf_counter() - t0, 2), "found": found}
    shutil.rmtree(uri, ignore_errors=True)
    return out


def run_history(home: Path, day: date, replay: bool) -> dict[str, Any]:
    """Materialise the day's partition with the replay job (then again, as a replay)."""
    os.environ["FINLAKE_HOME"] = str(home)
    from core.settings import load_settings
    from finlake.definitions import defs
    from finlake.runner import prepare_instance, run_partition
    from lake.lake import Lake
    from lake.spark import spark_session

    settings = load_settings()
    instance = prepare_instance(settings)
    definitions = defs()
    lake = Lake(settings.lake_root)
    instrument()
    count_spark_calls()
    out: dict[str, Any] = {}
    for attempt in ("nightly", "replay") if replay else ("nightly",):
        before = table_versions(lake)
        STEPS.records.clear()
        SPARK_CALLS["n"] = 0
        print(f"  {attempt}:", flush=True)
        reset_peak()
        run = run_partition(definitions, instance, "replay", day.isoformat())
        after = table_versions(lake)
        out[attempt] = {
            "success": run.success, "error": run.error, "seconds": round(run.seconds, 1),
            "peak_mib": round(max([peak_kib() / 1024]
                                  + [r["peak_mib"] for r in STEPS.summary()])),
            "dagster_steps": {k: round(v, 1) for k, v in run.steps.items()},
            "checks": run.checks, "steps": STEPS.summary(),
            "silver": {k: v for k, v in run.metadata.get("silver_transactions", {}).items()
                       if k in ("pages", "changes", "quarantined", "rows_affected",
                                "recategorised", "months")},
            "new_versions": {t: after[t] - before.get(t, -1) for t in after
                             if after[t] != before.get(t)},
            "spark_calls": SPARK_CALLS["n"],
        }
        print(f"  {attempt}: {'ok' if run.success else 'FAILED'} in {run.seconds:.1f}s "
              f"(Dagster steps: {out[attempt]['dagster_steps']}); "
              f"tables with a new version: {out[attempt]['new_versions'] or 'none'}"
              + (f"\n  error: {run.error}" if run.error else ""), flush=True)
        if not run.success:
            break
    months = str(out["nightly"]["silver"].get("months", "")).split(", ")
    if out["nightly"]["success"]:
        out["key_lookup"] = key_lookup(spark_session(), lake, day, months)
        print(f"  place_in_months key lookup alone: {out['key_lookup']}", flush=True)
    return out


# ---- The parent: data, both histories, the side-by-side report ------------------------------


def reset_lake(home: Path, facts: dict[str, Any]) -> None:
    """Put a lake back to its generated state (a previous run of this bench merged the day)."""
    from deltalake import DeltaTable

    lake = home / "lake"
    versions = facts["versions"]
    for layer in (lake / "tables").iterdir():
        for table in layer.iterdir():
            if table.name not in versions:
                shutil.rmtree(table)
                continue
            dt = DeltaTable(str(table))
            if dt.version() != versions[table.name]:
                dt.restore(versions[table.name])
    for sub in ("_staging", "quality", "state/transaction_overrides.json"):
        path = lake / sub
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    (lake / "state/categorisation.json").write_text(json.dumps(facts["categorisation_state"]))


def mib(x: float) -> str:
    return f"{x:,.0f}"


def report(results: dict[int, dict[str, Any]], records: int) -> list[str]:
    """Side-by-side step table (markdown) with the ratio largest/smallest history."""
    sizes = sorted(results)
    lo, hi = sizes[0], sizes[-1]
    lines = []
    for attempt in ("nightly", "replay"):
        if not all(attempt in results[h] for h in sizes):
            continue
        runs = {h: results[h][attempt] for h in sizes}
        head = "| step | " + " | ".join(f"{h / 1e6:g}M: s | rows/s | peak MiB" for h in sizes)
        lines += [f"\n{attempt} ({records:,} raw records of the day)\n", head
                  + f" | ratio {hi / 1e6:g}M/{lo / 1e6:g}M |",
                  "|---" * (2 + 3 * len(sizes)) + "|"]
        order: list[str] = []
        by: dict[int, dict[str, dict[str, Any]]] = {}
        for h in sizes:
            by[h] = {s["path"]: s for s in runs[h]["steps"]}
            order += [p for p in by[h] if p not in order]
        for path in order:
            name = by[lo].get(path, by[hi].get(path, {"name": path, "depth": 0}))
            cells = []
            for h in sizes:
                s = by[h].get(path)
                cells.append(" | | " if s is None else
                             f"{s['seconds']:.1f} | {records / max(s['seconds'], 1e-9):,.0f} | "
                             f"{mib(s['peak_mib'])}")
            a, b = by[lo].get(path), by[hi].get(path)
            ratio = f"{b['seconds'] / a['seconds']:.2f}" if a and b and a["seconds"] > 0.05 \
                else ""
            indent = "&nbsp;&nbsp;" * name["depth"]
            lines.append(f"| {indent}{name['name']} | " + " | ".join(cells) + f" | {ratio} |")
        totals = [f"**{runs[h]['seconds']:.1f}** | {records / runs[h]['seconds']:,.0f} | "
                  f"{mib(runs[h]['peak_mib'])}" for h in sizes]
        lines.append("| **whole job (Dagster, in-process)** | " + " | ".join(totals)
                     + f" | **{runs[hi]['seconds'] / runs[lo]['seconds']:.2f}** |")
    return lines


def summary_json(results: dict[int, dict[str, Any]], records: int) -> dict[str, Any]:
    """The ``--json`` line: ``{"histories": {"<history rows>": {...}}}``."""
    out = {}
    for h, res in sorted(results.items()):
        night, replay = res["nightly"], res.get("replay") or {}
        out[str(h)] = {
            "nightly_s": night["seconds"], "replay_s": replay.get("seconds"),
            "rows_per_s": round(records / night["seconds"]) if night["seconds"] else None,
            "peak_mib": night["peak_mib"],
            "delta_commits": sum(night["new_versions"].values()),
            "spark_calls": night["spark_calls"],
            "replay_delta_commits": sum((replay.get("new_versions") or {}).values()),
            "replay_spark_calls": replay.get("spark_calls"),
            "success": night["success"] and replay.get("success", True),
            "steps": {s["path"]: round(s["seconds"], 2) for s in night["steps"]},
            "replay_steps": {s["path"]: round(s["seconds"], 2)
                             for s in replay.get("steps", [])},
        }
    return {"histories": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--dir", type=Path, help="work directory, deleted at the end")
    where.add_argument("--keep", type=Path, help="work directory, kept (data reused next time)")
    ap.add_argument("--no-replay", action="store_true", help="skip the second (replay) run")
    ap.add_argument("--json", action="store_true",
                    help="end with one line of JSON: per history the night's and the replay's "
                         "seconds, rows/s, peak MiB, Delta commits, Spark calls and steps")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    scale_data.add_arguments(ap)
    args = ap.parse_args()
    day = date.fromisoformat(args.day)
    if args.child:
        result = run_history(args.child, day, replay=not args.no_replay)
        args.out.write_text(json.dumps(result, default=str))
        return

    root = args.keep or args.dir or Path(tempfile.mkdtemp(prefix="finlake-nightly-scale-",
                                                          dir="/tmp"))
    spec = scale_data.spec_from_args(args)
    started = time.perf_counter()
    try:
        t = time.perf_counter()
        info = scale_data.ensure(root, spec)
        generated = time.perf_counter() - t
        results: dict[int, dict[str, Any]] = {}
        for h in spec.histories:
            facts = info["lakes"][str(h)]
            home = Path(facts["home"])
            reset_lake(home, facts)
            print(f"\n[{h:,}-row history] {facts['silver_rows']:,} silver rows, "
                  f"{facts['months']} months", flush=True)
            out = root / f"result-{h}.json"
            # The child is this file, run with the product code the parent imported (a
            # side-by-side run measures an older checkout with this bench: PYTHONPATH).
            code_root = str(Path(scale_data.__file__).resolve().parents[1])
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [code_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(home),
                            "--out", str(out), "--day", args.day,
                            *(["--no-replay"] if args.no_replay else [])], check=True,
                           env=env)
            results[h] = json.loads(out.read_text())
        raw = info["raw_day"]
        print(f"\nraw day: {raw['records']:,} records ({raw['added']:,} added, "
              f"{raw['modified']:,} modified, {raw['removed']:,} removed) in {raw['items']:,} "
              f"item updates, {raw['pages']:,} pages; data generated or reused in "
              f"{generated:.0f}s")
        for h in spec.histories:
            f = info["lakes"][str(h)]
            print(f"history {h:,}: {f['silver_rows']:,} silver rows, {f['months']} months from "
                  f"{f['first_month']}")
        print("\n".join(report(results, raw["records"])))
        for h in spec.histories:
            k = results[h].get("key_lookup")
            if k:
                share = k["all_months"]["seconds"] / results[h]["nightly"]["seconds"]
                print(f"place_in_months key lookup alone ({h / 1e6:g}M history, "
                      f"{k['batch_keys']:,} keys): all months {k['all_months']['seconds']}s "
                      f"({share:.1%} of the night), pruned to the touched months "
                      f"{k['touched_months']['seconds']}s")
        if all("replay" in r for r in results.values()):
            for h in spec.histories:
                r = results[h]["replay"]
                print(f"replay of the merged day ({h / 1e6:g}M): {r['seconds']:.1f}s, "
                      f"tables with a new version: {r['new_versions'] or 'none'}")
        if args.json:
            print(json.dumps(summary_json(results, raw["records"])))
            return
        print(json.dumps({"spec": spec.params(), "raw_day": raw, "results": {
            str(h): {a: {k: v for k, v in r.items() if k != "steps"}
                     for a, r in res.items() if isinstance(r, dict) and "seconds" in r}
            for h, res in results.items()},
            "seconds": round(time.perf_counter() - started, 1)}, default=str))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
