"""Jobs and schedules.

The nightly jobs take their partitions from their assets: the definitions give those the
configured first day (assets/partitions.py), and the schedule follows.
"""

from __future__ import annotations

import dagster as dg

from assets.freshness_checks import SLA_CHECK
from assets.groups import FRESHNESS_KEYS, NIGHTLY_ASSETS, REPLAY_ASSETS
from assets.transactions import raw_transaction_pages
from jobs.lease import WRITER


def _nightly(*assets: dg.AssetsDefinition) -> dg.AssetSelection:
    """The assets with their checks, except freshness checks: those are evaluated by their
    sensor after each deadline, not by the run they judge (a backfill run of an old day
    would otherwise report its own lateness)."""
    keys = {key.to_user_string() for a in assets for key in a.keys}
    freshness = [dg.AssetCheckKey(dg.AssetKey(k), "freshness_check")
                 for k in FRESHNESS_KEYS if k in keys]
    if raw_transaction_pages in assets:
        freshness.append(dg.AssetCheckKey(dg.AssetKey("raw_transaction_pages"), SLA_CHECK))
    return dg.AssetSelection.assets(*assets) - dg.AssetSelection.checks(*freshness)


nightly_job = dg.define_asset_job(
    "nightly",
    selection=_nightly(*NIGHTLY_ASSETS),
    description="Sync every due item for the day, merge into silver, refresh gold.",
    **WRITER,
)

replay_job = dg.define_asset_job(
    "replay",
    selection=_nightly(*REPLAY_ASSETS),
    description="Re-merge already-landed raw pages (backfills, rebuilds); no partner calls.",
    **WRITER,
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job, hour_of_day=2,
    description="02:00 UTC: the nightly run of yesterday's partition (sync, silver, gold).")

weekly_categories_job = dg.define_asset_job(
    "weekly_categories",
    selection=dg.AssetSelection.groups("categories"),
    description="Promote crowd rules (k-anonymous) and retrain the category model.",
    **WRITER,
)

weekly_categories_schedule = dg.ScheduleDefinition(
    job=weekly_categories_job, cron_schedule="0 3 * * 0", execution_timezone="UTC",
    description="Sundays 03:00 UTC, after the nightly run: crowd rules and the category model.")


def freshness_job(checks: list[dg.AssetChecksDefinition]) -> dg.UnresolvedAssetJobDefinition:
    """The freshness checks, evaluated now (what their sensor launches after a deadline);
    ``finlake demo`` runs it after its nightly runs. It only reads the lake."""
    return dg.define_asset_job(
        "freshness", selection=dg.AssetSelection.checks(*checks),
        description="Evaluate the freshness checks now: did each nightly asset's latest "
                    "partition, and every due item, land by the SLA deadline?",
        executor_def=dg.in_process_executor)
