"""Jobs and schedules."""

from __future__ import annotations

import dagster as dg

from assets.freshness_checks import SLA_CHECK
from assets.groups import NIGHTLY_ASSETS, REPLAY_ASSETS
from assets.partitions import daily_partitions
from assets.transactions import raw_transaction_pages
from jobs.lease import WRITER


def _nightly(*assets: dg.AssetsDefinition) -> dg.AssetSelection:
    """The assets with their checks, except freshness checks: those are evaluated by their
    sensor after each deadline, not by the run they judge (a backfill run of an old day
    would otherwise report its own lateness)."""
    freshness = [dg.AssetCheckKey(key, "freshness_check") for a in assets for key in a.keys]
    if raw_transaction_pages in assets:
        freshness.append(dg.AssetCheckKey(raw_transaction_pages.key, SLA_CHECK))
    return dg.AssetSelection.assets(*assets) - dg.AssetSelection.checks(*freshness)


nightly_job = dg.define_asset_job(
    "nightly",
    selection=_nightly(*NIGHTLY_ASSETS),
    partitions_def=daily_partitions,
    description="Sync every due item for the day, merge into silver, refresh gold.",
    **WRITER,
)

replay_job = dg.define_asset_job(
    "replay",
    selection=_nightly(*REPLAY_ASSETS),
    partitions_def=daily_partitions,
    description="Re-merge already-landed raw pages (backfills, rebuilds); no partner calls.",
    **WRITER,
)

# Runs at 02:00 UTC for the previous day's partition.
nightly_schedule = dg.build_schedule_from_partitioned_job(nightly_job, hour_of_day=2)

weekly_categories_job = dg.define_asset_job(
    "weekly_categories",
    selection=dg.AssetSelection.groups("categories"),
    description="Promote crowd rules (k-anonymous) and retrain the category model.",
    **WRITER,
)

# Sundays 03:00 UTC, after the nightly run.
weekly_categories_schedule = dg.ScheduleDefinition(
    job=weekly_categories_job, cron_schedule="0 3 * * 0", execution_timezone="UTC")
