"""Old code against new on copies of one lake, side by side: each round copies the base lake
twice, runs each version on its own copy (alternating which goes first, since machines are
noisy) and checks both copies hold the same result."""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = Callable[[Any, Any], float]  # (spark, lake) -> seconds


def rounds(spark, root: Path, label: str, n: int, runs: dict[str, Run],  # noqa: ANN001
           result: Callable[[Any], list], what: str) -> dict[str, Any]:
    """``n`` rounds of ``runs`` ({"old": ..., "new": ...}) on copies of ``root / "base"``;
    ``result(lake)`` is what must be the same. Returns seconds per round and the ratio of
    the medians; stops the bench if the results differ."""
    from lake.lake import Lake

    times: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(n):
        lakes = {}
        for name in ("old", "new"):
            shutil.rmtree(root / name, ignore_errors=True)
            shutil.copytree(root / "base", root / name)
            lakes[name] = Lake(str(root / name))
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            times[name].append(round(runs[name](spark, lakes[name]), 2))
            print(f"[{label}] round {r + 1}: {name} {times[name][-1]}s", flush=True)
        new = result(lakes["new"])
        same = result(lakes["old"]) == new
        print(f"[{label}] round {r + 1}: same {what}: {same} ({len(new)})", flush=True)
        if not same:
            raise SystemExit(f"the old and new {what} differ")
    old, new_s = statistics.median(times["old"]), statistics.median(times["new"])
    return {"old_s": times["old"], "new_s": times["new"], "count": len(new),
            "ratio_old_over_new": round(old / new_s, 2)}
