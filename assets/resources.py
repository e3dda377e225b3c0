"""Dagster resources, and the one function that picks them for an environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

import dagster as dg

from core.settings import SANDBOX_SECRET, Settings

if TYPE_CHECKING:
    from plaid.api.plaid_api import PlaidApi
    from pyspark.sql import SparkSession

    from connectors.credentials import CredentialStore
    from connectors.ingest import SyncRuntime
    from lake.audit_log import AuditLog
    from lake.lake import Lake


class LakeResource(dg.ConfigurableResource):
    """The lake: a local directory or ``s3://bucket/prefix``."""

    root: str
    s3_endpoint: str | None = None

    def lake(self) -> Lake:
        from lake.lake import Lake

        return Lake(self.root, self.s3_endpoint)


class SparkResource(dg.ConfigurableResource):
    """A Spark Connect session: ``remote``, or the embedded ``engine`` when it is empty
    (``sail`` in-process, or ``spark-delta``: Apache Spark + Delta as a local JVM server)."""

    remote: str | None = None
    engine: str = "sail"
    s3_endpoint: str | None = None  # for the embedded JVM engine's S3A

    def session(self) -> SparkSession:
        from lake.spark import spark_session

        return spark_session(self.remote, self.engine, self.s3_endpoint)


def spark_resource(settings: Settings) -> SparkResource:
    """The configured Spark engine (commands outside Dagster use it as the assets do)."""
    return SparkResource(remote=settings.spark_remote, engine=settings.engine,
                         s3_endpoint=settings.s3_endpoint)


class PartnerResource(dg.ConfigurableResource):
    """The aggregator partner: a Plaid host, or the embedded sandbox bank when ``host`` is empty."""

    host: str | None = None
    client_id: str
    secret: str
    sandbox_dir: str
    sandbox_seed: int = 7
    sandbox_users: int = 20
    rate_limiter_url: str = "memory://"
    timeout: float = 30.0
    workers: int = 4
    page_size: int = 500
    retry_base_delay: float = 1.0

    def url(self) -> str:
        if self.host:
            return self.host
        from connectors.sandbox_bank.embedded import embedded_bank

        return embedded_bank(self.sandbox_dir, seed=self.sandbox_seed,
                             users=self.sandbox_users).url

    def client(self) -> PlaidApi:
        from connectors.partner import partner_client

        return partner_client(self.url(), self.client_id, self.secret)

    def runtime(self) -> SyncRuntime:
        """Client factory, shared rate limiter, retry policy and breaker for one run."""
        from connectors.ingest import SyncRuntime
        from connectors.ratelimit import rate_limiter_from_url
        from connectors.retry import RetryPolicy

        if self.rate_limiter_url.startswith("sqlite:///"):
            from pathlib import Path

            Path(self.rate_limiter_url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True)
        return SyncRuntime(
            client=self.client, limiter=rate_limiter_from_url(self.rate_limiter_url),
            policy=RetryPolicy(base_delay=self.retry_base_delay), timeout=self.timeout,
            page_size=self.page_size, workers=self.workers)

    def institutions(self, lake: Lake) -> dict[str, dict]:
        """Rate limits and cadence per institution, from the ``institutions`` table."""
        from lake.small_tables import read_rows
        from lake.tables import INSTITUTIONS

        return {r["institution_id"]: r for r in read_rows(lake, INSTITUTIONS)}


class VaultResource(dg.ConfigurableResource):
    """Credential storage: sealed tokens in the lake; key-encryption keys in KMS
    (``kms_key_id``) or, without one, in files in ``key_dir``."""

    key_dir: str
    kms_key_id: str | None = None
    kms_endpoint: str | None = None

    def credentials(self, lake: Lake, audit: AuditLog | None = None,
                    actor: str = "unknown") -> CredentialStore:
        """The store; with ``audit``, every decryption and link is recorded as ``actor``
        (the caller flushes the log when its run ends)."""
        from connectors.credentials import CredentialStore
        from connectors.vault import Vault, key_provider

        return CredentialStore(lake, Vault(key_provider(self)), audit=audit, actor=actor)


class CategorySettings(dg.ConfigurableResource):
    """Categorisation tunables: k for k-anonymity, the model's confidence threshold."""

    k: int = 3
    threshold: float = 0.6


class AlertSettings(dg.ConfigurableResource):
    """Budget alert threshold (share of the budget) and where alerts are delivered."""

    approaching: float = 0.8
    sink: str = "log"  # log | a webhook URL


class QualitySettings(dg.ConfigurableResource):
    """Data quality gates: the quarantined share above which a partition is held back."""

    quarantine_ceiling: float = 0.5


class SlaSettings(dg.ConfigurableResource):
    """The nightly sweep's service level: every due item synced by ``deadline`` local time."""

    timezone: str = "UTC"  # IANA name
    deadline: str = "08:00"  # HH:MM

    def deadline_for(self, sync_date: date) -> datetime:
        """When the items due on ``sync_date`` must be synced by (pipelines/health/freshness.py)."""
        from zoneinfo import ZoneInfo

        from pipelines.health.freshness import sla_deadline

        return sla_deadline(sync_date, time.fromisoformat(self.deadline), ZoneInfo(self.timezone))

    def latest_sync_date_due(self, now: datetime) -> date:
        """The newest sync date whose deadline has passed at ``now``."""
        from zoneinfo import ZoneInfo

        from pipelines.health.freshness import latest_sync_date_due

        return latest_sync_date_due(now, time.fromisoformat(self.deadline),
                                    ZoneInfo(self.timezone))


class WriterLeaseResource(dg.ConfigurableResource):
    """The lake's writer lease (lake/lease.py), held by a run from its start to its end.

    Every finlake job requires it through the ``holds_writer_lease`` hook and runs in one
    process, so the lease is taken once, before the first step: two runs never write the lake
    at the same time, and a run that waits says what for. The first holder also clears runs
    whose process is gone (assets/runs.py)."""

    env: str = "local"
    locks_dir: str
    lake_root: str
    s3_endpoint: str | None = None
    wait: int = 6 * 3600

    def lease(self) -> Any:
        """The lease itself (to ask who holds it: ``lease().holder()``)."""
        from assets.runs import lease_from

        return lease_from(self.env, self.locks_dir, self.lake_root, self.wait)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[Any]:
        from assets.runs import clear_dead_runs, lease_from
        from lake.lake import Lake

        run = context.dagster_run
        if run is None:  # built outside a run (a test, a script): nothing to hold
            yield self
            return

        def say(line: str) -> None:
            context.log.info(line)
            print(f"finlake: {line}", file=sys.stderr, flush=True)

        lease = lease_from(self.env, self.locks_dir, self.lake_root, self.wait, say)
        with lease.alive(run.run_id), lease.hold(run.job_name, run.run_id) as holder:
            if holder.run_id == run.run_id and context.instance is not None:
                clear_dead_runs(context.instance, lease, Lake(self.lake_root, self.s3_endpoint),
                                f"{run.job_name} run {run.run_id[:12]}", say)
            yield self


def resources_for(settings: Settings) -> dict[str, Any]:
    """The resource set for the configured environment (same keys everywhere)."""
    embedded = settings.partner_host is None
    return {
        "lake": LakeResource(root=settings.lake_root, s3_endpoint=settings.s3_endpoint),
        "spark": spark_resource(settings),
        "partner": PartnerResource(
            host=settings.partner_host,
            # Real partner keys stay in the environment (never in run config or storage).
            client_id=settings.partner_client_id if embedded else dg.EnvVar("PLAID_CLIENT_ID"),
            # A secret from the environment stays there (never in run config or storage);
            # only the embedded bank's placeholder is passed as a value.
            secret=settings.partner_secret if settings.partner_secret == SANDBOX_SECRET
            else dg.EnvVar("PLAID_SECRET"),
            sandbox_dir=str(settings.sandbox_dir),
            sandbox_seed=settings.sandbox_seed,
            sandbox_users=settings.sandbox_users,
            rate_limiter_url=settings.rate_limiter_url,
            timeout=settings.partner_timeout,
            workers=settings.sync_workers,
            page_size=settings.sync_page_size,
            retry_base_delay=settings.retry_base_delay,
        ),
        "vault": VaultResource(key_dir=str(settings.key_dir), kms_key_id=settings.kms_key_id,
                               kms_endpoint=settings.kms_endpoint),
        "categories": CategorySettings(k=settings.k_anonymity,
                                       threshold=settings.category_threshold),
        "alerts": AlertSettings(approaching=settings.budget_approaching,
                                sink=settings.alert_sink),
        "sla": SlaSettings(timezone=settings.sla_timezone, deadline=settings.sla_deadline),
        "quality": QualitySettings(quarantine_ceiling=settings.quarantine_ceiling),
        "writer_lease": WriterLeaseResource(
            env=settings.env, locks_dir=str(settings.locks_dir), lake_root=settings.lake_root,
            s3_endpoint=settings.s3_endpoint, wait=settings.writer_wait),
        "io_manager": dg.FilesystemIOManager(base_dir=str(settings.home / "dagster" / "io")),
    }
