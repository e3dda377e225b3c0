"""forget-user's Dagster part: deleting a run that named the person also removes what
Dagster's own ``delete_run`` leaves in the event log's index (asset check evaluations, the
asset's cached latest materialization), and runs that never named them are kept whole."""

import sqlite3
from pathlib import Path

import dagster as dg

from jobs.forget import purge_runs

ITEM = "itemZZpersonal0123456789abcdef"  # the kind of id a partner gives a person's link


class Who(dg.Config):
    item: str = ""


@dg.asset
def pages(config: Who) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"item": config.item} if config.item else {"n": 1})


@dg.asset_check(asset=pages)
def synced(config: Who) -> dg.AssetCheckResult:
    late = {config.item: "late"} if config.item else {}
    return dg.AssetCheckResult(passed=not late, metadata={"late": dg.MetadataValue.json(late)})


JOB = dg.Definitions(assets=[pages], asset_checks=[synced],
                     jobs=[dg.define_asset_job("sync")]).resolve_job_def("sync")


def _run(instance: dg.DagsterInstance, item: str = "") -> str:
    who = {"config": {"item": item}}
    run_config = {"ops": {"pages": who, "pages_synced": who}} if item else None
    return JOB.execute_in_process(instance=instance, run_config=run_config,
                                  raise_on_error=False).run_id


def _index_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*.db"))


def test_a_deleted_runs_check_results_and_latest_materialization_leave_the_index(
        tmp_path: Path) -> None:
    home = tmp_path
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        kept = _run(instance)
        # The person's run is the asset's latest materialization and ran a check naming them.
        mine = _run(instance, ITEM)
        assert ITEM.encode() in _index_bytes(home)
        assert instance.get_latest_materialization_event(pages.key).run_id == mine

        deleted, hits = purge_runs(instance, {ITEM}, current_run="none", home=home)

        assert deleted == 1 and hits.clean, hits.found
        assert {r.run_id for r in instance.get_runs()} == {kept}
        assert ITEM.encode() not in _index_bytes(home)
        with sqlite3.connect(home / "history" / "runs" / "index.db") as db:
            runs = {r[0] for r in db.execute("SELECT run_id FROM asset_check_executions")}
        assert runs == {kept}
        # Dagster's latest materialization of the asset is the kept run's again.
        assert instance.get_latest_materialization_event(pages.key).run_id == kept
        [record] = instance.get_asset_records([pages.key])
        assert record.asset_entry.last_run_id == kept


def test_runs_that_never_named_the_person_are_kept(tmp_path: Path) -> None:
    home = tmp_path
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        runs = {_run(instance) for _ in range(2)}
        deleted, hits = purge_runs(instance, {ITEM}, current_run="none", home=home)
        assert deleted == 0 and hits.clean
        assert {r.run_id for r in instance.get_runs()} == runs
