"""Sync and health tables: partner items, institutions, sync attempts, institution health, the
alert outbox and quality results. Registered in lake/tables.py.
"""

from __future__ import annotations

from lake.table import Table

CREDENTIALS = Table(
    name="credentials",
    layer="ops",
    description="Partner items; access tokens stored only envelope-encrypted.",
    columns=(
        ("credentials_id", "string"),
        ("user_id", "string"),
        ("institution_id", "string"),
        ("item_id", "string"),
        ("encrypted_token", "string"),
        ("wrapped_key", "string"),
        ("key_id", "string"),
        ("status", "string"),
        ("failure_count", "int"),
        ("created_at", "timestamp"),
    ),
    keys=("credentials_id",),
)

INSTITUTIONS = Table(
    name="institutions",
    layer="reference",
    description="Partner institutions with their rate limits and refresh cadence.",
    columns=(
        ("institution_id", "string"),
        ("name", "string"),
        ("partner", "string"),
        ("rate_limit_qps", "int"),
        ("refresh_every_days", "int"),
        ("sends_pending", "boolean"),
    ),
    keys=("institution_id",),
)

SYNC_JOBS = Table(
    name="sync_jobs",
    layer="audit",
    description="One row per partner sync attempt: outcome, error class, counts, timings.",
    columns=(
        ("job_id", "string"),
        ("run_id", "string"),
        ("sync_date", "date"),
        ("trigger", "string"),  # nightly | on_demand
        ("user_id", "string"),
        ("item_id", "string"),
        ("institution_id", "string"),
        ("attempt", "int"),
        ("started_at", "timestamp"),
        ("finished_at", "timestamp"),
        ("status", "string"),  # success | retrying | deferred | failed | skipped
        ("error_class", "string"),
        ("error_code", "string"),
        ("detail", "string"),
        ("pages", "int"),
        ("txns_added", "int"),
        ("txns_modified", "int"),
        ("txns_removed", "int"),
        ("rate_wait_seconds", "double"),
        ("seconds", "double"),
    ),
    keys=("job_id",),
    partition_by=("sync_date",),
)

INSTITUTION_HEALTH = Table(
    name="institution_health",
    layer="gold",
    description="Per institution and day: items synced, success rate, silent-empty detection, "
                "freshness SLA (due, stale, lag).",
    columns=(
        ("institution_id", "string"),
        ("sync_date", "date"),
        ("items", "int"),
        ("items_succeeded", "int"),
        ("items_empty", "int"),
        ("success_rate", "double"),
        ("error_classes", "string"),
        ("status", "string"),  # healthy | degraded | silent | down | no_attempts
        ("items_due", "int"),  # freshness SLA (pipelines/health/freshness.py): due for the day
        ("items_stale", "int"),  # due but not synced by the deadline
        ("lag_hours", "double"),  # deadline - oldest last success among due items
        ("sla_met", "boolean"),
    ),
    keys=("institution_id", "sync_date"),
)

ALERTS = Table(
    name="alerts",
    layer="gold",
    description="Alert outbox; ``alert_key`` makes every alert idempotent.",
    columns=(
        ("alert_key", "string"),
        ("kind", "string"),
        ("user_id", "string"),
        ("subject", "string"),
        ("detail", "string"),
        ("period", "string"),
        ("created_at", "timestamp"),
        ("sent_at", "timestamp"),
        ("sent_to", "string"),  # the sink that took it: log | webhook
    ),
    keys=("alert_key",),
)

ALERT_DISMISSALS = Table(
    name="alert_dismissals",
    layer="silver",
    description="Alerts people dismissed on the dashboard (hidden from their overview for "
                "good: an alert's key is stable, so the nightly never raises it again).",
    columns=(
        ("user_id", "string"),
        ("alert_key", "string"),
        ("dismissed_at", "timestamp"),
    ),
    keys=("user_id", "alert_key"),
)

QUALITY_RESULTS = Table(
    name="quality_results",
    layer="audit",
    description="Every audit run: suite and version, what it validated, outcome per severity, "
                "the failed expectations and the HTML report (GX data docs) it wrote.",
    columns=(
        ("validation_id", "string"),
        ("suite", "string"),
        ("suite_version", "int"),
        ("layer", "string"),
        ("scope", "string"),  # the partition (sync date) or "rebuild"
        ("rows_validated", "bigint"),
        ("passed", "boolean"),  # no error-severity expectation failed
        ("errors", "int"),
        ("warnings", "int"),
        ("failures", "string"),  # JSON: the failed expectations with their figures
        ("report_ref", "string"),
        ("validated_at", "timestamp"),
        ("sync_date", "date"),
    ),
    keys=("validation_id",),
    partition_by=("sync_date",),
)
