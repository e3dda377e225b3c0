"""The lake's writer lease (lake/lease.py, assets/runs.py): one writer at a time, a clear
"waiting for" line, nothing blocked by a killed run, staged leftovers swept.

Writers are real processes here: a child holds the lease as a nightly would, and is killed
with SIGKILL where the test needs a killed run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from assets import runs
from lake.lake import Lake
from lake.lease import FileLocks, LakeBusy, PostgresLocks, WriterLease
from lake.staging import HELD_MARK, hold, new_run, sweep
from tests.support.lease_helpers import writer_elsewhere


def lease(tmp_path: Path, wait: float = 0, said: list[str] | None = None) -> WriterLease:
    return WriterLease(FileLocks(tmp_path / "locks"), str(tmp_path / "lake"), wait=wait,
                       say=(said.append if said is not None else lambda _l: None), poll=0.05)


def test_a_second_writer_is_told_who_writes_and_when_it_started(tmp_path) -> None:
    with writer_elsewhere(tmp_path / "locks", str(tmp_path / "lake"), job="nightly") as child:
        ours = lease(tmp_path)
        holder = ours.holder()
        assert holder is not None and (holder.job, holder.pid) == ("nightly", child.pid)
        with pytest.raises(LakeBusy) as busy, ours.hold("maintenance", "run-2"):
            pytest.fail("two writers at once")
    text = str(busy.value)
    assert f"a nightly run (0123456789ab, pid {child.pid} on " in text
    assert "started at 20" in text and " UTC is writing the lake" in text
    assert "the maintenance run can start once it has finished" in text
    assert "\n" not in text


def test_a_waiting_writer_says_what_for_and_starts_when_the_lake_is_free(tmp_path) -> None:
    said: list[str] = []
    ours = lease(tmp_path, wait=60, said=said)
    got: list[float] = []
    with writer_elsewhere(tmp_path / "locks", str(tmp_path / "lake"), job="replay"):
        def second() -> None:
            with ours.hold("nightly", "run-2"):
                got.append(time.monotonic())

        t = threading.Thread(target=second)
        t.start()
        time.sleep(1.0)
        assert not got, "the second writer did not wait"
        released = time.monotonic()
    t.join(30)
    assert got and got[0] >= released
    assert said and said[0].startswith("waiting for a replay run (0123456789ab")
    assert ours.holder() is None  # released again


def test_a_writer_killed_9_blocks_nothing_and_is_seen_dead(tmp_path) -> None:
    locks, root = tmp_path / "locks", str(tmp_path / "lake")
    with writer_elsewhere(locks, root, run_id="killed-run") as child:
        ours = lease(tmp_path)
        assert ours.is_alive("killed-run") and ours.holder() is not None
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert not ours.is_alive("killed-run")
        assert ours.life("killed-run") == "dead"  # it started, and never ended
        assert ours.life("never-started") == "unknown"
        assert ours.holder() is None  # the kernel dropped the lock with the process
        with ours.hold("nightly", "run-3") as me:
            assert me.run_id == "run-3"
    assert (locks / "run-killed-run.lock").exists()  # the kill left its lock file
    ours.bury("killed-run")
    assert ours.life("killed-run") == "unknown"
    assert sorted(p.name for p in locks.iterdir()) == ["writer.lock"]  # nothing of either run


def test_one_process_may_enter_its_own_lease_again(tmp_path) -> None:
    ours = lease(tmp_path)
    with ours.hold("nightly", "outer") as outer, ours.hold("replay", "inner") as inner:
        assert inner == outer  # the outer hold answers for both
        assert ours.holder().run_id == "outer"
    assert ours.holder() is None


def test_the_sweep_removes_a_dead_runs_staging_and_keeps_held_files(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    left = new_run("gold/monthly_spend", None)
    kept = new_run("intake", None)
    for prefix in (left, kept):
        lake.store.put(f"{prefix}/part-0.parquet", b"rows")
        lake.store.put(f"{prefix}/silver/part-1.parquet", b"rows")
    hold(lake, lake.store.uri(kept), "raw_changes: 2 of 9 expectations failed")
    assert sweep(lake) == 1
    remaining = lake.store.list("_staging/")
    assert remaining and all(k.startswith(kept + "/") for k in remaining)
    assert f"{kept}/{HELD_MARK}" in remaining


def test_finlake_runs_lists_and_clears_a_stuck_run(tmp_path, monkeypatch, capsys) -> None:
    from dagster._core.test_utils import create_run_for_test

    from core.settings import load_settings
    from finlake.cli import main
    from finlake.runner import prepare_instance

    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))  # restored afterwards
    settings = load_settings()
    instance = prepare_instance(settings)
    stuck = create_run_for_test(instance, job_name="nightly",
                                status=dg.DagsterRunStatus.STARTED)
    live_id = uuid.uuid4().hex
    live = create_run_for_test(instance, job_name="replay", run_id=live_id,
                               status=dg.DagsterRunStatus.STARTED)
    monkeypatch.setattr(runs, "START_GRACE_SECONDS", 0.0)
    with writer_elsewhere(settings.locks_dir, settings.lake_root, job="replay", run_id=live_id):
        assert main(["runs"]) == 0
        out, err = capsys.readouterr()
        assert "writer lease: held by a replay run" in out
        assert f"{stuck.run_id}  nightly" in out and "STUCK: no sign of life" in out
        assert f"{live.run_id}  replay" in out and "writing the lake" in out
        assert "finlake runs --clear" in err

        assert main(["runs", "--clear"]) == 0
        out = capsys.readouterr().out
        assert "cleared 1 stuck run(s)" in out
    assert instance.get_run_by_id(stuck.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED
    failure = [e for e in instance.all_logs(stuck.run_id) if e.is_dagster_event
               and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
    assert failure and "no sign of life" in failure[-1].message


def _pg_locks(scope: str) -> PostgresLocks:
    import psycopg2

    def connect():  # noqa: ANN202
        return psycopg2.connect(host="127.0.0.1", port=5432, user="finlake", dbname="finlake",
                                connect_timeout=5)

    return PostgresLocks(connect, scope)


def test_production_leases_are_postgresql_advisory_locks() -> None:
    """Two sessions (two machines, as far as PostgreSQL knows): one writer at a time; a
    session that dies frees the lease at once; another lake's lease is another lock."""
    root = f"s3://bucket/{uuid.uuid4().hex}"
    a = WriterLease(_pg_locks(root), "process-a", wait=0)
    b = WriterLease(_pg_locks(root), "process-b", wait=0)
    other_lake = WriterLease(_pg_locks(root + "-other"), "process-c", wait=0)
    with a.hold("nightly", "run-a"):
        holder = b.holder()
        assert holder is not None and (holder.job, holder.run_id) == ("nightly", "run-a")
        with pytest.raises(LakeBusy, match="a nightly run"), b.hold("forget_user", "run-b"):
            pass
        with other_lake.hold("nightly", "run-c"):
            pass
    assert b.holder() is None
    dying = _pg_locks(root)
    assert dying.try_lock("writer")
    assert b.locks.is_held("writer")
    dying._conn.close()  # the process died: its session ends
    time.sleep(0.5)
    assert not b.locks.is_held("writer")


def test_two_threads_of_one_process_take_turns(tmp_path) -> None:
    ours = lease(tmp_path, wait=30)
    inside: list[int] = []
    overlaps: list[int] = []

    def write(n: int) -> None:
        with ours.hold("nightly", f"run-{n}"):
            inside.append(n)
            overlaps.append(len(inside))
            time.sleep(0.2)
            inside.remove(n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert overlaps == [1, 1, 1, 1]
