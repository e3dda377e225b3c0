"""Playing generated scenarios (tests/support/scenarios.py) and checking the lake's invariants after
every step: reconcile exact, no staged leftovers once idle, no run under way that is not
known dead, no duplicate alert, no forgotten person back, cursors never backwards, and at
the end gold equal to a full rebuild."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tests.support.scenarios import MERGED, Step, World, draw


def violations(world: World, *, gold: bool) -> list[str]:
    """What does not hold now (empty: every invariant holds). ``gold``: also compare gold
    with a full rebuild (the costly check; only once no kill is left half-done)."""
    from lake.people import has_user
    from lake.raw import load_cursor
    from lake.small_tables import read_rows
    from lake.tables import ALERTS, CREDENTIALS, SYNC_JOBS

    bad: list[str] = []
    rc, out = world.cli("reconcile")
    try:
        r = json.loads(out.strip().splitlines()[-1])
        # A kill after the cursor moved and before the merge leaves the day's changes in
        # raw only: exact again once that day is re-run (what the crash tests prove), which
        # the scenario does at its end.
        if not r["exact"] and not world.dirty:
            bad.append(f"reconcile not exact: {r}")
    except (ValueError, IndexError, KeyError):
        bad.append(f"reconcile failed (exit {rc}): {out[-500:]}")
    lake = world.lake()
    left = [k for k in lake.store.list("_staging/") if "/_HELD.json" not in k]
    held = {k.rsplit("/", 1)[0] for k in lake.store.list("_staging/") if k.endswith("_HELD.json")}
    left = [k for k in left if not any(k.startswith(h + "/") for h in held)]
    if left and not world.dirty:
        bad.append(f"staged files left while idle: {left[:3]}")
    rc, out = world.cli("runs")  # a killed run may stay listed until the next writer, as
    live = [ln for ln in out.splitlines()  # long as it is known dead (it blocks nothing)
            if (" STARTED " in ln or " STARTING " in ln) and "STUCK" not in ln]
    if rc or live:
        bad.append(f"runs under way while idle (exit {rc}): {live}")
    alerts = read_rows(lake, ALERTS)
    dup = [k for k, n in Counter(a["alert_key"] for a in alerts).items() if n > 1]
    same = [k for k, n in Counter((a["kind"], a["user_id"], a["subject"], a["period"],
                                   a["detail"]) for a in alerts).items() if n > 1]
    if dup or same:
        bad.append(f"duplicate alerts: {dup[:3]} {same[:3]}")
    for person in world.forgotten:
        if has_user(lake, person) or any(j["user_id"] == person
                                         for j in read_rows(lake, SYNC_JOBS)):
            bad.append(f"forgotten person {person} is back")
    for c in read_rows(lake, CREDENTIALS):
        seq = load_cursor(lake.store, c["item_id"])[1]
        if seq < world.cursors.get(c["item_id"], 0):
            bad.append(f"cursor of {c['item_id']} went back to {seq}")
        world.cursors[c["item_id"]] = seq
    if gold and not world.dirty:
        bad += _gold_matches_a_rebuild(world)
    return bad


GOLD_TABLES = ("daily_spend", "monthly_spend", "monthly_cashflow", "spend_trends",
               "expense_days", "unusual_activity", "budget_progress")


def _gold_matches_a_rebuild(world: World) -> list[str]:
    """Every gold row as a full rebuild computes it. A budget row of a person nothing
    touched since is as of the day it was last computed, where the rebuild says the newest
    day: ``as_of`` may be older, never newer, and the figures must be the same."""
    from lake.small_tables import read_rows
    from lake.tables import REGISTRY

    def snapshot() -> dict[str, dict[tuple, dict]]:
        out = {}
        for name in GOLD_TABLES:
            t = REGISTRY[name]
            out[name] = {tuple(str(r[k]) for k in t.keys): r
                         for r in read_rows(world.lake(), t)}
        return out

    before = snapshot()
    rc, out = world.cli("gold", "rebuild")
    if rc:
        return [f"gold rebuild failed (exit {rc}): {out[-500:]}"]
    after = snapshot()
    bad = []
    for name in GOLD_TABLES:
        mine, theirs = before[name], after[name]
        if mine.keys() != theirs.keys():
            bad.append(f"{name}: rows only incremental {sorted(mine.keys() - theirs.keys())[:3]}"
                       f", only rebuilt {sorted(theirs.keys() - mine.keys())[:3]}")
            continue
        for key, row in mine.items():
            other = theirs[key]
            if "as_of" in row and row["as_of"] and row["as_of"] <= other["as_of"]:
                row, other = {**row, "as_of": None}, {**other, "as_of": None}
            if row != other:
                bad.append(f"{name} {key}: incremental {row} != rebuilt {other}")
                break
    return bad


def build_base(home: Path, users: int = 2) -> Path:
    """A linked sandbox of ``users`` people with the days MERGED synced and merged."""
    from connectors.sandbox_bank.bank import SandboxBank

    SandboxBank.open(home / "sandbox_bank", users=users,
                     history_start=MERGED[0] - timedelta(days=40),
                     clock=MERGED[0] - timedelta(days=1))
    world = World(home, 0)
    for args in (("link-sandbox",), *(("nightly", "--date", d.isoformat()) for d in MERGED)):
        rc, out = world.cli(*args)
        if rc:
            raise RuntimeError(f"building the scenarios' base home failed: {out[-2000:]}")
    return home


@dataclass
class Outcome:
    seed: int
    steps: list[str]
    seconds: float
    problems: list[str]


def run_scenario(base: Path, work: Path, seed: int, steps: int = 5,
                 say=lambda _line: None) -> Outcome:  # noqa: ANN001
    """Play scenario ``seed`` on a copy of ``base``; check the invariants after each step,
    and, at the end (after re-running any day a kill left half-done), gold too."""
    t0 = time.perf_counter()
    home = work / f"scenario-{seed}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home, symlinks=True)
    world, plan = World(home, seed), draw(seed, steps)
    problems: list[str] = []
    try:
        for step in plan:
            t = time.perf_counter()
            problems += world.play(step)
            problems += [f"after {step}: {v}" for v in violations(world, gold=False)]
            say(f"    {step} ({time.perf_counter() - t:.1f}s)")
            if problems:
                break
        if not problems:
            for day in sorted(world.dirty):  # what an operator does after a kill
                problems += world._ok(world.cli("nightly", "--date", day), Step("rerun", (day,)),
                                      clean=day)
            problems += [f"at the end: {v}" for v in violations(world, gold=True)]
    except Exception as exc:  # noqa: BLE001 - a scenario that crashes the harness is a finding
        problems.append(f"harness error: {type(exc).__name__}: {exc}")
    if not problems:
        shutil.rmtree(home, ignore_errors=True)
    else:
        (home / "scenario.log").write_text("\n".join(world.log))
    return Outcome(seed, [str(s) for s in plan], time.perf_counter() - t0, problems)
