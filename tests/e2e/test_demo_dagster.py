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
from datetime import UTC, datetime, timedelta
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


def test_dagster_definitions_validate(tmp_path) -> None:
    env = {"FINLAKE_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path), "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m",
         "finlake.definitions"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from finlake.definitions import defs

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


def test_a_day_with_nothing_landed_runs_clean(demo_home) -> None:
    """No page landed for the day: every check still reports (nothing to validate)."""
    from finlake.definitions import defs
    from finlake.runner import prepare_instance, run_partition
    from lake.tables import TRANSACTIONS

    lake = _demo_lake()
    first = min(r["sync_date"] for r in lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist())
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
