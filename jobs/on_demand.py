"""On-demand sync of one account, all the way to gold; a job, a sensor and the CLI use it."""

import json
import time
from datetime import UTC, datetime

import dagster as dg

from assets.resources import LakeResource, PartnerResource, SparkResource, VaultResource
from jobs.lease import WRITER

REQUEST_PREFIX = "requests/sync/"


class AccountSyncConfig(dg.Config):
    account_id: str


@dg.op(pool="partner_sync")
def sync_account(context: dg.OpExecutionContext, config: AccountSyncConfig, lake: LakeResource,
                 spark: SparkResource, partner: PartnerResource, vault: VaultResource) -> dict:
    """Sync the account's item now (on demand: cadence ignored, rate limits kept) to gold."""
    from assets.ingest import ingest
    from lake.small_tables import read_rows
    from lake.tables import ACCOUNTS
    from pipelines.gold.refresh import refresh_gold
    from pipelines.silver.changes import changed_cells
    from pipelines.silver.refresh import merge_partition

    t0 = time.perf_counter()
    the_lake = lake.lake()
    account = next((a for a in read_rows(the_lake, ACCOUNTS)
                    if a["account_id"] == config.account_id), None)
    if account is None:
        raise dg.Failure(f"unknown account {config.account_id!r}: list them with "
                         "`finlake sql \"SELECT account_id, user_id, name FROM accounts\"`")
    today = datetime.now(UTC).date()
    report = ingest(lake, partner, vault, today, run_id=context.run_id, actor="pipeline:on_demand",
                    trigger="on_demand", items={account["item_id"]})
    t_sync = time.perf_counter() - t0
    status = report.jobs[-1]["status"] if report.jobs else "skipped"
    if status != "success":
        why = report.jobs[-1].get("detail") if report.jobs else report.skipped.get(
            account["item_id"], "not synced")
        raise dg.Failure(f"sync of {config.account_id} did not succeed: {status}: {why}")
    session = spark.session()
    silver = merge_partition(session, the_lake, today, only=(account["user_id"],
                                                             account["item_id"]))
    gold = refresh_gold(session, the_lake,
                        changed_cells(session, the_lake, today, account["user_id"]), today)
    summary = {"account_id": config.account_id, "item_id": account["item_id"],
               "added": report.total("txns_added"), "modified": report.total("txns_modified"),
               "removed": report.total("txns_removed"), "silver_rows": silver.rows_affected,
               "gold_cells": gold.cells, "sync_seconds": round(t_sync, 2),
               "total_seconds": round(time.perf_counter() - t0, 2)}
    context.log.info(json.dumps(summary))
    return summary


@dg.job(description="Refresh one account now, all the way to gold.", **WRITER)
def on_demand_sync() -> None:
    sync_account()


@dg.sensor(job=on_demand_sync, minimum_interval_seconds=10,
           description="Turns each sync request (an object under requests/sync/ in the lake, "
                       "e.g. the dashboard's refresh) into one on-demand sync run.")
def sync_requests(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Turns sync requests (objects under requests/sync/ in the lake) into runs, once each."""
    store = lake.lake().store
    for key in store.list(REQUEST_PREFIX):
        request = json.loads(store.get(key))
        yield dg.RunRequest(
            run_key=key,  # a request is run exactly once
            run_config={"ops": {"sync_account": {"config": {
                "account_id": request["account_id"]}}}},
        )
