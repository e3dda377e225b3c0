"""The one place finlake reads its environment.

Every command and the Dagster definitions call :func:`load_settings` once; nothing reads
environment variables at import time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENVIRONMENTS = ("local", "production")
EMBEDDED_ENGINES = {"sail": "embedded Sail",
                    "spark-delta": "embedded Apache Spark + Delta (local JVM server)"}
SANDBOX_SECRET = "sandbox"  # the embedded sandbox bank's placeholder, not a secret


class ConfigError(ValueError):
    """Configuration is wrong; the message says what to change."""


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


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number; set it to e.g. {default}") from None


def _float(env: Mapping[str, str], name: str, default: float, *, fraction: bool = False
           ) -> float:
    """A positive number (``fraction``: strictly between 0 and 1)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if fraction and not 0 < value < 1:
        raise ConfigError(f"{name}={raw!r} must be a fraction between 0 and 1, e.g. {default}")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a positive number of seconds, e.g. {default}")
    return value


def _ceiling(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise ConfigError(f"FINLAKE_QUARANTINE_CEILING={raw!r} must be a share of a partition's "
                          "records above 0 and at most 1 (1: never hold a partition back), "
                          "e.g. 0.5")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from ``FINLAKE_*`` variables (``FINLAKE_ENV`` picks local|production)."""
    env = os.environ if env is None else env
    name = env.get("FINLAKE_ENV", "local").strip().lower() or "local"
    if name not in ENVIRONMENTS:
        raise ConfigError(f"FINLAKE_ENV={name!r} is unknown; use one of {', '.join(ENVIRONMENTS)}")
    home = Path(env.get("FINLAKE_HOME") or _default_home()).expanduser().resolve()
    bucket = env.get("FINLAKE_S3_BUCKET", "").strip()
    if name == "production" and not bucket:
        raise ConfigError("FINLAKE_ENV=production needs FINLAKE_S3_BUCKET (and AWS credentials)")
    if bucket:
        prefix = env.get("FINLAKE_S3_PREFIX", "finlake").strip("/")
        lake_root = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    else:
        lake_root = str(home / "lake")
    spark_remote = env.get("SPARK_REMOTE") or None
    if spark_remote and not spark_remote.startswith("sc://"):
        raise ConfigError(f"SPARK_REMOTE={spark_remote!r} must look like sc://host:15002")
    engine = (env.get("FINLAKE_ENGINE") or "sail").strip().lower()
    if engine not in EMBEDDED_ENGINES:
        raise ConfigError(f"FINLAKE_ENGINE={engine!r} is unknown; use sail (the default, "
                          "in-process) or spark-delta (Apache Spark + Delta Lake, needs Java)")
    partner_host = env.get("FINLAKE_PARTNER_HOST") or None
    client_id = env.get("PLAID_CLIENT_ID") or ("finlake-sandbox" if partner_host is None else "")
    secret = env.get("PLAID_SECRET") or (SANDBOX_SECRET if partner_host is None else "")
    if partner_host and not (client_id and secret):
        raise ConfigError("FINLAKE_PARTNER_HOST is set: also set PLAID_CLIENT_ID and PLAID_SECRET")
    kms_key_id = _kms_key_id(env.get("FINLAKE_KMS_KEY_ID", "").strip())
    if name == "production" and not kms_key_id:
        raise ConfigError("FINLAKE_ENV=production needs FINLAKE_KMS_KEY_ID: set it to the KMS "
                          "key id, ARN or alias (e.g. alias/finlake-credentials) that wraps "
                          "the credential data keys")
    if name == "production":
        _require_production_services(env)
    return Settings(
        env=name,
        home=home,
        lake_root=lake_root,
        s3_endpoint=env.get("FINLAKE_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or None,
        spark_remote=spark_remote,
        engine=engine,
        partner_host=partner_host,
        partner_client_id=client_id,
        partner_secret=secret,
        sandbox_seed=_int(env, "FINLAKE_SANDBOX_SEED", 7),
        sandbox_users=_int(env, "FINLAKE_SANDBOX_USERS", 20),
        # Shared per-institution token buckets: Redis in production, SQLite embedded.
        rate_limiter_url=env.get("FINLAKE_RATE_LIMITER")
        or ("redis://127.0.0.1:6379/0" if name == "production"
            else f"sqlite:///{home / 'state' / 'ratelimit.db'}"),
        partner_timeout=_float(env, "FINLAKE_PARTNER_TIMEOUT", 30.0),
        sync_workers=_int(env, "FINLAKE_SYNC_WORKERS", 4),
        sync_page_size=_int(env, "FINLAKE_SYNC_PAGE_SIZE", 500),
        retry_base_delay=_float(env, "FINLAKE_RETRY_BASE_DELAY", 1.0),
        k_anonymity=_int(env, "FINLAKE_K_ANONYMITY", 3),
        category_threshold=_float(env, "FINLAKE_CATEGORY_THRESHOLD", 0.6, fraction=True),
        budget_approaching=_float(env, "FINLAKE_BUDGET_APPROACHING", 0.8, fraction=True),
        alert_sink=_alert_sink(env.get("FINLAKE_ALERT_SINK") or "log"),
        sla_timezone=_sla_timezone(env.get("FINLAKE_SLA_TIMEZONE") or "UTC"),
        sla_deadline=_sla_deadline(env.get("FINLAKE_SLA_DEADLINE") or "08:00"),
        quarantine_ceiling=_ceiling(env.get("FINLAKE_QUARANTINE_CEILING") or "0.5"),
        kms_key_id=kms_key_id,
        kms_endpoint=env.get("FINLAKE_KMS_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or None,
        pseudonym_key=env.get("FINLAKE_PSEUDONYM_KEY") or None,
    )


PRODUCTION_SERVICES = {
    "SPARK_REMOTE": "the Spark Connect endpoint, e.g. sc://spark-connect:15002",
    "DAGSTER_PG_HOST": "the PostgreSQL host of Dagster's run/event/schedule storage",
    "DAGSTER_PG_PORT": "its port, e.g. 5432",
    "DAGSTER_PG_DB": "its database, e.g. dagster",
    "DAGSTER_PG_USER": "its user",
    "DAGSTER_PG_PASSWORD": "its password (may be empty with trust authentication)",
}


def _require_production_services(env: Mapping[str, str]) -> None:
    """Production never falls back to an embedded engine or SQLite: every service is named."""
    missing = [k for k in PRODUCTION_SERVICES
               if env.get(k) is None or (k != "DAGSTER_PG_PASSWORD" and not env.get(k))]
    if missing:
        lines = "\n".join(f"  {k}: {PRODUCTION_SERVICES[k]}" for k in missing)
        raise ConfigError(f"FINLAKE_ENV=production needs these variables set:\n{lines}")
    if not env["DAGSTER_PG_PORT"].isdigit():
        raise ConfigError(f"DAGSTER_PG_PORT={env['DAGSTER_PG_PORT']!r} must be a port number, "
                          "e.g. 5432")


def _kms_key_id(raw: str) -> str | None:
    """A KMS key id (UUID or mrk-...), key ARN, alias name or alias ARN; None when unset."""
    if not raw:
        return None
    if re.fullmatch(r"alias/[A-Za-z0-9/_-]+|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:"
                    r"(key|alias)/[A-Za-z0-9/_-]+|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
                    r"|mrk-[0-9a-f]{32}", raw):
        return raw
    raise ConfigError(f"FINLAKE_KMS_KEY_ID={raw!r} is not a KMS key id, ARN or alias; use e.g. "
                      "alias/finlake-credentials, a key id (1234abcd-12ab-34cd-56ef-"
                      "1234567890ab) or arn:aws:kms:REGION:ACCOUNT:key/KEY-ID")


def _alert_sink(raw: str) -> str:
    if raw == "log" or raw.startswith(("http://", "https://")):
        return raw
    raise ConfigError(f"FINLAKE_ALERT_SINK={raw!r} is unknown; use 'log' or a webhook URL "
                      "(http:// or https://)")


def _sla_timezone(raw: str) -> str:
    """An IANA time zone name that this machine's zone database knows."""
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"FINLAKE_SLA_TIMEZONE={raw!r} is not a known IANA time zone; use "
                          "a name like UTC, Europe/London or America/New_York") from None
    return raw.strip()


def _sla_deadline(raw: str) -> str:
    """A 24-hour time of day, HH:MM (normalised to two digits each)."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", raw.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ConfigError(f"FINLAKE_SLA_DEADLINE={raw!r} is not a time of day; use HH:MM "
                          "(24-hour), e.g. 08:00")
    return f"{int(m.group(1)):02d}:{m.group(2)}"
