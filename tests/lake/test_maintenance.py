"""Delta maintenance (lake/maintenance.py, jobs/maintenance.py, ``finlake maintain``):
compaction keeps every row, fewer files, a checkpoint, vacuum within the retention, and
concurrent writers lose nothing; the job waits for writers; the schedule and CLI work."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from lake import maintenance
from lake.arrow import arrow_schema
from lake.delta import merge
from lake.lake import Lake
from lake.maintenance import (
    DAILY_MIN_SMALL_FILES,
    FULL_MIN_SMALL_FILES,
    MaintenanceError,
    Policy,
    layout,
    maintain,
    maintain_table,
)
from lake.small_tables import append_rows, upsert_rows
from lake.tables import (
    AUDIT_LOG,
    AUDIT_SUBJECTS,
    CREDENTIALS,
    LOGINS,
    TRANSACTIONS,
    Table,
)


def delta(lake: Lake, t: Table) -> DeltaTable:
    dt = lake.delta(t)
    assert dt is not None, f"{t.name} was never created"
    return dt


def content(lake: Lake, t: Table, version: int | None = None) -> list[str]:
    """Every row of a table version, canonical and sorted (delta-rs reader)."""
    dt = delta(lake, t) if version is None else DeltaTable(lake.uri(t), version=version)
    rows = dt.to_pyarrow_table().to_pylist()
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def sail_content(spark: Any, lake: Lake, t: Table) -> list[str]:
    rows = spark.read.format("delta").load(lake.uri(t)).collect()
    return sorted(json.dumps(r.asDict(), sort_keys=True, default=str) for r in rows)


def files(lake: Lake, t: Table) -> int:
    return layout(delta(lake, t), maintenance.DEFAULT_TARGET_SIZE).files


def txn_frame(spark: Any, batch: int, month: str, n: int, *, bump: int = 0) -> Any:
    """``n`` silver rows of ``month`` (every column type the table has); ``bump`` changes the
    amounts and categories of the same keys (an update)."""
    year, mon = int(month[:4]), int(month[5:])
    rows = []
    for i in range(n):
        day = date(year, mon, 1 + i % 28)
        r = {"txn_id": f"t{batch}_{i}", "user_id": f"user_{i % 4}", "item_id": "item_1",
             "account_id": f"acct_{i % 3}", "partner_txn_id": f"p{batch}_{i}",
             "pending": i % 5 == 0, "amount": Decimal(f"{i + bump}.{batch % 100:02d}"),
             "currency": "USD", "posted_date": day, "authorized_date": day,
             "description": f"SHOP {i}", "merchant": "Shop", "merchant_key": "shop",
             "category": "GENERAL_MERCHANDISE" if not bump else "FOOD_AND_DRINK",
             "category_source": "rule", "category_confidence": 0.5 + i / (2 * n),
             "status": "live", "partner_duplicate": False, "source_seq": f"{batch:04d}",
             "sync_date": day, "updated_at": datetime(year, mon, 1, 3, i % 60, tzinfo=UTC),
             "posted_month": month}
        rows.append(tuple(r.get(c) for c in TRANSACTIONS.column_names))
    return spark.createDataFrame(rows, schema=TRANSACTIONS.ddl)


def audit_rows(batch: int, n: int = 5) -> list[dict[str, Any]]:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    return [{"audit_id": f"a{batch}_{i}", "occurred_at": at + timedelta(days=i % 2, minutes=batch),
             "actor": "cli:op", "action": "export", "subject": f"s_{i}",
             "detail": json.dumps({"n": i}), "day": (at + timedelta(days=i % 2)).date()}
            for i in range(n)]


def small_rows(t: Table, batch: int, n: int = 3) -> list[dict[str, Any]]:
    """Rows with new keys for one of the small delta-rs tables."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    if t is AUDIT_LOG:
        return audit_rows(batch, n)
    key = t.keys[0]
    rows = []
    for i in range(n):
        r: dict[str, Any] = {c: None for c in t.column_names}
        r.update({"created_at": at, "user_id": f"user_{i}"})
        r[key] = f"{t.name}_{batch}_{i}"
        if t is CREDENTIALS:
            r.update(status="active", failure_count=batch, encrypted_token="sealed")
        if t is LOGINS:
            r.update(role="user", disabled=False, password_hash="$argon2id$x")
        if t is AUDIT_SUBJECTS:
            r.update(subject=f"s_{batch}_{i}")
        rows.append(r)
    return rows


# -- compaction keeps every row -------------------------------------------------------------

def test_silver_compaction_keeps_every_row_and_leaves_one_file_per_month(spark, lake) -> None:
    for b in range(4):  # four nightlies: new rows in two months, then updates of old ones
        merge(spark, lake, TRANSACTIONS, txn_frame(spark, b, ("2026-01", "2026-02")[b % 2], 30),
              partitions=["2026-01", "2026-02"])
    merge(spark, lake, TRANSACTIONS, txn_frame(spark, 0, "2026-01", 10, bump=7),
          partitions=["2026-01"])
    before, before_sail = content(lake, TRANSACTIONS), sail_content(spark, lake, TRANSACTIONS)
    v0 = delta(lake, TRANSACTIONS).version()

    report = maintain_table(lake, TRANSACTIONS)

    assert report.status == "ok"
    assert report.files_before >= 5 and report.files_after == 2 == files(lake, TRANSACTIONS)
    assert (report.partitions, report.partitions_compacted) == (2, 2)
    assert report.version_before == v0 and report.version_after == v0 + 1
    assert content(lake, TRANSACTIONS) == before
    assert sail_content(spark, lake, TRANSACTIONS) == before_sail
    assert content(lake, TRANSACTIONS, version=v0) == before  # time travel still there
    commit = delta(lake, TRANSACTIONS).history(1)[0]
    assert commit["operation"] == "OPTIMIZE"
    log = Path(lake.uri(TRANSACTIONS)) / "_delta_log"
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == v0 + 1
    assert (log / f"{v0 + 1:020d}.checkpoint.parquet").exists()
    assert report.checkpoint_version == v0 + 1

    again = maintain_table(lake, TRANSACTIONS)  # nothing left to do: no new version
    assert (again.files_compacted, again.version_after) == (0, v0 + 1)
    # writers carry on over the compacted files
    merge(spark, lake, TRANSACTIONS, txn_frame(spark, 1, "2026-02", 5, bump=3),
          partitions=["2026-02"])
    rows = delta(lake, TRANSACTIONS).to_pyarrow_table(columns=["partner_txn_id"]).to_pylist()
    assert len(rows) == len(before) == len({r["partner_txn_id"] for r in rows})


@pytest.mark.parametrize("t", [AUDIT_LOG, CREDENTIALS, LOGINS, AUDIT_SUBJECTS],
                         ids=lambda t: t.name)
def test_small_tables_compact_with_identical_rows(lake: Lake, t: Table) -> None:
    for b in range(4):
        append_rows(lake, t, small_rows(t, b))
    if t is not AUDIT_LOG:  # a MERGE (a re-link, a password change) among the appends
        changed = small_rows(t, 1)[:1]
        changed[0]["created_at"] = datetime(2026, 4, 1, tzinfo=UTC)
        upsert_rows(lake, t, changed)
    before, n_before = content(lake, t), files(lake, t)

    report = maintain_table(lake, t)

    assert content(lake, t) == before
    assert report.files_before == n_before > report.files_after == files(lake, t)
    assert report.files_after == len(layout(delta(lake, t), 1).files_per_partition)
    assert report.checkpoint_version == report.version_after


def test_append_only_audit_log_stays_append_only(lake: Lake) -> None:
    for b in range(3):
        append_rows(lake, AUDIT_LOG, audit_rows(b))
    before = content(lake, AUDIT_LOG)
    assert maintain_table(lake, AUDIT_LOG).files_written == 2  # one per day
    dt = delta(lake, AUDIT_LOG)
    assert dt.metadata().configuration.get("delta.appendOnly") == "true"
    log = Path(lake.uri(AUDIT_LOG)) / "_delta_log" / f"{dt.version():020d}.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    rewritten = [a.get("add") or a.get("remove") for a in actions if "add" in a or "remove" in a]
    assert rewritten and all(a["dataChange"] is False for a in rewritten)  # not a data change
    with pytest.raises(Exception, match="(?i)append"):
        dt.delete("action = 'export'")  # still refused
    assert content(lake, AUDIT_LOG) == before


def test_only_partitions_with_enough_small_files_are_compacted(lake: Lake) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for b in range(5):  # day 1 gets five appends, day 2 two
        days = [at.date()] + ([(at + timedelta(days=1)).date()] if b < 2 else [])
        append_rows(lake, AUDIT_LOG, [{"audit_id": f"{b}{d}", "occurred_at": at, "actor": "x",
                                        "action": "export", "day": d} for d in days])
    v0 = delta(lake, AUDIT_LOG).version()

    dry = maintain_table(lake, AUDIT_LOG, Policy(min_small_files=4, dry_run=True))
    assert (dry.status, dry.partitions_compacted, dry.files_compacted) == ("dry-run", 1, 5)
    assert delta(lake, AUDIT_LOG).version() == v0 and files(lake, AUDIT_LOG) == 7

    report = maintain_table(lake, AUDIT_LOG, Policy(min_small_files=4))
    per_day = layout(delta(lake, AUDIT_LOG), 1).files_per_partition
    assert per_day == {("2026-03-01",): 1, ("2026-03-02",): 2}
    assert (report.partitions_compacted, report.files_compacted, report.files_after) == (1, 5, 3)


def test_a_null_partition_is_compacted_with_the_others(lake: Lake) -> None:
    t = Table(name="null_days", layer="ops", columns=(("n", "int"), ("day", "date")),
              keys=("n",), partition_by=("day",))
    for b in range(3):
        append_rows(lake, t, [{"n": 10 * b + i, "day": d}
                              for i, d in enumerate([date(2026, 3, 1), None])])
    before = content(lake, t)
    report = maintain_table(lake, t)
    assert (report.partitions_compacted, report.files_before, report.files_after) == (2, 6, 2)
    assert content(lake, t) == before


@pytest.mark.integration
def test_maintenance_on_an_s3_lake(moto_s3: str) -> None:
    import uuid

    import boto3

    bucket = f"maint-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_s3).create_bucket(Bucket=bucket)
    lake = Lake(f"s3://{bucket}/lake", moto_s3)
    for b in range(3):
        append_rows(lake, AUDIT_LOG, audit_rows(b))
    before = content(lake, AUDIT_LOG)
    report = maintain_table(lake, AUDIT_LOG)
    assert (report.files_before, report.files_after, report.files_written) == (6, 2, 2)
    assert report.checkpoint_version == report.version_after
    assert lake.store.list(f"{AUDIT_LOG.key}/_delta_log/_last_checkpoint")
    assert content(lake, AUDIT_LOG) == before


# -- vacuum and retention -------------------------------------------------------------------

def test_vacuum_keeps_time_travel_within_the_retention_only(lake: Lake) -> None:
    for b in range(6):
        append_rows(lake, CREDENTIALS, small_rows(CREDENTIALS, b))
    v5 = content(lake, CREDENTIALS)

    first = maintain_table(lake, CREDENTIALS)
    assert first.files_vacuumed == 0  # removed a moment ago: within the 7 days
    assert content(lake, CREDENTIALS, version=5) == v5 == content(lake, CREDENTIALS)

    # Pretend the compaction happened 8 days ago (its remove actions' deletion time; the
    # checkpoint holding a copy of them goes too, it is rebuilt).
    log = Path(lake.uri(CREDENTIALS)) / "_delta_log"
    for name in (f"{first.version_after:020d}.checkpoint.parquet", "_last_checkpoint"):
        (log / name).unlink()
    commit = log / f"{first.version_after:020d}.json"
    old = int((time.time() - 8 * 86400) * 1000)
    actions = [json.loads(line) for line in commit.read_text().splitlines()]
    for a in actions:
        if "remove" in a:
            a["remove"]["deletionTimestamp"] = old
    commit.write_text("".join(json.dumps(a) + "\n" for a in actions))

    second = maintain_table(lake, CREDENTIALS)
    assert second.files_vacuumed == 6
    assert content(lake, CREDENTIALS) == v5
    with pytest.raises(Exception):  # noqa: B017  (the files of version 5 are gone)
        content(lake, CREDENTIALS, version=5)


@pytest.mark.parametrize("hours", [0, 1, 23])
def test_a_retention_under_a_day_is_refused(hours: int) -> None:
    with pytest.raises(MaintenanceError, match="forget-user"):
        Policy(retention_hours=hours)


# -- concurrent writers ---------------------------------------------------------------------

def test_a_compaction_that_loses_to_a_writer_is_planned_again(lake, monkeypatch) -> None:
    for b in range(4):
        append_rows(lake, LOGINS, small_rows(LOGINS, b))
    stale = delta(lake, LOGINS)  # the compaction plans on this snapshot ...
    upsert_rows(lake, LOGINS, [{**small_rows(LOGINS, 2)[0], "disabled": True}])  # ... then
    expected = content(lake, LOGINS)  # a sign-in change commits first and removes files
    handles = iter([stale])
    monkeypatch.setattr(maintenance, "_snapshot_to_compact",
                        lambda lk, t: next(handles, None) or delta(lk, t))

    report = maintain_table(lake, LOGINS)

    assert report.conflicts == 1 and report.status == "ok" and report.error is None
    assert content(lake, LOGINS) == expected and files(lake, LOGINS) == 1


def test_a_compaction_that_keeps_losing_is_reported_and_changes_nothing(lake, monkeypatch
                                                                         ) -> None:
    for b in range(4):
        append_rows(lake, LOGINS, small_rows(LOGINS, b))
    stale = delta(lake, LOGINS)
    upsert_rows(lake, LOGINS, [{**small_rows(LOGINS, 2)[0], "disabled": True}])
    expected, version = content(lake, LOGINS), delta(lake, LOGINS).version()
    monkeypatch.setattr(maintenance, "_snapshot_to_compact",
                        lambda lk, t: DeltaTable(lk.uri(t), version=stale.version()))

    report = maintain_table(lake, LOGINS, Policy(attempts=2))

    assert (report.status, report.conflicts) == ("conflict", 2)
    assert "concurrent" in (report.error or "") and "NOT COMPACTED" in report.line()
    assert content(lake, LOGINS) == expected and delta(lake, LOGINS).version() == version


def test_a_writer_that_loses_to_a_compaction_commits_nothing_and_its_retry_lands(lake
                                                                                 ) -> None:
    for b in range(4):
        append_rows(lake, CREDENTIALS, small_rows(CREDENTIALS, b))
    writer_snapshot = delta(lake, CREDENTIALS)  # a MERGE reads the four files ...
    maintain_table(lake, CREDENTIALS)  # ... maintenance compacts them away ...
    change = [{**small_rows(CREDENTIALS, 3)[1], "status": "expired", "failure_count": 3},
              *small_rows(CREDENTIALS, 9, 1)]
    source = pa.Table.from_pylist(change, schema=arrow_schema(CREDENTIALS))
    with pytest.raises(CommitFailedError):  # ... and the MERGE's commit is refused whole
        (writer_snapshot.merge(source, "t.credentials_id = s.credentials_id", "s", "t")
         .when_matched_update_all().when_not_matched_insert_all().execute())
    upsert_rows(lake, CREDENTIALS, change)  # the writer's retry, on a fresh snapshot
    rows = {r["credentials_id"]: r for r in delta(lake, CREDENTIALS).to_pyarrow_table()
            .to_pylist()}
    assert len(rows) == 13  # 12 + 1 new, no duplicate
    assert rows["credentials_3_1"]["status"] == "expired"


def test_a_sail_merge_that_loses_to_a_compaction_fails_whole_and_its_retry_lands(
        spark, lake, tmp_path, caplog) -> None:
    """Deterministic interleaving: the MERGE has read its snapshot and is computing its
    source (a UDF waiting for a go file) while maintenance compacts and checkpoints. The
    lost commit writes nothing; the MERGE runs again from the same source by itself."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    months = ["2026-01", "2026-02"]
    for b in range(3):
        merge(spark, lake, TRANSACTIONS, txn_frame(spark, b, months[b % 2], 20),
              partitions=months)
    plain = txn_frame(spark, 9, months[0], 5).unionByName(
        txn_frame(spark, 0, months[0], 5, bump=50))  # 5 new rows, 5 updates
    expected = {r["partner_txn_id"]: r["amount"]
                for r in delta(lake, TRANSACTIONS).to_pyarrow_table().to_pylist()}
    expected |= {r["partner_txn_id"]: r["amount"] for r in plain.collect()}
    started, go = tmp_path / "merge_started", tmp_path / "go"

    def gate(value, started=str(started), go=str(go)):  # no hints: a plain Python UDF
        import os
        import time

        open(started, "a").close()
        deadline = time.time() + 30
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.02)
        return value

    source = plain.withColumn("currency", F.udf(gate, T.StringType())(F.col("currency")))
    outcomes: list[str] = []

    def nightly() -> None:
        for _attempt in range(3):  # a failed nightly step is run again
            try:
                merge(spark, lake, TRANSACTIONS, source, partitions=months)
                outcomes.append("committed")
                return
            except Exception as exc:  # Sail refuses the commit
                outcomes.append(f"failed: {str(exc)[:60]}")

    writer = threading.Thread(target=nightly)
    writer.start()
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
        time.sleep(0.02)
    report = maintain_table(lake, TRANSACTIONS)  # while the MERGE waits
    go.touch()
    writer.join()

    assert report.files_written == 1 and report.checkpoint_version == report.version_after
    assert outcomes == ["committed"]  # retried inside run_merge, not by its caller
    assert "lost a commit race (attempt 1 of 3)" in caplog.text
    rows = delta(lake, TRANSACTIONS).to_pyarrow_table(
        columns=["partner_txn_id", "amount"]).to_pylist()
    assert len(rows) == len(expected) == 65
    assert {r["partner_txn_id"]: r["amount"] for r in rows} == expected


def test_a_sail_writer_racing_maintenance_loses_and_duplicates_nothing(spark, lake) -> None:
    months = ["2026-01", "2026-02"]
    merge(spark, lake, TRANSACTIONS, txn_frame(spark, 0, months[0], 20), partitions=months)
    expected = {r["partner_txn_id"]: r["amount"] for r in
                delta(lake, TRANSACTIONS).to_pyarrow_table().to_pylist()}
    lost_commits: list[str] = []

    def nightlies() -> None:
        for b in range(1, 7):  # new rows, plus an update of the previous night's rows
            new = txn_frame(spark, b, months[b % 2], 20)
            upd = txn_frame(spark, b - 1, months[(b - 1) % 2], 8, bump=100)
            source = new.unionByName(upd)
            for _attempt in range(8):  # a failed nightly step is simply run again
                try:
                    merge(spark, lake, TRANSACTIONS, source, partitions=months)
                    break
                except Exception as exc:  # Sail: "Failed to commit transaction"
                    lost_commits.append(str(exc)[:80])
            else:
                raise AssertionError(f"the writer never committed: {lost_commits}")
            for r in source.collect():
                expected[r["partner_txn_id"]] = r["amount"]

    writer = threading.Thread(target=nightlies)
    writer.start()
    reports = []
    while writer.is_alive():
        reports.append(maintain_table(lake, TRANSACTIONS, Policy(attempts=10)))
    writer.join()
    reports.append(maintain_table(lake, TRANSACTIONS, Policy(attempts=10)))

    assert sum(r.files_written for r in reports[:-1]) > 0  # compactions did interleave
    rows = delta(lake, TRANSACTIONS).to_pyarrow_table(
        columns=["partner_txn_id", "amount"]).to_pylist()
    assert len(rows) == len({r["partner_txn_id"] for r in rows})
    assert {r["partner_txn_id"]: r["amount"] for r in rows} == expected
    assert spark.read.format("delta").load(lake.uri(TRANSACTIONS)).count() == len(expected)


# -- Dagster job, schedule, definitions, CLI ------------------------------------------------

def _run_job(instance: dg.DagsterInstance, lake: Lake, **config: Any) -> dg.ExecuteInProcessResult:
    from assets.resources import LakeResource, WriterLeaseResource
    from jobs.maintenance import maintenance as job

    lease = WriterLeaseResource(locks_dir=str(Path(lake.root).parent / "locks"),
                                lake_root=lake.root, wait=0)
    return job.execute_in_process(
        run_config={"ops": {"maintain_tables": {"config": config}}}, instance=instance,
        resources={"lake": LakeResource(root=lake.root), "writer_lease": lease},
        raise_on_error=False)


def _run_failure(result: dg.ExecuteInProcessResult) -> str:
    """What stopped a run that failed before or in its step."""
    from finlake.runner import run_errors

    return " ".join(run_errors(result))


def test_the_job_waits_for_a_running_nightly_and_not_for_a_dead_one(lake: Lake,
                                                                    monkeypatch) -> None:
    from dagster._core.test_utils import create_run_for_test

    from assets import runs
    from tests.support.lease_helpers import writer_elsewhere

    for b in range(4):
        append_rows(lake, AUDIT_LOG, audit_rows(b))
    version = delta(lake, AUDIT_LOG).version()
    locks = Path(lake.root).parent / "locks"
    with dg.instance_for_test() as instance:
        with writer_elsewhere(locks, lake.root, job="nightly"):  # a live nightly
            result = _run_job(instance, lake)
        assert not result.success
        assert "a nightly run (0123456789ab" in _run_failure(result)
        assert "is writing the lake" in _run_failure(result)
        assert delta(lake, AUDIT_LOG).version() == version  # nothing was touched

        # A nightly killed -9 stays STARTED in Dagster's storage: it blocks nothing, and
        # the maintenance run marks it failed with the reason.
        killed = create_run_for_test(instance, job_name="nightly",
                                     status=dg.DagsterRunStatus.STARTED)
        monkeypatch.setattr(runs, "START_GRACE_SECONDS", 0.0)
        result = _run_job(instance, lake, tables=["audit_log"])
        assert result.success
        summary = result.output_for_node("maintain_tables")["totals"]
        assert (summary["files_before"], summary["files_after"]) == (8, 2)
        assert files(lake, AUDIT_LOG) == 2
        stuck = instance.get_run_by_id(killed.run_id)
        assert stuck.status == dg.DagsterRunStatus.FAILURE


def test_the_schedule_runs_daily_after_the_nightly_window_full_on_sundays(tmp_path) -> None:
    from dagster._core.test_utils import create_run_for_test

    from assets.resources import WriterLeaseResource
    from jobs.maintenance import maintenance_schedule
    from tests.support.lease_helpers import writer_elsewhere

    locks, root = tmp_path / "locks", str(tmp_path / "lake")
    lease = WriterLeaseResource(locks_dir=str(locks), lake_root=root, wait=0)

    def tick(instance: dg.DagsterInstance, when: datetime) -> Any:
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                       resources={"writer_lease": lease}) as ctx:
            return maintenance_schedule.evaluate_tick(ctx)

    assert maintenance_schedule.cron_schedule == "*/30 8-11 * * *"  # nightly: 02:00 + 6 h
    with dg.instance_for_test() as instance:
        monday = tick(instance, datetime(2026, 3, 2, 8, 0, tzinfo=UTC)).run_requests[0]
        cfg = monday.run_config["ops"]["maintain_tables"]["config"]
        assert (monday.run_key, cfg["min_small_files"], cfg["vacuum_full"]) == (
            "maintenance-2026-03-02", DAILY_MIN_SMALL_FILES, False)
        sunday = tick(instance, datetime(2026, 3, 8, 8, 30, tzinfo=UTC)).run_requests[0]
        cfg = sunday.run_config["ops"]["maintain_tables"]["config"]
        assert (cfg["min_small_files"], cfg["vacuum_full"]) == (FULL_MIN_SMALL_FILES, True)

        with writer_elsewhere(locks, root, job="replay"):
            late = tick(instance, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
        assert not late.run_requests and "a replay run" in late.skip_message
        create_run_for_test(instance, job_name="replay", status=dg.DagsterRunStatus.STARTED)
        dead = tick(instance, datetime(2026, 3, 4, 8, 0, tzinfo=UTC))  # its process is gone
        assert dead.run_requests


def test_definitions_load_with_the_maintenance_job_and_schedule(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    from finlake.definitions import defs

    d = defs()
    dg.Definitions.validate_loadable(d)
    assert d.resolve_job_def("maintenance").name == "maintenance"
    assert d.resolve_schedule_def("maintenance_schedule").job_name == "maintenance"


def test_finlake_maintain_prints_a_line_per_table(tmp_path, monkeypatch, capsys) -> None:
    from core.settings import load_settings
    from finlake.cli import main

    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))  # restored afterwards
    lake = Lake(load_settings().lake_root)
    for b in range(3):
        append_rows(lake, AUDIT_LOG, audit_rows(b))
        append_rows(lake, LOGINS, small_rows(LOGINS, b))
    version = delta(lake, AUDIT_LOG).version()

    assert main(["maintain", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "audit_log" in out and "would compact 2/2 partitions (6 small files)" in out
    assert "transactions" in out and "not created yet" in out
    assert delta(lake, AUDIT_LOG).version() == version

    assert main(["maintain", "--table", "audit_log", "--table", "logins"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    assert [ln.split()[0] for ln in lines] == ["audit_log", "logins", "total:"]
    assert "files     6 -> 2" in lines[0] and "checkpoint v" in lines[0]
    assert files(lake, AUDIT_LOG) == 2 and files(lake, LOGINS) == 1

    assert main(["maintain", "--table", "nope"]) == 2
    assert "unknown table 'nope'" in capsys.readouterr().err


def test_maintain_covers_every_registry_table_and_skips_absent_ones(lake: Lake) -> None:
    append_rows(lake, AUDIT_LOG, audit_rows(0))
    said: list[str] = []
    reports = maintain(lake, say=said.append)
    from lake.tables import REGISTRY

    assert [r.table for r in reports] == list(REGISTRY) and len(said) == len(REGISTRY)
    assert {r.table for r in reports if r.status != "absent"} == {"audit_log"}
