"""Institution health (gold) from the day's sync attempts, with the freshness SLA."""

from collections import Counter
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg

from assets.partitions import daily_partitions
from assets.resources import LakeResource, SlaSettings
from assets.table_assets import column_schema, table_metadata
from lake.tables import INSTITUTION_HEALTH

if TYPE_CHECKING:
    from lake.lake import Lake
    from lake.tables import Table


def freshness_rows(the_lake: "Lake", day: date, sla: SlaSettings, now: datetime
                   ) -> list[dict[str, Any]]:
    """Freshness per institution for one sync date (pipelines/health/freshness.py on the lake's
    sync_jobs, credentials and institutions)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from lake.small_tables import read_rows
    from lake.tables import CREDENTIALS, INSTITUTIONS, SYNC_JOBS
    from pipelines.health.freshness import LastSuccess, freshness

    deadline = sla.deadline_for(day)
    jobs = read_rows(the_lake, SYNC_JOBS, ds.field("sync_date") == day)
    before = _columns(the_lake, SYNC_JOBS, ["item_id", "sync_date", "finished_at"],
                      (ds.field("status") == "success") & (ds.field("sync_date") < day))
    last = {}
    if before is not None:
        in_time = before.filter(ds.field("finished_at") <= pa.scalar(
            deadline.astimezone(UTC), pa.timestamp("us", tz="UTC")))
        finished = {r["item_id"]: r["finished_at_max"] for r in in_time.group_by(
            "item_id").aggregate([("finished_at", "max")]).to_pylist()}
        last = {r["item_id"]: LastSuccess(r["sync_date_max"], finished.get(r["item_id"]))
                for r in before.group_by("item_id").aggregate(
                    [("sync_date", "max")]).to_pylist()}
    items = _columns(the_lake, CREDENTIALS, ["item_id", "institution_id", "status",
                                             "created_at"])  # never the sealed token
    institutions = {r["institution_id"]: r for r in read_rows(the_lake, INSTITUTIONS)}
    return freshness(jobs, [] if items is None else items.to_pylist(), institutions, last, day,
                     deadline, now)


def _columns(the_lake: "Lake", t: "Table", columns: list[str], where: Any = None) -> Any:
    """Some columns of a small table as an Arrow table (None if the table does not exist)."""
    from lake.arrow import arrow_schema

    dt = the_lake.delta(t)
    if dt is None:
        return None
    # The registered schema, as in lake.small_tables.read_rows (MERGE-written string_view
    # columns cannot be compared in a filter).
    import pyarrow as pa

    dataset = dt.to_pyarrow_dataset(schema=arrow_schema(t))
    try:
        return dataset.to_table(columns=columns, filter=where)
    except pa.ArrowNotImplementedError:  # string_view files (delta-rs DELETE/MERGE): as in
        table = dataset.to_table()       # read_rows, read as registered, then filter
        return (table if where is None else table.filter(where)).select(columns)


@dg.asset(partitions_def=daily_partitions, group_name="gold",
          deps=["raw_transaction_pages", "sync_jobs", "credentials", "institutions"],
          kinds={"python", "delta"},
          metadata={"dagster/column_schema": column_schema(INSTITUTION_HEALTH)})
def institution_health(context: dg.AssetExecutionContext, lake: LakeResource, sla: SlaSettings
                       ) -> dg.MaterializeResult:
    """Per institution and day: success rate, silent-empty detection, freshness SLA and lag."""
    import pyarrow.dataset as ds

    from lake.small_tables import read_rows, upsert_rows
    from lake.tables import ALERTS, SYNC_JOBS
    from pipelines.health.freshness import freshness_summary, health_with_freshness
    from pipelines.health.institutions import health_alerts
    from pipelines.health.institutions import institution_health as compute

    the_lake = lake.lake()
    day = date.fromisoformat(context.partition_key)
    now = datetime.now(UTC)
    jobs = read_rows(the_lake, SYNC_JOBS, ds.field("sync_date") == day)
    health = compute(jobs, day)
    alerts = health_alerts(health, now)
    fresh = freshness_rows(the_lake, day, sla, now)
    upsert_rows(the_lake, INSTITUTION_HEALTH, health_with_freshness(health, fresh))
    upsert_rows(the_lake, ALERTS, alerts, update=False)
    unhealthy = {h["institution_id"]: h["status"] for h in health if h["status"] != "healthy"}
    for inst, status in unhealthy.items():
        context.log.warning(f"institution {inst} is {status}")
    summary = freshness_summary(fresh, sla.deadline_for(day), now)
    for f in fresh:
        if not f["sla_met"]:
            context.log.warning(f["summary"])
    names = bank_names(the_lake)
    lags = {names.get(f["institution_id"], f["institution_id"]): float(f["lag_hours"])
            for f in fresh if f["lag_hours"] is not None}
    return dg.MaterializeResult(metadata={
        "institutions": len(health), "unhealthy": ", ".join(
            f"{k} ({v})" for k, v in sorted(unhealthy.items())) or "-",
        "alerts": len(alerts),
        "freshness": summary,
        "items_due": sum(f["items_due"] for f in fresh),
        "items_stale": sum(f["items_stale"] for f in fresh),
        **({"max_lag_hours": max(lags.values())} if lags else {}),
        # One plot per bank in the UI, named as people know it.
        **{f"lag_hours/{bank}": lag for bank, lag in sorted(lags.items())},
        **table_metadata(the_lake, INSTITUTION_HEALTH)})


def bank_names(the_lake: "Lake") -> dict[str, str]:
    """Each institution's name by id ("name (id)" when two banks share a name; the id when
    it has none)."""
    from lake.small_tables import read_rows
    from lake.tables import INSTITUTIONS

    names = {r["institution_id"]: (r.get("name") or r["institution_id"])
             for r in read_rows(the_lake, INSTITUTIONS)}
    counts = Counter(names.values())
    return {i: (f"{n} ({i})" if counts[n] > 1 else n) for i, n in names.items()}
