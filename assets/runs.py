"""The lake's writer lease for this configuration, and the dead runs it clears away.

Every Dagster job of finlake writes the lake, so every run holds the lease (through the
``writer_lease`` resource, see :data:`holds_writer_lease`), as do the CLI commands that write
outside Dagster (gold rebuild, release, key retirement, linking). Whoever takes the lease
first marks runs whose process is gone as failed and removes the staged files they left:
a killed run never blocks anything for longer than the next writer's start.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.ids import new_id
from core.settings import Settings
from lake.lease import FileLocks, Locks, PostgresLocks, WriterLease
from lake.locks import pg_connect

if TYPE_CHECKING:
    import dagster as dg

    from lake.lake import Lake

# A run that never marked itself alive (killed while starting, or started by an older
# finlake) is judged dead once Dagster has called it under way for this long.
START_GRACE_SECONDS = 600.0
LIVE_STATUSES = ("STARTING", "STARTED", "CANCELING")

_LOCKS: dict[str, Locks] = {}  # one per lake and process: locks live as long as the process


def locks_for(env: str, locks_dir: str, lake_root: str) -> Locks:
    """File locks in ``locks_dir`` (local), PostgreSQL advisory locks (production)."""
    key = f"{env}:{lake_root}"
    if key not in _LOCKS:
        if env == "production":
            _LOCKS[key] = PostgresLocks(pg_connect, lake_root)
        else:
            _LOCKS[key] = FileLocks(locks_dir)
    return _LOCKS[key]


def lease_for(settings: Settings, say: Callable[[str], None] | None = None,
              wait: float | None = None) -> WriterLease:
    return lease_from(settings.env, str(settings.locks_dir), settings.lake_root,
                      settings.writer_wait if wait is None else wait, say)


def lease_from(env: str, locks_dir: str, lake_root: str, wait: float,
               say: Callable[[str], None] | None = None) -> WriterLease:
    def to_stderr(line: str) -> None:
        print(f"finlake: {line}", file=sys.stderr, flush=True)

    return WriterLease(locks_for(env, locks_dir, lake_root), lake_root, wait=wait,
                       say=say or to_stderr)


@dataclass
class RunState:
    run_id: str
    job: str
    status: str
    started_at: datetime | None
    alive: bool
    writing: bool  # holds the writer lease
    reason: str = ""  # why it is dead

    @property
    def dead(self) -> bool:
        return bool(self.reason)


def run_states(instance: dg.DagsterInstance, lease: WriterLease,
               now: datetime | None = None) -> list[RunState]:
    """Every run Dagster's storage says is under way, and whether its process still lives."""
    import dagster as dg

    now = now or datetime.now(UTC)
    holder = lease.holder()
    records = instance.get_run_records(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus[s] for s in LIVE_STATUSES]))
    out = []
    for rec in records:
        run = rec.dagster_run
        started = rec.start_time or (rec.create_timestamp.timestamp()
                                     if rec.create_timestamp else None)
        started_at = datetime.fromtimestamp(started, UTC) if started else None
        life = lease.life(run.run_id)
        state = RunState(run.run_id, run.job_name, run.status.value, started_at,
                         life == "alive",
                         writing=holder is not None and holder.run_id == run.run_id)
        age = (now - started_at).total_seconds() if started_at else float("inf")
        if life == "dead":
            state.reason = "its process is gone (killed or crashed) and it never finished"
        elif life == "unknown" and age > START_GRACE_SECONDS:
            state.reason = (f"no sign of life {age / 60:.0f} min after it started (killed "
                            "while starting, or started by an older finlake)")
        out.append(state)
    return sorted(out, key=lambda s: s.started_at or now)


def clear_dead_runs(instance: dg.DagsterInstance, lease: WriterLease, lake: Lake | None,
                    by: str, say: Callable[[str], None] | None = None) -> list[RunState]:
    """Mark every dead run failed (with the reason), and, when this process holds the
    writer lease, remove staged files no live run owns. Returns the runs cleared."""
    cleared = []
    for state in run_states(instance, lease):
        if not state.dead:
            continue
        run = instance.get_run_by_id(state.run_id)
        if run is None or run.is_finished:
            continue
        instance.report_run_failed(run, f"marked failed by {by}: {state.reason}")
        lease.bury(state.run_id)
        cleared.append(state)
        if say:
            say(f"cleared stuck {state.job} run {state.run_id[:12]}: {state.reason}")
    if lake is not None and lease.held_here():
        from lake.staging import sweep

        removed = sweep(lake)
        if removed and say:
            say(f"removed the staged files of {removed} unfinished write(s)")
    return cleared


@contextmanager
def writing(settings: Settings, job: str, lake: Lake | None = None,
            say: Callable[[str], None] | None = None) -> Iterator[str]:
    """Hold the writer lease for a CLI command that writes outside Dagster; yields its id.
    It removes staged files no run owns; dead Dagster runs are left to the next Dagster run
    or ``finlake runs --clear`` (they no longer block anything)."""
    lease = lease_for(settings, say)
    run_id = new_id(12, "cli-")
    with lease.alive(run_id), lease.hold(job, run_id) as holder:
        if holder.run_id == run_id and lake is not None:  # not inside another hold
            from lake.staging import sweep

            sweep(lake)
        yield run_id
