"""Dagster definitions: merges what each area exports, nothing more."""

from datetime import date

import dagster as dg

from assets.checks import gold_reconciles_with_silver
from assets.freshness_checks import freshness_definitions
from assets.groups import ALL_ASSETS, INPUT_ASSETS
from assets.partitions import first_partition, partitions_from, with_partitions
from assets.resources import resources_for
from core import redaction
from core.file_modes import keep_files_private
from core.settings import load_settings
from jobs.forget import forget_user
from jobs.maintenance import maintenance, maintenance_schedule
from jobs.nightly import (
    freshness_job,
    nightly_job,
    nightly_schedule,
    replay_job,
    weekly_categories_job,
    weekly_categories_schedule,
)
from jobs.on_demand import on_demand_sync, sync_requests


@dg.definitions
def defs() -> dg.Definitions:
    """What ``finlake ui``, the daemon and every run worker load."""
    return build()


def build(earliest: date | None = None) -> dg.Definitions:
    """The definitions; their daily partitions reach back to ``earliest`` when a CLI run
    asks for a day before the first partition (:func:`assets.partitions.first_partition`)."""
    keep_files_private()  # the code server and every run worker load the definitions first
    settings = load_settings()
    redaction.install()
    redaction.register_secret(settings.partner_secret)
    redaction.register_secret(settings.pseudonym_key or "")
    freshness_checks, freshness_sensors = freshness_definitions(settings)
    return dg.Definitions(
        assets=[*with_partitions(ALL_ASSETS, partitions_from(first_partition(settings, earliest))),
                *INPUT_ASSETS],
        asset_checks=[gold_reconciles_with_silver, *freshness_checks],
        jobs=[nightly_job, replay_job, on_demand_sync, weekly_categories_job, forget_user,
              maintenance, freshness_job(freshness_checks)],
        schedules=[nightly_schedule, weekly_categories_schedule, maintenance_schedule],
        sensors=[sync_requests, *freshness_sensors],
        resources=resources_for(settings),
    )
