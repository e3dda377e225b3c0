"""What the Dagster UI shows of finlake's definitions (issue 25, item 9): partitions that
start where the data does, a description on every job, schedule and sensor, freshness checks
that need no manual switch, and every lake table in the lineage with the steps that use it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from core.settings import ConfigError, load_settings
from lake.lake import Lake
from lake.tables import INSTITUTIONS, REGISTRY, SYNC_JOBS
from tests.support.lake_fixtures import write_table

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("FINLAKE_S3_BUCKET", "FINLAKE_ENV", "FINLAKE_PARTNER_HOST",
                 "FINLAKE_PARTITION_START"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    return tmp_path


def definitions() -> dg.Definitions:
    from finlake.definitions import defs

    d = defs()
    dg.Definitions.validate_loadable(d)
    return d


def synced(home: Path, *days: date) -> None:
    """``sync_jobs`` rows for ``days`` in the home's lake (what a nightly run records)."""
    write_table(Lake(load_settings().lake_root), SYNC_JOBS, [
        {"job_id": f"j{i}", "sync_date": d, "status": "success", "item_id": "item",
         "institution_id": "ins_1", "trigger": "nightly"} for i, d in enumerate(days)])


def first_day(d: dg.Definitions) -> str:
    return d.resolve_job_def("nightly").partitions_def.get_first_partition_key()


# --- partitions: from the first day with data, or FINLAKE_PARTITION_START ----------------


def test_partitions_start_on_the_first_day_the_lake_synced(home: Path) -> None:
    synced(home, YESTERDAY - timedelta(days=1), YESTERDAY - timedelta(days=6),
           YESTERDAY)
    d = definitions()
    keys = d.resolve_job_def("nightly").partitions_def.get_partition_keys()
    assert keys[0] == (YESTERDAY - timedelta(days=6)).isoformat()
    assert keys[-1] == YESTERDAY.isoformat() and len(keys) == 7  # not 1,070 since 2024
    # Every daily asset and the replay job and schedule count the same days.
    graph = d.resolve_asset_graph()
    assert {graph.get(k).partitions_def.get_first_partition_key()
            for k in graph.get_all_asset_keys() if graph.get(k).partitions_def} == {keys[0]}
    assert first_day(d) == keys[0] and d.resolve_job_def("replay").partitions_def \
        .get_first_partition_key() == keys[0]
    assert d.resolve_schedule_def("nightly_schedule").cron_schedule == "0 2 * * *"


def test_a_configured_start_wins_and_a_new_lake_takes_any_day(home: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from assets.partitions import EARLIEST_PARTITION

    assert first_day(definitions()) == EARLIEST_PARTITION.isoformat()  # nothing synced yet
    assert not (home / "lake").exists()  # and looking created nothing
    synced(home, YESTERDAY)
    monkeypatch.setenv("FINLAKE_PARTITION_START", "2026-01-01")
    assert load_settings().partition_start == date(2026, 1, 1)
    assert first_day(definitions()) == "2026-01-01"


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "20260101", "2026-1-1"])
def test_a_bad_partition_start_is_a_clear_error(home: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"FINLAKE_PARTITION_START=.*use YYYY-MM-DD"):
        load_settings({"FINLAKE_HOME": str(home), "FINLAKE_PARTITION_START": value})


def test_a_cli_day_before_the_first_partition_is_a_backfill(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Unset, the first synced day is where the UI starts, not a wall: `finlake nightly` for
    an earlier day runs it on partitions reaching back to it. A configured start is one."""
    from finlake import runner
    from finlake.cli import main

    synced(home, YESTERDAY)
    earlier = YESTERDAY - timedelta(days=3)
    ran: list[tuple[str, str]] = []

    def run_partition(defs: dg.Definitions, _instance, job: str, partition: str):
        ran.append((first_day(defs), partition))
        return runner.PartitionRun(partition, True, 0.0)

    monkeypatch.setattr(runner, "run_partition", run_partition)
    monkeypatch.setattr(runner, "prepare_instance", lambda _settings: None)
    assert main(["nightly", "--date", earlier.isoformat()]) == 0
    assert ran == [(earlier.isoformat(), earlier.isoformat())]
    assert first_day(definitions()) == YESTERDAY.isoformat()  # until the backfill synced

    monkeypatch.setenv("FINLAKE_PARTITION_START", YESTERDAY.isoformat())
    assert main(["nightly", "--date", earlier.isoformat()]) == 2
    err = capsys.readouterr().err
    assert f"daily partitions run from {YESTERDAY}" in err and "FINLAKE_PARTITION_START" in err
    assert len(ran) == 1


# --- runs the CLI starts -------------------------------------------------------------------


def test_a_cli_run_carries_the_code_locations_origin(home: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`finlake weekly` on a new home: the run is one of the code location `finlake ui`
    serves (listed under its job and schedule), and the command prints what it made."""
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG, SCHEDULE_NAME_TAG

    from finlake.cli import main
    from finlake.location import location_origin
    from finlake.runner import prepare_instance

    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # restored afterwards
    assert main(["weekly"]) == 0
    out = capsys.readouterr().out
    assert 'merchant_rules: {"dagster/row_count": 0}' in out and "done in" in out
    instance = prepare_instance(load_settings())
    label = f"__repository__@{location_origin().location_name}"
    [run] = instance.get_runs(dg.RunsFilter(job_name="weekly_categories",
                                            tags={REPOSITORY_LABEL_TAG: label}))
    assert run.remote_job_origin.repository_origin.code_location_origin == location_origin()
    assert run.tags[SCHEDULE_NAME_TAG] == "weekly_categories_schedule"


# --- descriptions and freshness ------------------------------------------------------------


def test_every_job_schedule_and_sensor_is_described(home: Path) -> None:
    repo = definitions().get_repository_def()
    things = [*(j for j in repo.get_all_jobs() if not j.name.startswith("__")),
              *repo.schedule_defs, *repo.sensor_defs]
    assert {t.name for t in things} >= {"nightly", "replay", "weekly_categories",
                                        "on_demand_sync", "forget_user", "maintenance",
                                        "freshness", "nightly_schedule", "sync_requests",
                                        "weekly_categories_schedule", "maintenance_schedule",
                                        "freshness_checks_sensor"}
    assert [t.name for t in things if not (t.description or "").strip()] == []


def test_freshness_checks_are_evaluated_without_a_manual_switch(home: Path) -> None:
    d = definitions()
    sensor = d.resolve_sensor_def("freshness_checks_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # The job `finlake demo` runs after its nightlies evaluates the same checks.
    job_checks = d.resolve_job_def("freshness").asset_layer.asset_graph.asset_check_keys
    sensor_checks = {k for c in d.asset_checks if any(
        s.name in ("freshness_check", "due_items_synced_by_deadline") for s in c.check_specs)
        for k in c.check_keys}
    assert sensor_checks and sensor_checks <= set(job_checks)


# --- lineage: every table, and the categories group feeding silver and gold ----------------


def test_every_table_the_pipeline_writes_or_reads_is_an_asset(home: Path) -> None:
    from assets.table_assets import INPUT_TABLES, NOT_ASSETS, STEP_TABLES

    graph = definitions().resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    asset_of = {t.name: key for key, t in STEP_TABLES.items()}
    missing = [name for name in REGISTRY if name not in NOT_ASSETS
               and asset_of.get(name, name) not in keys]
    assert missing == []
    # The exceptions are registered tables, each with its reason, and not assets too.
    assert set(NOT_ASSETS) <= set(REGISTRY)
    assert all(len(reason) > 20 for reason in NOT_ASSETS.values())
    assert not set(NOT_ASSETS) & keys
    # Tables people write are inputs (external assets), the others are materialised by
    # the step that writes them, each declaring its column schema.
    for name in REGISTRY:
        if name in NOT_ASSETS:
            continue
        node = graph.get(dg.AssetKey(asset_of.get(name, name)))
        assert node.is_materializable == (REGISTRY[name] not in INPUT_TABLES), name
        schema = node.metadata["dagster/column_schema"]
        schema = getattr(schema, "schema", schema)  # a metadata value, or the schema itself
        assert [c.name for c in schema.columns] == REGISTRY[name].column_names, name


def test_the_categories_group_feeds_silver_and_gold(home: Path) -> None:
    graph = definitions().resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}

    categories = {k.to_user_string() for k in graph.get_all_asset_keys()
                  if graph.get(k).group_name == "categories"}
    assert categories == {"crowd_rules", "merchant_rules", "category_model"}
    assert {"merchant_rules", "category_model", "category_overrides"} <= parents(
        "silver_transactions")
    assert {"categories", "custom_categories", "gold_changes"} <= parents("monthly_spend")
    assert "budgets" in parents("budget_progress")
    assert "category_overrides" in parents("crowd_rules")


def test_lag_plots_are_keyed_by_bank_name(tmp_path: Path) -> None:
    """The institution health metadata plots each bank's lag under its name."""
    from assets.health import institution_health
    from assets.resources import LakeResource, SlaSettings
    from lake.tables import CREDENTIALS

    lake = Lake(str(tmp_path / "lake"))
    day = date(2026, 3, 1)
    write_table(lake, INSTITUTIONS, [{"institution_id": "ins_1", "name": "First Platypus Bank",
                                      "partner": "sandbox", "rate_limit_qps": 5,
                                      "refresh_every_days": 1}])
    write_table(lake, CREDENTIALS, [{"item_id": "it1", "institution_id": "ins_1",
                                     "user_id": "u1", "status": "active",
                                     "created_at": datetime(2026, 1, 1, tzinfo=UTC)}])
    write_table(lake, SYNC_JOBS, [{
        "job_id": "j1", "sync_date": day, "item_id": "it1", "institution_id": "ins_1",
        "user_id": "u1", "status": "success", "trigger": "nightly", "attempt": 1,
        "started_at": datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        "finished_at": datetime(2026, 3, 2, 2, 5, tzinfo=UTC)}])
    result = dg.materialize([institution_health], partition_key=day.isoformat(),
                            resources={"lake": LakeResource(root=lake.root),
                                       "sla": SlaSettings()})
    [mat] = result.asset_materializations_for_node("institution_health")
    lags = {k for k in mat.metadata if k.startswith("lag_hours/")}
    assert lags == {"lag_hours/First Platypus Bank"}
    assert mat.metadata["dagster/row_count"].value == 1
