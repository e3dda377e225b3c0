"""The one place finlake reads its environment.

Every command and the Dagster definitions call :func:`load_settings` once; nothing reads
environment variables at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from core import settings_checks as check
from core.settings_checks import PRODUCTION_SERVICES

__all__ = ["PRODUCTION_SERVICES", "ConfigError", "Settings", "load_settings"]

ENVIRONMENTS = ("local", "production")
EMBEDDED_ENGINES = {"sail": "embedded Sail",
                    "spark-delta": "embedded Apache Spark + Delta (local JVM server)"}
SANDBOX_SECRET = "sandbox"  # the embedded sandbox bank's placeholder, not a secret


class ConfigError(ValueError):
    """Configuration is wrong; one line per problem says what to change."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _default_home() -> Path:
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout / ".finlake"
    return Path.home() / ".finlake"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; the same keys in every environment."""

    env: str
    home: Path
    lake_root: str
    s3_endpoint: str | None
    spark_remote: str | None
    engine: str  # embedded engine when spark_remote is unset: sail | spark-delta
    partner_host: str | None
    partner_client_id: str
    partner_secret: str
    sandbox_seed: int
    sandbox_users: int
    rate_limiter_url: str
    partner_timeout: float
    sync_workers: int
    sync_page_size: int
    retry_base_delay: float
    k_anonymity: int
    category_threshold: float
    budget_approaching: float = 0.8
    alert_sink: str = "log"
    sla_timezone: str = "UTC"  # IANA name: the nightly sweep's deadline is local to it
    sla_deadline: str = "08:00"  # HH:MM, local; every due item synced by then
    quarantine_ceiling: float = 0.5  # a partition with a larger quarantined share is held
    kms_key_id: str | None = None  # KMS key (id, ARN or alias) wrapping data keys; else local
    kms_endpoint: str | None = None  # a KMS-compatible endpoint (tests, LocalStack)
    pseudonym_key: str | None = None  # analysts' pseudonyms (secret; default: key dir file)
    log_level: str = "WARNING"
    writer_wait: int = 6 * 3600  # seconds a writer waits for the lake's writer lease
    # The first daily partition; None: the first day the lake synced (assets/partitions.py).
    partition_start: date | None = None

    @property
    def locks_dir(self) -> Path:
        """The local writer lease and runs' signs of life (``lake/lease.py``)."""
        return self.home / "locks"

    @property
    def sla_deadline_cron(self) -> str:
        """The deadline as a daily cron (in ``sla_timezone``) for Dagster freshness checks."""
        hour, minute = self.sla_deadline.split(":")
        return f"{int(minute)} {int(hour)} * * *"

    @property
    def is_s3(self) -> bool:
        return self.lake_root.startswith("s3://")

    def describe(self) -> str:
        """Where this configuration points (no secrets): lake, engine, Dagster storage, limiter."""
        engine = self.spark_remote or EMBEDDED_ENGINES[self.engine]
        dagster = ("PostgreSQL (dagster.production.yaml)" if self.env == "production"
                   else f"SQLite in {self.dagster_home}")
        limiter = self.rate_limiter_url.split("?")[0]
        if "@" in limiter:  # never print a password in a URL
            scheme, rest = limiter.split("://", 1)
            limiter = f"{scheme}://***@{rest.split('@', 1)[1]}"
        return (f"{self.env}: lake {self.lake_root}, engine {engine}, Dagster storage {dagster}, "
                f"rate limiter {limiter}")

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox_bank"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def embedded_partner(self) -> bool:
        return self.partner_host is None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from ``FINLAKE_*`` variables (``FINLAKE_ENV`` picks local|production).

    Every value is checked here; a :class:`ConfigError` lists all the problems at once.
    Variables with the prefix that finlake does not read are warned about.
    """
    env = os.environ if env is None else env
    check.warn_unknown(env)
    read = check.EnvReader(env)
    settings = _read_settings(env, read)
    if read.problems:
        raise ConfigError(*read.problems)
    return settings


def _environment(env: Mapping[str, str], read: check.EnvReader) -> str:
    """``FINLAKE_ENV``: local (the default) or production."""
    name = env.get("FINLAKE_ENV", "local").strip().lower() or "local"
    if name not in ENVIRONMENTS:
        read.problems.append(f"FINLAKE_ENV={name!r} is unknown; use one of "
                             f"{', '.join(ENVIRONMENTS)}")
    return name


def _lake_root(read: check.EnvReader, home: Path) -> tuple[str, str]:
    """The S3 bucket (empty when unset) and the lake's root: in the bucket, else under home."""
    bucket = read.parsed("FINLAKE_S3_BUCKET", "", check.s3_bucket)
    if bucket:
        prefix = read.parsed("FINLAKE_S3_PREFIX", "finlake", check.s3_prefix,
                             empty="")  # set but empty: the bucket's top level
        lake_root = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    else:
        lake_root = str(home / "lake")
    return bucket, lake_root


def _engine(env: Mapping[str, str], read: check.EnvReader) -> str:
    """``FINLAKE_ENGINE``: the embedded engine (sail when unset or unknown)."""
    engine = (env.get("FINLAKE_ENGINE") or "sail").strip().lower()
    if engine not in EMBEDDED_ENGINES:
        read.problems.append(f"FINLAKE_ENGINE={engine!r} is unknown; use sail (the default, "
                             "in-process) or spark-delta (Apache Spark + Delta Lake, needs Java)")
        engine = "sail"
    return engine


def _partner(env: Mapping[str, str], read: check.EnvReader) -> tuple[str | None, str, str]:
    """The partner's host (None: the embedded sandbox bank), client id and secret."""
    partner_host = read.parsed("FINLAKE_PARTNER_HOST", None, check.web_url(
        "FINLAKE_PARTNER_HOST"))
    client_id = env.get("PLAID_CLIENT_ID") or ("finlake-sandbox" if partner_host is None else "")
    secret = env.get("PLAID_SECRET") or (SANDBOX_SECRET if partner_host is None else "")
    if partner_host and not (client_id and secret):
        read.problems.append("FINLAKE_PARTNER_HOST is set: also set PLAID_CLIENT_ID and "
                             "PLAID_SECRET")
    return partner_host, client_id, secret


def _read_settings(env: Mapping[str, str], read: check.EnvReader) -> Settings:
    """Every setting, read in a fixed order (the order problems are listed in); a value with
    a problem is noted in ``read.problems`` and its default used."""
    name = _environment(env, read)
    home = Path(env.get("FINLAKE_HOME") or _default_home()).expanduser().resolve()
    bucket, lake_root = _lake_root(read, home)
    engine = _engine(env, read)
    partner_host, client_id, secret = _partner(env, read)
    kms_key_id = read.parsed("FINLAKE_KMS_KEY_ID", None, check.kms_key_id)
    if name == "production":
        read.problems += check.production_problems(
            env, bucket=bucket or read.raw("FINLAKE_S3_BUCKET"),
            kms_key=kms_key_id or read.raw("FINLAKE_KMS_KEY_ID"))
    read.parsed("FINLAKE_CRASH_AT", None, check.crash_point)
    endpoint = read.parsed("FINLAKE_S3_ENDPOINT", None, check.web_url("FINLAKE_S3_ENDPOINT"))
    return Settings(
        env=name,
        home=home,
        lake_root=lake_root,
        s3_endpoint=endpoint or env.get("AWS_ENDPOINT_URL") or None,
        spark_remote=read.parsed("SPARK_REMOTE", None, check.spark_remote),
        engine=engine,
        partner_host=partner_host,
        partner_client_id=client_id,
        partner_secret=secret,
        sandbox_seed=read.whole("FINLAKE_SANDBOX_SEED", 7, 0, 2**32 - 1, "a world seed"),
        sandbox_users=read.whole("FINLAKE_SANDBOX_USERS", 20, 1, 100_000, "sandbox people"),
        # Shared per-institution token buckets: Redis in production, SQLite embedded.
        rate_limiter_url=read.parsed(
            "FINLAKE_RATE_LIMITER",
            "redis://127.0.0.1:6379/0" if name == "production"
            else f"sqlite:///{home / 'state' / 'ratelimit.db'}", check.rate_limiter),
        partner_timeout=read.number("FINLAKE_PARTNER_TIMEOUT", 30.0),
        sync_workers=read.whole("FINLAKE_SYNC_WORKERS", 4, 1, 64, "items synced at once"),
        sync_page_size=read.whole("FINLAKE_SYNC_PAGE_SIZE", 500, 1, 500,
                                  "the partner's count per page"),
        retry_base_delay=read.number("FINLAKE_RETRY_BASE_DELAY", 1.0),
        k_anonymity=read.whole("FINLAKE_K_ANONYMITY", 3, 2, 1_000_000,
                               "people behind every shared figure; 1 would show one person"),
        category_threshold=read.number("FINLAKE_CATEGORY_THRESHOLD", 0.6, fraction=True),
        budget_approaching=read.number("FINLAKE_BUDGET_APPROACHING", 0.8, fraction=True),
        alert_sink=read.parsed("FINLAKE_ALERT_SINK", "log", check.alert_sink),
        sla_timezone=read.parsed("FINLAKE_SLA_TIMEZONE", "UTC", check.sla_timezone),
        sla_deadline=read.parsed("FINLAKE_SLA_DEADLINE", "08:00", check.sla_deadline),
        quarantine_ceiling=read.parsed("FINLAKE_QUARANTINE_CEILING", 0.5,
                                       check.quarantine_ceiling),
        kms_key_id=kms_key_id,
        kms_endpoint=read.parsed("FINLAKE_KMS_ENDPOINT", None,
                                 check.web_url("FINLAKE_KMS_ENDPOINT"))
        or env.get("AWS_ENDPOINT_URL") or None,
        pseudonym_key=read.parsed("FINLAKE_PSEUDONYM_KEY", None, check.pseudonym_key),
        log_level=read.parsed("FINLAKE_LOG_LEVEL", "WARNING", check.log_level),
        writer_wait=read.whole("FINLAKE_WRITER_WAIT", 6 * 3600, 0, 7 * 86400,
                               "seconds a run waits for another writer (0: do not wait)"),
        partition_start=read.parsed("FINLAKE_PARTITION_START", None, check.partition_start),
    )
