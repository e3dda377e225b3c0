"""Freshness checks: every nightly asset's partition lands by the SLA deadline, and every due
item is synced by it (pipelines/health/freshness.py says what "due" and "deadline" mean).

The deadline cron and time zone come from settings, so the checks are built by
:func:`freshness_definitions`, called from the Definitions function (never at import time).
"""

import warnings
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from assets.groups import FRESHNESS_KEYS
from assets.resources import LakeResource, SlaSettings
from core.settings import Settings

SLA_CHECK = "due_items_synced_by_deadline"

# The freshness sensor re-runs a passing check once this time has passed (see
# dg.build_sensor_for_freshness_checks); the SLA check sets it to the next deadline.
FRESH_UNTIL = "dagster/fresh_until_timestamp"


@dg.asset_check(asset="raw_transaction_pages", blocking=False,
                description="Every item due on the sync date was synced by the SLA deadline "
                            "(FINLAKE_SLA_DEADLINE in FINLAKE_SLA_TIMEZONE)")
def due_items_synced_by_deadline(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, sla: SlaSettings,
) -> dg.AssetCheckResult:
    from assets.health import freshness_rows
    from pipelines.health.freshness import freshness_summary

    now = datetime.now(UTC)
    partition = context.run.tags.get("dagster/partition")
    # Launched by the freshness sensor (no partition): the newest day whose deadline passed.
    day = date.fromisoformat(partition) if partition else sla.latest_sync_date_due(now)
    deadline = sla.deadline_for(day)
    rows = freshness_rows(lake.lake(), day, sla, now)
    # Reasons and counts per institution, never item ids: Dagster's storage keeps check
    # results, and an item id names a person's bank link (forget-user would have to find it).
    stale = {r["institution_id"]: dict(sorted(Counter(r["stale_items"].values()).items()))
             for r in rows if r["items_stale"]}
    recheck = deadline if deadline > now else sla.deadline_for(day + timedelta(days=1))
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=freshness_summary(rows, deadline, now),
        metadata={
            "sync_date": str(day),
            "deadline": deadline.isoformat(),
            "deadline_passed": now >= deadline,
            "items_due": sum(r["items_due"] for r in rows),
            "items_stale": sum(r["items_stale"] for r in rows),
            "stale_items": dg.MetadataValue.json(stale),
            **{f"items_stale/{inst}": sum(reasons.values())
               for inst, reasons in sorted(stale.items())},
            FRESH_UNTIL: dg.MetadataValue.timestamp(recheck),
        },
    )


def freshness_definitions(settings: Settings
                          ) -> tuple[list[dg.AssetChecksDefinition], list[dg.SensorDefinition]]:
    """Per-asset partition freshness checks (deadline cron and time zone from ``settings``),
    the due-items SLA check, and the sensor that evaluates them after each deadline. The
    sensor runs by default: with ``finlake ui`` (or the daemon) up, the checks are evaluated
    without anyone switching it on."""
    with warnings.catch_warnings():
        # Superseded by FreshnessPolicy on the assets; kept for the per-partition deadline.
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        partition_checks = dg.build_time_partition_freshness_checks(
            assets=FRESHNESS_KEYS, deadline_cron=settings.sla_deadline_cron,
            timezone=settings.sla_timezone, severity=dg.AssetCheckSeverity.WARN)
        checks = [*partition_checks, due_items_synced_by_deadline]
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, minimum_interval_seconds=300,
            default_status=dg.DefaultSensorStatus.RUNNING)
    return checks, [sensor]
