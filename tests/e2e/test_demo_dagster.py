"""The main job end to end through Dagster: sandbox bank -> raw -> silver -> gold.

Runs ``finlake demo`` itself (in-process; the session's one demo build, on a copy of it
here), reconciles against the bank's truth, runs the same partitions again and proves every
table's content is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import load_settings
from finlake.commands import pipeline as commands
from lake.lake import Lake
from tests.support.demo import copy_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def fingerprints(lake: Lake) -> dict[str, str]:
    """Content hash per table; the audit log of sync attempts grows by design on a re-run,
    and ``step_marks`` says which run last completed each step (a re-sync lands new raw
    pages, so the re-run merges again and marks it). ``institution_health`` is compared by
    ``health_rows`` instead."""
    out = {}
    for t in lake.tables():
        if t.layer == "audit" or t.name in ("institution_health", "step_marks"):
            continue
        rows = lake.delta(t).to_pyarrow_table().to_pylist()
        canon = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
        out[t.name] = hashlib.sha256("\n".join(canon).encode()).hexdigest()
    return out


def health_rows(lake: Lake) -> dict[tuple, dict]:
    rows = lake.delta(lake_table("institution_health")).to_pyarrow_table().to_pylist()
    return {(r["institution_id"], r["sync_date"]): r for r in rows}


def assert_health_unchanged(before: dict[tuple, dict], after: dict[tuple, dict],
                            since: datetime) -> None:
    """A re-run changes nothing in a day whose freshness deadline had passed when the first
    run started. Before the deadline the lag is provisional: a re-run syncs again, so the data
    it measures is fresher and the lag may only shrink; every count and verdict stays."""
    from assets.resources import SlaSettings

    settings = load_settings()
    sla = SlaSettings(timezone=settings.sla_timezone, deadline=settings.sla_deadline)
    assert after.keys() == before.keys()
    for key, b in before.items():
        a = after[key]
        if sla.deadline_for(b["sync_date"]) <= since:
            assert a == b, key
        else:
            assert {k: v for k, v in a.items() if k != "lag_hours"} \
                == {k: v for k, v in b.items() if k != "lag_hours"}, key
            assert (a["lag_hours"] is None) == (b["lag_hours"] is None), key
            assert a["lag_hours"] is None or a["lag_hours"] <= b["lag_hours"], key


@pytest.fixture(scope="module")
def demo_home(demo_build, tmp_path_factory) -> Path:
    """This module's own copy of the session's demo (its tests re-run and tamper with it)."""
    home = copy_demo(demo_build, tmp_path_factory.mktemp("finlake_home") / "home")
    mp = pytest.MonkeyPatch()
    mp.setenv("FINLAKE_HOME", str(home))
    mp.delenv("FINLAKE_PARTNER_HOST", raising=False)
    yield home
    mp.undo()


def test_demo_reconciles_and_a_rerun_changes_nothing(demo_build, demo_home) -> None:
    settings = load_settings()
    started = demo_build.started  # the first run is the session's demo build (rc 0)
    out = demo_build.stdout
    assert "[2/2]" in out and "FAILED" not in out
    # every partition: the raw, silver and nine gold suites, raw = silver, gold = silver
    assert out.count("checks 13 ok") == 2
    result = json.loads(out.split("reconcile against the sandbox bank's truth:\n")[1]
                        .splitlines()[0])
    assert result["truth_rows"] > 100
    assert (result["lost"], result["duplicated"], result["phantom"], result["mismatched"]) \
        == (0, 0, 0, 0)

    lake = Lake(settings.lake_root)
    assert {"transactions", "accounts", "monthly_spend", "credentials", "balances_daily",
            "net_worth_daily", "recurring_payments", "daily_spend", "monthly_cashflow",
            "spend_trends", "budget_progress"} <= {t.name for t in lake.tables()}
    outbox = lake.delta(lake_table("alerts"))
    alerts = outbox.to_pyarrow_table().to_pylist() if outbox else []
    assert all(a["sent_at"] is not None for a in alerts)  # the outbox was delivered
    # Net worth: one row per user per demo day, assets - liabilities to the cent.
    worth = lake.delta(lake_table("net_worth_daily")).to_pyarrow_table().to_pylist()
    assert len(worth) == 3 * 2
    assert all(w["net_worth"] == w["assets"] - w["liabilities"] for w in worth)
    before, health = fingerprints(lake), health_rows(lake)
    versions = {t.name: lake.delta(t).version() for t in lake.tables()}
    assert commands.demo(settings, users=3, days=2) == 0
    assert fingerprints(lake) == before  # alerts included: no second alert, none re-sent
    assert_health_unchanged(health, health_rows(lake), started)
    # A replay with nothing new commits nothing to silver or gold.
    assert lake.delta(lake_table("transactions")).version() == versions["transactions"]
    assert lake.delta(lake_table("monthly_spend")).version() == versions["monthly_spend"]
    assert commands.reconcile(settings) == 0


def _demo_days(demo_build) -> list[str]:
    """The partitions the demo ran ("partitions FIRST .. LAST" in its first line)."""
    first, last = (date.fromisoformat(d) for d in demo_build.stdout.split("partitions ", 1)[1]
                   .split(",")[0].split(" .. "))
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def test_cli_runs_show_under_their_job_schedule_and_partitions(demo_build, demo_home) -> None:
    """Issue 25, item 9: the nightly runs `finlake demo` started carry the origin of the code
    location `finlake ui` serves, so the job's page, the schedule's page and the assets'
    partitions list them (they used to appear under Runs only)."""
    import dagster as dg
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG, SCHEDULE_NAME_TAG
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    from finlake.location import write_workspace
    from finlake.runner import prepare_instance

    settings = load_settings()
    instance = prepare_instance(settings)
    # What `finlake ui` serves: its workspace file, loaded the way `dagster dev` loads it.
    [served] = location_origins_from_yaml_paths([str(write_workspace(settings.dagster_home))])
    location = InProcessCodeLocationOrigin(
        served.loadable_target_origin, location_name=served.location_name
    ).create_location(instance)
    try:
        [repo] = location.get_repositories().values()
        label = repo.get_remote_origin().get_label()
        nightly = repo.get_full_job("nightly")
        [schedule] = [s for s in repo.get_schedules() if s.job_name == "nightly"]
        keys = repo.asset_graph.get(dg.AssetKey("silver_transactions")).partitions_def \
            .get_partition_keys()
    finally:
        location.cleanup()
    days = _demo_days(demo_build)
    # The job's page: runs of the job, tagged with the served repository.
    runs = instance.get_runs(dg.RunsFilter(job_name="nightly",
                                           tags={REPOSITORY_LABEL_TAG: label}))
    assert sorted({r.tags["dagster/partition"] for r in runs}) == days
    for run in runs:
        origin = run.remote_job_origin
        assert origin is not None and origin.location_name == served.location_name
        assert origin.repository_origin.repository_name == repo.name
        assert origin.job_name == nightly.name and run.job_code_origin is not None
        assert run.tags["dagster/partition_set"] == "nightly_partition_set"
        assert run.tags["finlake/launched_by"] == "cli"
    # The schedule's page: the runs tagged with the schedule, in the served repository.
    assert {r.run_id for r in instance.get_runs(dg.RunsFilter(tags={
        SCHEDULE_NAME_TAG: schedule.name, REPOSITORY_LABEL_TAG: label}))} \
        == {r.run_id for r in runs}
    # The partitions: from the first day with data to yesterday, every one of them filled.
    assert keys[0] == days[0] and keys[:len(days)] == days
    assert set(days) <= instance.get_materialized_partitions(dg.AssetKey("silver_transactions"))


def test_every_table_the_nightly_writes_reports_its_schema_and_rows(demo_home) -> None:
    """Issue 25, item 9: every table in the lake after the demo is in the lineage; those the
    nightly run writes are materialised by it with their column schema and row count."""
    import dagster as dg

    from assets.table_assets import INPUT_TABLES, NOT_ASSETS, STEP_TABLES
    from finlake.definitions import defs
    from finlake.runner import prepare_instance
    from lake.tables import table

    settings = load_settings()
    instance = prepare_instance(settings)
    lake = Lake(settings.lake_root)
    keys = {k.to_user_string() for k in defs().resolve_asset_graph().get_all_asset_keys()}
    asset_of = {t.name: key for key, t in STEP_TABLES.items()}
    written = {t.name for t in lake.tables()} - set(NOT_ASSETS)
    assert {asset_of.get(name, name) for name in written} <= keys
    nightly = [t for t in written if table(t) not in INPUT_TABLES]
    assert {"accounts", "alerts", "sync_jobs", "credentials", "balances_daily",
            "expense_days", "gold_changes"} <= set(nightly)  # 14 asset keys for 29 tables
    last = max(instance.get_run_records(dg.RunsFilter(job_name="nightly")),
               key=lambda r: (r.dagster_run.tags["dagster/partition"], r.create_timestamp))
    reported = {}
    for entry in instance.all_logs(last.dagster_run.run_id,
                                   of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.asset_materialization
        reported[mat.asset_key.to_user_string()] = mat.metadata
    for name in nightly:
        if name == "merchant_rules":  # the weekly job's: seeded by silver, not a nightly asset
            continue
        meta = reported[asset_of.get(name, name)]
        columns = [c.name for c in meta["dagster/column_schema"].schema.columns]
        assert columns == table(name).column_names, name
        rows = lake.delta(table(name)).to_pyarrow_dataset().count_rows()
        assert meta["dagster/row_count"].value == rows, name


def test_the_demo_evaluates_the_freshness_checks(demo_build, demo_home) -> None:
    """Issue 25, item 9: after its nightlies the demo evaluates the freshness checks (their
    sensor also runs by default), so the UI no longer shows them "Not evaluated"."""
    import dagster as dg

    from finlake.definitions import defs
    from finlake.runner import prepare_instance

    assert "freshness checks: " in demo_build.stdout
    instance = prepare_instance(load_settings())
    checks = [k for c in defs().asset_checks for k in c.check_keys
              if k.name in ("freshness_check", "due_items_synced_by_deadline")]
    assert len(checks) == 13
    summary = instance.event_log_storage.get_asset_check_summary_records(checks)
    assert [k.to_user_string() for k, s in summary.items()
            if s.last_completed_check_execution_record is None] == []
    assert instance.get_runs(dg.RunsFilter(job_name="freshness"))


def test_no_plaintext_token_lands_on_disk(demo_home) -> None:
    from connectors.credentials import CredentialStore
    from connectors.vault import LocalKeyProvider, Vault

    settings = load_settings()
    lake = Lake(settings.lake_root)
    if not lake.tables():
        commands.demo(settings, users=3, days=2)
    creds = CredentialStore(lake, Vault(LocalKeyProvider(settings.key_dir)))
    tokens = [creds.token(c) for c in creds.all()]
    assert tokens and all(t.startswith("access-sandbox-") for t in tokens)
    for path in demo_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(t.encode() in data for t in tokens), path
    assert oct(next(settings.key_dir.glob("kek-*.key")).stat().st_mode)[-3:] == "600"
    # Analysts never see the credentials table, not even sealed.
    from finlake.commands.sql import run_sql

    assert run_sql(lake, "SELECT * FROM credentials", "csv") == 2


def lake_table(name: str):
    from lake.tables import table

    return table(name)


def test_dagster_definitions_validate(tmp_path, monkeypatch) -> None:
    env = {"FINLAKE_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path), "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m",
         "finlake.definitions"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from finlake.definitions import defs

    # Partitions start on the first day synced; the tick below is from before the demo's.
    monkeypatch.setenv("FINLAKE_PARTITION_START", "2026-01-01")
    d = defs()
    assert {j.name for j in d.jobs} >= {"nightly", "replay"}
    schedule = d.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    import dagster as dg

    when = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
        requests = list(schedule.evaluate_tick(ctx).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-11-20"]  # yesterday's partition


def _demo_lake() -> Lake:
    settings = load_settings()
    lake = Lake(settings.lake_root)
    if not lake.tables():
        commands.demo(settings, users=3, days=2)
    return lake


def test_silver_that_no_longer_matches_raw_blocks_gold(demo_home) -> None:
    """Silver tampered after publishing: the raw-silver reconciliation fails, gold waits."""
    from finlake.definitions import defs
    from finlake.runner import prepare_instance, run_partition
    from lake.spark import spark_session
    from lake.tables import TRANSACTIONS

    lake = _demo_lake()
    day = max(r["sync_date"] for r in lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist())
    spark_session().sql(
        f"UPDATE delta.`{lake.uri(TRANSACTIONS)}` SET currency = 'XXX' "
        f"WHERE sync_date = DATE'{day}' AND status = 'live'")
    gold_version = lake.delta(lake_table("monthly_spend")).version()
    run = run_partition(defs(), prepare_instance(load_settings()), "replay", day.isoformat())
    assert run.checks == {"raw_changes_suite": True, "silver_transactions_suite": True,
                          "raw_silver_reconciliation": False}
    assert "silver holds each record as sent" in run.error
    assert "monthly_spend" not in run.metadata  # gold did not publish
    assert lake.delta(lake_table("monthly_spend")).version() == gold_version


def test_a_corrupted_raw_partition_is_blocked_before_publishing(demo_home) -> None:
    """Every record of a landed day rewritten with a broken amount: the raw contract
    quarantines them, the partition-level rule holds the partition, silver is untouched and
    the run says why (with the GX data docs page that shows it)."""
    from finlake.definitions import defs
    from finlake.runner import prepare_instance, run_partition
    from lake import raw
    from lake.tables import QUALITY_RESULTS, TRANSACTIONS

    lake = _demo_lake()
    day = min(r["sync_date"] for r in lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist())
    keys = raw.complete_pages(lake.store, day)
    originals = {k: lake.store.get(k) for k in keys}
    try:
        for key, body in originals.items():
            page = json.loads(body)
            for section in ("added", "modified"):
                for rec in page["response"].get(section) or []:
                    rec["amount"] = "twelve"
            lake.store.put(key, json.dumps(page).encode())
        silver_version = lake.delta(TRANSACTIONS).version()
        run = run_partition(defs(), prepare_instance(load_settings()), "replay",
                            day.isoformat())
        assert not run.success
        assert run.checks == {"raw_changes_suite": False}
        assert "not published" in run.error and "quarantined share" in run.error
        assert lake.delta(TRANSACTIONS).version() == silver_version
        assert "silver_transactions" not in run.metadata
        [blocked] = [r for r in lake.delta(QUALITY_RESULTS).to_pyarrow_table().to_pylist()
                     if not r["passed"] and r["suite"] == "raw_changes"]
        assert "BLOCKED" in lake.store.get(blocked["report_ref"]).decode()
    finally:
        for key, body in originals.items():
            lake.store.put(key, body)


def test_a_day_with_nothing_landed_runs_clean(demo_home, monkeypatch) -> None:
    """No page landed for the day: every check still reports (nothing to validate)."""
    from finlake.definitions import defs
    from finlake.runner import prepare_instance, run_partition
    from lake.tables import TRANSACTIONS

    lake = _demo_lake()
    first = min(r["sync_date"] for r in lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist())
    # Partitions start on the first day synced; days before it are the operator's to add.
    monkeypatch.setenv("FINLAKE_PARTITION_START", (first - timedelta(days=7)).isoformat())
    version = lake.delta(TRANSACTIONS).version()
    run = run_partition(defs(), prepare_instance(load_settings()), "replay",
                        (first - timedelta(days=3)).isoformat())
    assert run.success, run.error
    assert run.checks and all(run.checks.values())
    assert lake.delta(TRANSACTIONS).version() == version


def test_a_replay_of_an_unchanged_day_skips_to_its_checks(demo_build, tmp_path, monkeypatch,
                                                          capsys) -> None:
    """Issue 21, item 5: a replay whose inputs match what the day's steps last completed with
    does no work and says so; any change in raw re-merges; a change to a table only gold
    reads refreshes gold alone; silver edited after publishing is merged and checked again."""
    from finlake.definitions import defs
    from finlake.runner import prepare_instance, run_partition
    from lake import raw
    from lake.tables import BUDGETS, QUARANTINE, TRANSACTIONS

    home = copy_demo(demo_build, tmp_path / "home")
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_PARTNER_HOST", raising=False)
    lake = Lake(load_settings().lake_root)
    day = max(r["sync_date"] for r in lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist())

    def replay():
        run = run_partition(defs(), prepare_instance(load_settings()), "replay",
                            day.isoformat())
        assert run.success, run.error
        assert run.checks and all(run.checks.values()), run.checks
        return run

    def skipped(run) -> set[str]:
        return {a for a, meta in run.metadata.items() if "skipped" in meta}

    replay()  # marks what the demo's own run may not have (e.g. after its re-run)
    versions = {t.name: lake.delta(t).version() for t in lake.tables()}
    content = fingerprints(lake)
    run = replay()
    assert skipped(run) >= {"silver_transactions", "daily_spend", "budget_progress",
                            "net_worth", "recurring_payments"}
    assert "inputs unchanged since run" in run.metadata["silver_transactions"]["skipped"]
    assert {t.name: lake.delta(t).version() for t in lake.tables()} == versions
    assert fingerprints(lake) == content

    # A budget set by the person: only gold reads it, so only gold is refreshed.
    from lake.small_tables import upsert_rows

    user = lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()[0]["user_id"]
    upsert_rows(lake, BUDGETS, [{"user_id": user, "category_primary": "ENTERTAINMENT",
                                 "amount": Decimal("123.00"), "set_by": "cli",
                                 "set_at": datetime.now(UTC)}])
    run = replay()
    assert "silver_transactions" in skipped(run) and "budget_progress" not in skipped(run)

    # Raw changed: an unreadable partner response kept for quarantine lands under the day.
    page = raw.complete_pages(lake.store, day)[0]
    kept = page.rsplit("/", 1)[0] + "/rejected-00077.json"
    lake.store.put(kept, b'{"truncated": ')

    def quarantined() -> int:
        table = lake.delta(QUARANTINE)
        return table.to_pyarrow_table().num_rows if table else 0

    before = quarantined()
    run = replay()
    assert "silver_transactions" not in skipped(run)  # merged and checked again
    assert quarantined() == before + 1
    assert "daily_spend" in skipped(run)  # the bad page changed nothing gold reads
    assert skipped(replay()) >= {"silver_transactions", "daily_spend"}
    capsys.readouterr()
    assert commands.nightly(load_settings(), day, replay=True) == 0
    said = capsys.readouterr().out
    assert "silver skipped (raw and silver unchanged" in said and "gold skipped" in said
    assert commands.reconcile(load_settings()) == 0
