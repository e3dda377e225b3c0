"""Jobs and schedules."""

from __future__ import annotations

import dagster as dg

from assets.health import institution_health
from assets.spend import alert_outbox, gold_spend
from assets.transactions import raw_transaction_pages, silver_transactions
from assets.wealth import net_worth, recurring_payments
from finlake.partitions import daily_partitions

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.assets(raw_transaction_pages, silver_transactions, gold_spend,
                                       institution_health, net_worth, recurring_payments,
                                       alert_outbox),
    partitions_def=daily_partitions,
    description="Sync every due item for the day, merge into silver, refresh gold.",
)

replay_job = dg.define_asset_job(
    "replay",
    selection=dg.AssetSelection.assets(silver_transactions, gold_spend, net_worth,
                                       recurring_payments, alert_outbox),
    partitions_def=daily_partitions,
    description="Re-merge already-landed raw pages (backfills, rebuilds); no partner calls.",
)

# Runs at 02:00 UTC for the previous day's partition.
nightly_schedule = dg.build_schedule_from_partitioned_job(nightly_job, hour_of_day=2)

weekly_categories_job = dg.define_asset_job(
    "weekly_categories",
    selection=dg.AssetSelection.groups("categories"),
    description="Promote crowd rules (k-anonymous) and retrain the category model.",
)

# Sundays 03:00 UTC, after the nightly run.
weekly_categories_schedule = dg.ScheduleDefinition(
    job=weekly_categories_job, cron_schedule="0 3 * * 0", execution_timezone="UTC")
