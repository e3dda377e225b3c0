"""Generated scenarios: sequences of the lake's writers (nightlies of new and old days,
replays, kills at random points, two writers at once, on-demand syncs, forgets, maintenance,
key rotations, partner fault plans), with the lake's invariants checked after every step.

``draw(seed)`` gives a scenario; :class:`World` plays it on a copy of a prepared home, and
tests/support/scenario_runs.py checks what must hold after each step. Single steps run in this
process through ``finlake.cli.main`` (no start-up per command); kills and concurrent pairs are real
``finlake`` processes. Used by ``tests/e2e/test_scenarios.py`` (a few fixed seeds in CI) and
``bench/soak.py`` (a thousand and more).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
MERGED = (YESTERDAY - timedelta(days=3), YESTERDAY - timedelta(days=2))  # in the base home
NEW_DAYS = (YESTERDAY - timedelta(days=1), YESTERDAY)
PAIRS = ("nightly+replay", "nightly+forget", "nightly+maintain", "replay+sync",
         "nightly+nightly", "forget+replay")
# Faults a nightly must come through exactly (records broken on the wire are quarantined and
# never re-sent, by design: tests/connectors/test_partner_payloads.py covers those).
FAULT_KINDS = ("rate_limit", "institution_down", "timeout", "server_error", "mutation",
               "duplicate_ids", "empty_results", "unreadable_page", "wrong_balance")
ENV = {"FINLAKE_SYNC_PAGE_SIZE": "40", "FINLAKE_PARTNER_TIMEOUT": "5",
       "FINLAKE_RETRY_BASE_DELAY": "0.05", "FINLAKE_WRITER_WAIT": "600"}


@dataclass(frozen=True)
class Step:
    kind: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return " ".join((self.kind, *self.args))


def draw(seed: int, steps: int = 5) -> list[Step]:
    """A scenario: ``steps`` steps that make sense in order (a day is merged before it is
    replayed, a person is forgotten once, a kill is followed by a step that recovers)."""
    from core.crashpoints import POINTS

    r = random.Random(seed)
    merged, new = list(MERGED), list(NEW_DAYS)
    forgot = False
    out: list[Step] = []

    def old() -> str:
        return r.choice(merged).isoformat()

    while len(out) < steps:
        kind = r.choice(("nightly", "nightly", "old", "replay", "kill", "pair", "pair", "sync",
                         "forget", "maintain", "rotate", "faults"))
        if kind == "nightly":
            if not new:
                continue
            day = new.pop(0)
            merged.append(day)
            out.append(Step("nightly", (day.isoformat(),)))
        elif kind == "old":
            out.append(Step("nightly", (old(),)))
        elif kind == "replay":
            out.append(Step("replay", (old(),)))
        elif kind == "kill":
            target = new[0] if new and r.random() < 0.6 else r.choice(merged)
            replay = target in merged and r.random() < 0.5
            out.append(Step("kill", (target.isoformat(), r.choice(POINTS),
                                     "replay" if replay else "nightly")))
        elif kind == "pair":
            pair = r.choice(PAIRS)
            if "forget" in pair and forgot:
                continue
            forgot = forgot or "forget" in pair
            day = new.pop(0) if pair.startswith("nightly") and new else r.choice(merged)
            merged.append(day) if day not in merged else None
            out.append(Step("pair", (pair, day.isoformat(), old())))
        elif kind == "forget":
            if forgot:
                continue
            forgot = True
            out.append(Step("forget"))
        elif kind == "faults":
            kinds = r.sample(FAULT_KINDS, 3)
            day = new.pop(0) if new else r.choice(merged)
            merged.append(day) if day not in merged else None
            out.append(Step("faults", (day.isoformat(), str(r.randrange(1000)), *kinds)))
        elif kind == "rotate":
            out.append(Step("rotate", ("--retire",) if r.random() < 0.4 else ()))
        else:
            out.append(Step(kind))
    return out


@dataclass
class World:
    """A scenario's home, and what the invariants need to know about its past."""

    home: Path
    seed: int
    forgotten: set[str] = field(default_factory=set)
    dirty: set[str] = field(default_factory=set)  # days a kill left half-done
    cursors: dict[str, int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FINLAKE_") or k == "FINLAKE_ENGINE"}
        return {**env, **ENV, "FINLAKE_HOME": str(self.home)}

    # -- running ---------------------------------------------------------------------
    def cli(self, *args: str) -> tuple[int, str]:
        """``finlake ARGS`` in this process; returns the exit code and what it printed."""
        from finlake import cli

        out = io.StringIO()
        with _env(self.env()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = cli.main(list(args))
        self.log.append(f"$ finlake {' '.join(args)} -> {rc}")
        return rc, out.getvalue()

    def start(self, *args: str, crash_at: str | None = None) -> subprocess.Popen:
        env = self.env() | ({"FINLAKE_CRASH_AT": crash_at} if crash_at else {})
        return subprocess.Popen([sys.executable, "-m", "finlake.cli", *args], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    def wait(self, *procs: subprocess.Popen) -> list[tuple[int, str]]:
        from connectors.sandbox_bank.embedded import stop_all

        done = [(p.wait(timeout=900), p.stdout.read() if p.stdout else "") for p in procs]
        for p, (rc, _) in zip(procs, done, strict=True):
            self.log.append(f"$ finlake {' '.join(p.args[3:])} -> {rc}")  # type: ignore[index]
        stop_all()  # the processes moved the bank's clock: reload it from its state
        return done

    def people(self) -> list[str]:
        from lake.small_tables import read_rows
        from lake.tables import CREDENTIALS

        return sorted({c["user_id"] for c in read_rows(self.lake(), CREDENTIALS)})

    def lake(self) -> Any:
        from lake.lake import Lake

        return Lake(str(self.home / "lake"))

    def play(self, step: Step) -> list[str]:
        """Run one step; returns what went wrong running it (not the invariants)."""
        from core.crashpoints import CRASH_EXIT_CODE

        k, a = step.kind, step.args
        if k == "nightly":
            return self._ok(self.cli("nightly", "--date", a[0]), step, clean=a[0])
        if k == "replay":
            return self._ok(self.cli("nightly", "--date", a[0], "--replay"), step)
        if k == "kill":
            day, point, job = a
            cmd = ["nightly", "--date", day] + (["--replay"] if job == "replay" else [])
            [(rc, out)] = self.wait(self.start(*cmd, crash_at=point))
            if rc == CRASH_EXIT_CODE:
                self.dirty.add(day)
                return []
            return [] if rc == 0 else [f"{step}: exit {rc}: {out[-800:]}"]
        if k == "pair":
            return self._pair(step)
        if k == "sync":
            from lake.small_tables import read_rows
            from lake.tables import ACCOUNTS

            accounts = sorted(a["account_id"] for a in read_rows(self.lake(), ACCOUNTS)
                              if a["user_id"] not in self.forgotten)
            rng = random.Random(self.seed + len(self.log))
            rc, out = self.cli("sync", "--account", rng.choice(accounts))
            # an item already synced today, or whose institution is down, is not a failure
            return [] if rc == 0 or "did not succeed" in out else [f"{step}: {out[-800:]}"]
        if k == "forget":
            person = self.people()[0]
            self.forgotten.add(person)
            return self._ok(self.cli("forget-user", "--yes", person), step)
        if k == "maintain":
            return self._ok(self.cli("maintain"), step)
        if k == "rotate":
            return self._ok(self.cli("keys", "rotate", *a), step)
        if k == "faults":
            return self._faults(step)
        raise ValueError(f"unknown step {step}")

    def _ok(self, result: tuple[int, str], step: Step, clean: str | None = None) -> list[str]:
        rc, out = result
        if rc == 0 and clean:
            self.dirty.discard(clean)
        return [] if rc == 0 else [f"{step}: exit {rc}: {out[-800:]}"]

    def _pair(self, step: Step) -> list[str]:
        pair, day, old = step.args
        cmds = {"nightly": ["nightly", "--date", day], "replay": ["nightly", "--date", old,
                                                                  "--replay"],
                "maintain": ["maintain"]}
        if "forget" in pair:
            person = self.people()[0]
            self.forgotten.add(person)
            cmds["forget"] = ["forget-user", "--yes", person]
        if pair == "replay+sync":
            from lake.small_tables import read_rows
            from lake.tables import ACCOUNTS

            acct = sorted(a["account_id"] for a in read_rows(self.lake(), ACCOUNTS))[0]
            cmds["sync"] = ["sync", "--account", acct]
        first, second = pair.split("+")
        second_cmd = (["nightly", "--date", NEW_DAYS[-1].isoformat()]
                      if pair == "nightly+nightly" else cmds[second])
        done = self.wait(self.start(*cmds[first]), self.start(*second_cmd))
        problems = [f"{step}: {cmd[0]} exit {rc}: {out[-800:]}"
                    for cmd, (rc, out) in zip((cmds[first], second_cmd), done, strict=True)
                    if rc != 0 and not (cmd[0] == "sync" and "did not succeed" in out)]
        if not problems:
            self.dirty.discard(day)
        return problems

    def _faults(self, step: Step) -> list[str]:
        from connectors.sandbox_bank.embedded import embedded_bank
        from connectors.sandbox_bank.faults import KINDS as _ALL
        from connectors.sandbox_bank.faults import Fault
        from core.settings import load_settings

        day, seed, *kinds = step.args
        with _env(self.env()):
            bank = embedded_bank(load_settings().sandbox_dir).bank
        ids = sorted(i["institution_id"] for i in bank.institutions())
        rng = random.Random(int(seed))
        plan = {ins: [Fault(kind, 0.3)] for ins, kind in
                zip(rng.sample(ids, min(len(ids), len(kinds))), kinds, strict=False)
                if kind in _ALL}
        bank.set_fault_plan(plan, int(seed))
        try:
            return self._ok(self.cli("nightly", "--date", day), step, clean=day)
        finally:
            bank.clear_fault_plan()


@contextlib.contextmanager
def _env(env: dict[str, str]):  # noqa: ANN202
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
