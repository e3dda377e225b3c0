"""Soak: many generated scenarios (tests/support/scenarios.py), every invariant checked after every
step; prints a line per scenario and a summary, and writes every outcome as JSON lines.

    .venv/bin/python -m bench.soak [--scenarios 1000] [--steps 5] [--seed 1] [--jobs 2]
                                   [--dir DIR] [--minutes M]

Scenario ``k`` is ``draw(seed + k)``: any failing one is replayed alone with
``--seed S --scenarios 1``. ``--minutes`` stops starting new scenarios after M minutes
(the summary says how many ran). Each job is a process that keeps its engine between
scenarios; kills and concurrent pairs start ``finlake`` processes of their own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from tests.support.scenario_runs import Outcome, build_base, run_scenario


def _play(base: str, work: str, seed: int, steps: int) -> Outcome:
    os.environ.setdefault("RUST_LOG", "error")
    return run_scenario(Path(base), Path(work), seed, steps)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", type=int, default=1000)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--seed", type=int, default=1, help="seed of the first scenario")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp one)")
    p.add_argument("--minutes", type=float, default=None, help="start no scenario after this")
    args = p.parse_args(argv)
    work = args.dir or Path(tempfile.mkdtemp(prefix="finlake-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "outcomes.jsonl"
    t0 = time.perf_counter()
    print(f"soak: {args.scenarios} scenarios of {args.steps} steps from seed {args.seed}, "
          f"{args.jobs} job(s), in {work} ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores)", flush=True)
    base = work / "base"
    if not (base / "lake").exists():
        build_base(base)
    print(f"  base home built in {time.perf_counter() - t0:.0f}s", flush=True)
    deadline = t0 + args.minutes * 60 if args.minutes else None
    seeds = iter(range(args.seed, args.seed + args.scenarios))
    done: list[Outcome] = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool, out.open("a") as sink:
        running: set[Future] = set()

        def submit() -> bool:
            if deadline and time.perf_counter() > deadline:
                return False
            seed = next(seeds, None)
            if seed is None:
                return False
            running.add(pool.submit(_play, str(base), str(work), seed, args.steps))
            return True

        for _ in range(args.jobs):
            submit()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                running.discard(f)
                o = f.result()
                done.append(o)
                sink.write(json.dumps(o.__dict__) + "\n")
                sink.flush()
                status = "ok" if not o.problems else f"FAILED: {o.problems[0][:300]}"
                print(f"[{len(done)}/{args.scenarios}] seed {o.seed} {o.seconds:.0f}s "
                      f"{'; '.join(o.steps)}: {status}", flush=True)
                submit()
    failed = [o for o in done if o.problems]
    wall = time.perf_counter() - t0
    print(f"\n{len(done)} scenarios ({len(done) * args.steps} steps) in {wall / 60:.1f} min, "
          f"{sum(o.seconds for o in done) / max(1, len(done)):.0f}s each; "
          f"{len(done) - len(failed)} held every invariant, {len(failed)} did not"
          + (f": seeds {[o.seed for o in failed]}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
