"""Benchmark: the nightly compute of ``bench/nightly_scale.py``, old code against new, in one run.

    git worktree add --detach ../finlake-base <previous commit>   # and ./dev setup there once
    .venv/bin/python -m bench.nightly_side_by_side --base ../finlake-base \\
        [--dir DIR] [nightly_scale options: --users 500 --new 20000 --histories 200000 2000000]

Runs this checkout's ``bench/nightly_scale.py --json`` twice, one after the other: first with
the older checkout's product code and Python environment (``--base``: its ``.venv`` and, on
``PYTHONPATH``, its packages, its ``bench/scale_data.py`` generating data in its table layout),
then with this checkout's. Each generates (or reuses, under ``DIR/old`` and ``DIR/new``) the
same seeded data, merges the same raw day into each history, then replays it. Prints the
night's and the replay's figures per history side by side with new/old ratios, and each
step's seconds (steps that exist in only one version show a blank).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("nightly_s", "replay_s", "rows_per_s", "peak_mib", "delta_commits", "spark_calls",
           "replay_delta_commits", "replay_spark_calls")


def run(label: str, python: Path, code: Path, work: Path, rest: list[str]) -> dict[str, Any]:
    """One full nightly_scale run; returns its ``--json`` object."""
    cmd = [str(python), str(ROOT / "bench" / "nightly_scale.py"), "--json",
           "--keep", str(work / label), *rest]
    env = {**os.environ, "PYTHONPATH": str(code)}
    print(f"[{label}] {code}: {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.PIPE, text=True)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip():
            last = line
        if not line.startswith('{"histories"'):
            print(f"  [{label}] {line}", end="", flush=True)
    if proc.wait() != 0:
        raise SystemExit(f"nightly_side_by_side: the {label} run failed (exit {proc.returncode})")
    return json.loads(last)["histories"]


def ratio(old: Any, new: Any) -> str:
    return f"{new / old:.2f}" if isinstance(old, int | float) and isinstance(new, int | float) \
        and old else ""


def table(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for h in sorted(set(old) | set(new), key=int):
        o, n = old.get(h, {}), new.get(h, {})
        lines += [f"\n{int(h):,}-row history\n", "| figure | old | new | new/old |",
                  "|---|---|---|---|"]
        lines += [f"| {f} | {o.get(f, '')} | {n.get(f, '')} | {ratio(o.get(f), n.get(f))} |"
                  for f in FIGURES]
        steps = list(dict.fromkeys([*o.get("steps", {}), *n.get("steps", {})]))
        lines += ["", "| step (night) | old s | new s | new/old |", "|---|---|---|---|"]
        for s in steps:
            if s.count(" > ") > 1:
                continue
            a, b = o.get("steps", {}).get(s), n.get("steps", {}).get(s)
            name = ("&nbsp;&nbsp;" + s.split(" > ")[-1]) if " > " in s else s
            lines.append(f"| {name} | {'' if a is None else a} | {'' if b is None else b} | "
                         f"{ratio(a, b) if (a or 0) > 0.05 else ''} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True,
                    help="a checkout of the older commit, set up (its .venv)")
    ap.add_argument("--dir", type=Path, help="where both runs keep their data (reused)")
    args, rest = ap.parse_known_args()
    base = args.base.resolve()
    if not (base / ".venv/bin/python").exists():
        raise SystemExit(f"nightly_side_by_side: {base} has no .venv; run its ./dev setup first")
    work = args.dir or Path(tempfile.mkdtemp(prefix="finlake-side-by-side-", dir="/tmp"))
    old = run("old", base / ".venv/bin/python", base, work, rest)
    new = run("new", Path(sys.executable), ROOT, work, rest)
    print("\n".join(table(old, new)))
    print(json.dumps({"old": old, "new": new}))


if __name__ == "__main__":
    main()
