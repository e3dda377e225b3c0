"""Freshness SLA of the nightly sweep: deadlines, due vs stale items, lag, settings, checks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from core.settings import ConfigError, load_settings
from lake.lake import Lake
from lake.tables import CREDENTIALS, INSTITUTION_HEALTH, INSTITUTIONS, SYNC_JOBS
from pipelines.health.freshness import (
    LastSuccess,
    freshness,
    freshness_summary,
    health_with_freshness,
    latest_sync_date_due,
    sla_deadline,
)
from tests.support.lake_fixtures import write_table

DAY = date(2024, 3, 1)  # a UTC partition; New York is on EST (DST starts 2024-03-10)
EIGHT = time(8, 0)
NY = ZoneInfo("America/New_York")
LINKED = datetime(2024, 1, 1, tzinfo=UTC)
INSTITUTIONS_ROWS = {"ins_daily": {"refresh_every_days": 1},
                     "ins_slow": {"refresh_every_days": 3}}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC time in March 2024."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def job(item: str, inst: str, status: str, finished: datetime, attempt: int = 1,
        **extra: Any) -> dict[str, Any]:
    return {"job_id": f"{item}-{attempt}-{status}", "run_id": "r1", "sync_date": DAY,
            "trigger": "nightly", "user_id": "u1", "item_id": item, "institution_id": inst,
            "attempt": attempt, "started_at": finished - timedelta(seconds=30),
            "finished_at": finished, "status": status, **extra}


def cred(item: str, inst: str, status: str = "active", created: datetime = LINKED
         ) -> dict[str, Any]:
    return {"credentials_id": f"cred_{item}", "user_id": "u1", "item_id": item,
            "institution_id": inst, "status": status, "created_at": created,
            "encrypted_token": "sealed", "wrapped_key": "wrapped", "key_id": "k1",
            "failure_count": 0}


def by_inst(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["institution_id"]: r for r in rows}


# --- the deadline -------------------------------------------------------------------------


def test_deadline_is_the_first_local_morning_after_the_utc_day_ends() -> None:
    assert sla_deadline(DAY, EIGHT, UTC) == at(2, 8)
    # 08:00 EST on the next day is 13:00 UTC; in summer (EDT) 12:00 UTC.
    assert sla_deadline(DAY, EIGHT, NY) == at(2, 13)
    assert sla_deadline(date(2024, 7, 1), EIGHT, NY) == datetime(2024, 7, 2, 12, tzinfo=UTC)
    # Tokyo: 08:00 JST on 2 March is 23:00 UTC on 1 March, before the day has ended, so the
    # deadline is the next local morning (as Dagster's cron freshness check also expects).
    tokyo = sla_deadline(DAY, EIGHT, ZoneInfo("Asia/Tokyo"))
    assert tokyo == at(2, 23)
    assert tokyo.astimezone(ZoneInfo("Asia/Tokyo")).date() == date(2024, 3, 3)


def test_latest_sync_date_due_waits_for_the_deadline() -> None:
    assert latest_sync_date_due(at(2, 12, 59), EIGHT, NY) == date(2024, 2, 29)
    assert latest_sync_date_due(at(2, 13, 0), EIGHT, NY) == DAY
    assert latest_sync_date_due(at(2, 8, 0), EIGHT, UTC) == DAY


# --- due, synced, stale, lag ----------------------------------------------------------------


def test_an_item_not_due_is_not_stale_and_a_due_one_without_attempts_is() -> None:
    items = [cred("daily_ok", "ins_daily"), cred("slow_recent", "ins_slow"),
             cred("slow_old", "ins_slow"), cred("slow_missing", "ins_slow")]
    last = {"daily_ok": LastSuccess(date(2024, 2, 29), at(1, 2, 10)),
            "slow_recent": LastSuccess(date(2024, 2, 29), at(1, 2, 20)),  # 1 day ago: not due
            "slow_old": LastSuccess(date(2024, 2, 27), at(2, 2, 0) - timedelta(days=4)),
            "slow_missing": LastSuccess(date(2024, 2, 27), at(2, 2, 0) - timedelta(days=4))}
    jobs = [job("daily_ok", "ins_daily", "success", at(2, 2, 15)),
            job("slow_old", "ins_slow", "success", at(2, 2, 16))]
    rows = by_inst(freshness(jobs, items, INSTITUTIONS_ROWS, last, DAY, at(2, 8), at(2, 9)))
    slow = rows["ins_slow"]
    # slow_old (3 days) and slow_missing are due; slow_recent (synced yesterday) is not.
    assert (slow["items_due"], slow["items_synced"], slow["items_stale"]) == (2, 1, 1)
    assert list(slow["stale_items"]) == ["slow_missing"]
    assert "no sync attempt" in slow["stale_items"]["slow_missing"]
    assert slow["sla_met"] is False
    daily = rows["ins_daily"]
    assert (daily["items_due"], daily["items_stale"], daily["sla_met"]) == (1, 0, True)


def test_a_success_after_the_deadline_and_a_failure_are_stale() -> None:
    items = [cred("late", "ins_daily"), cred("failing", "ins_daily"), cred("ok", "ins_daily")]
    jobs = [job("late", "ins_daily", "success", at(2, 9, 30)),
            job("failing", "ins_daily", "retrying", at(2, 2, 5), error_class="TIMEOUT"),
            job("failing", "ins_daily", "failed", at(2, 2, 6), attempt=2,
                error_class="INSTITUTION_DOWN", detail="institution down"),
            job("ok", "ins_daily", "success", at(2, 7, 59))]
    [row] = freshness(jobs, items, INSTITUTIONS_ROWS, {}, DAY, at(2, 8), at(2, 10))
    assert (row["items_due"], row["items_synced"], row["items_stale"]) == (3, 1, 2)
    assert row["stale_items"]["late"] == "synced 2024-03-02 09:30 UTC, after the deadline"
    assert row["stale_items"]["failing"] == "failed INSTITUTION_DOWN: institution down"
    assert row["sla_met"] is False and row["deadline_passed"] is True
    assert "1/3 due items synced" in row["summary"] and "missed" in row["summary"]


def test_lag_is_the_deadline_minus_the_oldest_last_success_worked_by_hand() -> None:
    items = [cred("fresh", "ins_daily"), cred("behind", "ins_daily"),
             cred("new", "ins_slow", created=at(1, 12))]
    last = {"behind": LastSuccess(date(2024, 2, 28), datetime(2024, 2, 28, 2, 30, tzinfo=UTC))}
    jobs = [job("fresh", "ins_daily", "success", at(2, 2, 15)),
            job("behind", "ins_daily", "failed", at(2, 2, 20), error_class="INSTITUTION_DOWN"),
            job("new", "ins_slow", "failed", at(2, 2, 25), error_class="INVALID_CREDENTIALS")]
    rows = by_inst(freshness(jobs, items, INSTITUTIONS_ROWS, last, DAY, at(2, 8), at(2, 10)))
    # "behind" last synced Wed 28 Feb 02:30 UTC; deadline Sat 2 Mar 08:00 UTC (2024 is a leap
    # year: 28 Feb -> 2 Mar is 3 days) = 72 h + 5 h 30 min = 77.5 h. "fresh" alone is 5.75 h.
    assert rows["ins_daily"]["lag_hours"] == 77.5
    # Never synced: counted from its link time, 1 Mar 12:00 -> 2 Mar 08:00 = 20 h, and listed.
    assert rows["ins_slow"]["lag_hours"] == 20.0
    assert rows["ins_slow"]["never_synced"] == ["new"]
    summary = freshness_summary(list(rows.values()), at(2, 8), at(2, 10))
    assert summary.startswith("SLA missed: 2 of 3 due items not synced")
    assert "max lag 77.5 h (ins_daily)" in summary


def test_a_new_york_deadline_is_08_00_eastern() -> None:
    deadline = sla_deadline(DAY, EIGHT, NY)
    items = [cred("before", "ins_daily"), cred("after", "ins_daily")]
    jobs = [job("before", "ins_daily", "success", at(2, 12, 30)),  # 07:30 EST: in time
            job("after", "ins_daily", "success", at(2, 13, 5))]  # 08:05 EST: late
    last = {"after": LastSuccess(date(2024, 2, 29), at(1, 3, 0))}
    [row] = freshness(jobs, items, INSTITUTIONS_ROWS, last, DAY, deadline, at(3, 0))
    assert row["items_synced"] == 1 and list(row["stale_items"]) == ["after"]
    assert row["stale_items"]["after"].startswith("synced 2024-03-02 13:05 UTC")
    # "after" counts from its previous success, 1 Mar 03:00 UTC -> 2 Mar 13:00 UTC.
    assert row["lag_hours"] == 34.0
    assert "by 2024-03-02 08:00 EST" in row["summary"]


def test_before_the_deadline_a_missing_item_is_at_risk_not_missed() -> None:
    items = [cred("failing", "ins_daily")]
    jobs = [job("failing", "ins_daily", "deferred", at(2, 2, 5), error_class="RATE_LIMIT")]
    rows = freshness(jobs, items, INSTITUTIONS_ROWS, {}, DAY, at(2, 8), at(2, 3))
    assert rows[0]["deadline_passed"] is False and rows[0]["sla_met"] is False
    assert freshness_summary(rows, at(2, 8), at(2, 3)).startswith("SLA at risk: 1 of 1")


def test_a_sweep_that_never_ran_leaves_every_due_item_stale() -> None:
    items = [cred("a", "ins_daily"), cred("expired", "ins_daily", status="expired"),
             cred("linked_later", "ins_daily", created=at(2, 10))]
    rows = freshness([], items, INSTITUTIONS_ROWS, {}, DAY, at(2, 8), at(2, 9))
    [row] = rows
    # The expired item needs its user (not due); the one linked after the day is not due.
    assert (row["items_due"], row["items_stale"], row["items_relink"]) == (1, 1, 1)
    [health] = health_with_freshness([], rows)
    assert (health["status"], health["items"], health["sla_met"]) == ("no_attempts", 0, False)


def test_successes_and_links_after_the_deadline_do_not_count_for_lag() -> None:
    # A late backfill: the item was linked and synced only after the deadline.
    items = [cred("linked_late", "ins_daily", created=at(2, 9))]
    jobs = [job("linked_late", "ins_daily", "success", at(2, 9, 30))]
    [row] = freshness(jobs, items, INSTITUTIONS_ROWS, {}, DAY, at(2, 8), at(2, 10))
    assert row["items_stale"] == 1 and row["never_synced"] == ["linked_late"]
    assert row["lag_hours"] is None  # not "0 h behind": there was nothing at the deadline
    # An earlier success known only by its date (it finished after the deadline) still
    # makes a 3-day item not due, but gives the lag nothing to count from.
    items = [cred("slow", "ins_slow"), cred("slow_due", "ins_slow")]
    last = {"slow": LastSuccess(date(2024, 2, 29), None),
            "slow_due": LastSuccess(date(2024, 2, 26), None)}
    [row] = freshness([], items, INSTITUTIONS_ROWS, last, DAY, at(2, 8), at(2, 10))
    # Counted from its link, 1 Jan 00:00 -> 2 Mar 08:00 UTC: 31 + 29 + 1 days and 8 h.
    assert (row["items_due"], list(row["stale_items"]), row["lag_hours"]) == (
        1, ["slow_due"], 61 * 24 + 8.0)


# --- settings -----------------------------------------------------------------------------


def test_sla_settings_default_and_parse(tmp_path: Path) -> None:
    base = {"FINLAKE_HOME": str(tmp_path)}
    s = load_settings(base)
    assert (s.sla_timezone, s.sla_deadline, s.sla_deadline_cron) == ("UTC", "08:00", "0 8 * * *")
    s = load_settings({**base, "FINLAKE_SLA_TIMEZONE": "America/New_York",
                       "FINLAKE_SLA_DEADLINE": "7:30"})
    assert (s.sla_timezone, s.sla_deadline, s.sla_deadline_cron) == (
        "America/New_York", "07:30", "30 7 * * *")


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "EST+5", "../../etc/passwd"])
def test_an_unknown_sla_timezone_is_a_clear_error(tmp_path: Path, tz: str) -> None:
    with pytest.raises(ConfigError, match="FINLAKE_SLA_TIMEZONE=.*not a known IANA time zone"):
        load_settings({"FINLAKE_HOME": str(tmp_path), "FINLAKE_SLA_TIMEZONE": tz})


@pytest.mark.parametrize("deadline", ["8am", "24:00", "08:60", "0800", "08:00:00"])
def test_a_bad_sla_deadline_is_a_clear_error(tmp_path: Path, deadline: str) -> None:
    with pytest.raises(ConfigError, match=r"FINLAKE_SLA_DEADLINE=.*use HH:MM"):
        load_settings({"FINLAKE_HOME": str(tmp_path), "FINLAKE_SLA_DEADLINE": deadline})


# --- Dagster: the checks, the sensor, the asset ---------------------------------------------


def sla_lake(root: Path) -> Lake:
    """1 Mar 2024 in the lake: one item synced in time, one failed, one not due (3 days)."""
    lake = Lake(str(root))
    write_table(lake, INSTITUTIONS, [{"institution_id": i, "name": i, "partner": "sandbox",
                                      "rate_limit_qps": 5, **v}
                                     for i, v in INSTITUTIONS_ROWS.items()])
    write_table(lake, CREDENTIALS, [cred("ok", "ins_daily"), cred("down", "ins_daily"),
                                    cred("slow", "ins_slow")])
    previous = [{**job(i, inst, "success", at(1, 2) - timedelta(days=1)),
                 "sync_date": date(2024, 2, 29), "job_id": f"{i}-prev"}
                for i, inst in (("ok", "ins_daily"), ("down", "ins_daily"), ("slow", "ins_slow"))]
    # A re-run of 29 Feb long after 1 Mar's deadline: it must not shorten 1 Mar's lag.
    previous.append({**previous[1], "job_id": "down-rerun", "started_at": at(5, 9),
                     "finished_at": at(5, 10)})
    write_table(lake, SYNC_JOBS, [*previous, job("ok", "ins_daily", "success", at(2, 2, 15)),
                                  job("down", "ins_daily", "failed", at(2, 2, 20),
                                      error_class="INSTITUTION_DOWN")])
    return lake


@pytest.fixture
def ny_defs(tmp_path: Path) -> dg.Definitions:
    from assets.freshness_checks import freshness_definitions
    from assets.groups import NIGHTLY_ASSETS
    from assets.resources import resources_for

    settings = load_settings({"FINLAKE_HOME": str(tmp_path),
                              "FINLAKE_SLA_TIMEZONE": "America/New_York"})
    sla_lake(Path(settings.lake_root))
    checks, sensors = freshness_definitions(settings)
    return dg.Definitions(
        assets=NIGHTLY_ASSETS, asset_checks=checks, sensors=sensors,
        jobs=[dg.define_asset_job("sla", selection=dg.AssetSelection.checks(checks[-1])),
              dg.define_asset_job("partition_freshness",
                                  selection=dg.AssetSelection.checks(*checks[:-1]))],
        resources=resources_for(settings))


def test_due_items_check_reports_stale_items_per_institution(ny_defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(ny_defs)
    with dg.instance_for_test() as instance:
        result = ny_defs.resolve_job_def("sla").execute_in_process(
            instance=instance, tags={"dagster/partition": DAY.isoformat()})
        [ev] = result.get_asset_check_evaluations()
    assert ev.check_name == "due_items_synced_by_deadline" and ev.passed is False
    assert ev.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in ev.metadata.items()}
    assert meta["deadline"] == "2024-03-02T08:00:00-05:00"
    assert meta["items_due"] == 2  # "slow" (every 3 days, synced the day before) is not due
    assert list(meta["stale_items"]) == ["ins_daily"]
    [(reason, count)] = meta["stale_items"]["ins_daily"].items()
    assert reason.startswith("failed") and count == 1
    assert '"down"' not in json.dumps(meta, default=str)  # reasons, never an item id
    assert meta["items_stale/ins_daily"] == 1
    assert ev.description.startswith("SLA missed: 1 of 2 due items not synced by 2024-03-02 "
                                     "08:00 EST: ins_daily (1)")


def test_partition_freshness_checks_use_the_sla_deadline(ny_defs: dg.Definitions) -> None:
    from dagster._core.test_utils import freeze_time

    deadline = sla_deadline(DAY, EIGHT, NY)

    def evaluate(now: datetime, instance: dg.DagsterInstance) -> dict[str, tuple[bool, str]]:
        with freeze_time(now):
            result = ny_defs.resolve_job_def("partition_freshness").execute_in_process(
                instance=instance)
        return {e.asset_key.to_user_string(): (e.passed, e.description or "")
                for e in result.get_asset_check_evaluations()}

    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization("raw_transaction_pages", partition=DAY.isoformat()))
        after = evaluate(deadline + timedelta(minutes=1), instance)
        before = evaluate(deadline - timedelta(minutes=1), instance)
    assert len(after) == 12  # every nightly asset, the six gold_spend specs included
    assert after["raw_transaction_pages"][0] is True
    assert after["silver_transactions"] == (False, after["silver_transactions"][1])
    assert "2024-03-01" in after["silver_transactions"][1]
    # A minute before 08:00 EST the check still expects the previous day's partition.
    assert before["raw_transaction_pages"][0] is False
    assert "2024-02-29" in before["raw_transaction_pages"][1]


def test_the_freshness_sensor_also_evaluates_the_sla_check(ny_defs: dg.Definitions) -> None:
    sensor = ny_defs.resolve_sensor_def("freshness_checks_sensor")
    with dg.instance_for_test() as instance:
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance,
                                                             definitions=ny_defs))
    [request] = tick.run_requests
    keys = {k.to_user_string() for k in request.asset_check_keys}
    assert "raw_transaction_pages:due_items_synced_by_deadline" in keys
    assert "budget_progress:freshness_check" in keys and len(keys) == 13


def test_institution_health_records_freshness_and_lag_metadata(tmp_path: Path) -> None:
    from assets.health import institution_health
    from assets.resources import LakeResource, SlaSettings
    from lake.arrow import arrow_schema

    lake = sla_lake(tmp_path / "lake")
    # A lake made before the freshness columns existed: they are added, not dropped.
    new = {"items_due", "items_stale", "lag_hours", "sla_met"}
    old = pa.schema([f for f in arrow_schema(INSTITUTION_HEALTH) if f.name not in new])
    write_deltalake(lake.uri(INSTITUTION_HEALTH), old.empty_table())
    result = dg.materialize(
        [institution_health], partition_key=DAY.isoformat(),
        resources={"lake": LakeResource(root=lake.root), "sla": SlaSettings()})
    [mat] = result.asset_materializations_for_node("institution_health")
    meta = {k: v.value for k, v in mat.metadata.items()}
    # ins_daily: "down" last synced 29 Feb 02:00 -> deadline 2 Mar 08:00 UTC = 54 h.
    assert meta["lag_hours/ins_daily"] == 54.0 and meta["max_lag_hours"] == 54.0
    assert isinstance(meta["lag_hours/ins_daily"], float)
    assert "lag_hours/ins_slow" not in meta  # nothing due there
    rows = {r["institution_id"]: r for r in lake.delta(INSTITUTION_HEALTH).to_pyarrow_table()
            .to_pylist()}
    assert (rows["ins_daily"]["items_due"], rows["ins_daily"]["items_stale"],
            rows["ins_daily"]["lag_hours"], rows["ins_daily"]["sla_met"]) == (2, 1, 54.0, False)
