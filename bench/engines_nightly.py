"""Benchmark: the nightly's Spark steps on Sail and on Apache Spark + Delta, side by side.

    .venv/bin/python -m bench.engines_nightly [--users 3] [--days 2] [--dir /tmp]

Builds one demo lake (``finlake demo`` on Sail against the sandbox bank), then, for each
engine in its own process, deletes every derived table of a copy and replays the demo's
days from the same raw pages (``tests/support/engine_rebuild.py``: what ``finlake nightly --replay``
runs: silver merge, gold, net worth, recurring payments, alerts, checks), then replays the
last day once more (already merged: nothing changes). Engine start-up (embedded Sail in
process; the local JVM Spark Connect server with delta-spark) is timed apart. The partner
sync step is the same Python code on both engines and is not part of the comparison.
The two rebuilt lakes are compared table by table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("sail", "spark-delta")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _env(home: Path, engine: str = "sail") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINLAKE_", "SPARK_"))}
    return {**env, "FINLAKE_HOME": str(home), "FINLAKE_ENGINE": engine}


def _replay(engine: str, home: Path, days: list[str], fresh: bool) -> dict[str, Any]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tests.support.engine_rebuild", engine, str(home),
                           *([] if fresh else ["--continue"]), *days], cwd=ROOT,
                          env=_env(home, engine), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} replay failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = round(time.perf_counter() - t, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=3)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="finlake-engines-") as work:
        base = Path(work) / "demo"
        log(f"building a demo lake ({args.users} users, {args.days} days) on Sail ...")
        t = time.perf_counter()
        demo = subprocess.run([str(Path(sys.executable).parent / "finlake"), "demo",
                               "--users", str(args.users), "--days", str(args.days)],
                              env=_env(base), capture_output=True, text=True)
        if demo.returncode != 0:
            raise SystemExit(demo.stdout[-2000:] + demo.stderr[-2000:])
        log(f"  demo built in {time.perf_counter() - t:.0f}s")
        raw = base / "lake" / "raw" / "transactions_sync"
        days = sorted(p.name.removeprefix("sync_date=") for p in raw.glob("sync_date=*"))
        results: dict[str, dict[str, Any]] = {}
        for engine in ENGINES:
            home = Path(work) / engine
            shutil.copytree(base, home, symlinks=True)
            log(f"{engine}: rebuilding {days} from raw ...")
            results[engine] = _replay(engine, home, days, fresh=True)
            log(f"{engine}: replaying {days[-1]} again (already merged) ...")
            results[engine]["again"] = _replay(engine, home, days[-1:], fresh=False)
        from tests.support.engine_rebuild import DERIVED, table_rows

        equal = all(table_rows(str(Path(work) / "sail" / "lake"), tbl)
                    == table_rows(str(Path(work) / "spark-delta" / "lake"), tbl)
                    for tbl in DERIVED)
    report(results, days, equal, args)


def report(results: dict[str, dict[str, Any]], days: list[str], equal: bool,
           args: argparse.Namespace) -> None:
    sail, spark = results["sail"], results["spark-delta"]
    print(f"\n## Nightly Spark steps: Sail vs Apache Spark + Delta ({args.users} users, "
          f"days {', '.join(days)})\n")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; tables "
          f"equal on both engines: {equal}\n")
    print("| step | Sail s | Spark + Delta s | ratio |")
    print("| --- | ---: | ---: | ---: |")

    def row(name: str, a: float, b: float) -> None:
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / a if a else float('nan'):.1f}x |")

    row("engine start-up", sail["startup_s"], spark["startup_s"])
    for i, day in enumerate(days):
        steps_a, steps_b = sail["days"][i]["steps"], spark["days"][i]["steps"]
        for step in steps_a:
            row(f"{day} {step}", steps_a[step], steps_b.get(step, float("nan")))
        row(f"**{day} total**", sail["days"][i]["seconds"], spark["days"][i]["seconds"])
    total_a = sum(d["seconds"] for d in sail["days"])
    total_b = sum(d["seconds"] for d in spark["days"])
    row("**all days, without start-up**", total_a, total_b)
    row(f"replay of {days[-1]} again (no change)", sail["again"]["days"][0]["seconds"],
        spark["again"]["days"][0]["seconds"])
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
