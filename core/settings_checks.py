"""What a valid value of each ``FINLAKE_*`` variable is.

:class:`EnvReader` notes every problem and carries on with the default, so one run of
``load_settings`` lists all of them; the parsers raise ``ValueError`` with the line to show.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

T = TypeVar("T")
log = logging.getLogger("finlake.settings")

# Every FINLAKE_* variable finlake reads; any other is a typo and is warned about.
KNOWN_VARIABLES = frozenset({
    "FINLAKE_ENV", "FINLAKE_HOME", "FINLAKE_S3_BUCKET", "FINLAKE_S3_PREFIX",
    "FINLAKE_S3_ENDPOINT", "FINLAKE_ENGINE", "FINLAKE_PARTNER_HOST", "FINLAKE_SANDBOX_SEED",
    "FINLAKE_SANDBOX_USERS", "FINLAKE_RATE_LIMITER", "FINLAKE_PARTNER_TIMEOUT",
    "FINLAKE_SYNC_WORKERS", "FINLAKE_SYNC_PAGE_SIZE", "FINLAKE_RETRY_BASE_DELAY",
    "FINLAKE_WRITER_WAIT",
    "FINLAKE_K_ANONYMITY", "FINLAKE_CATEGORY_THRESHOLD", "FINLAKE_BUDGET_APPROACHING",
    "FINLAKE_ALERT_SINK", "FINLAKE_SLA_TIMEZONE", "FINLAKE_SLA_DEADLINE",
    "FINLAKE_QUARANTINE_CEILING", "FINLAKE_KMS_KEY_ID", "FINLAKE_KMS_ENDPOINT",
    "FINLAKE_PARTITION_START",
    "FINLAKE_PSEUDONYM_KEY", "FINLAKE_LOG_LEVEL",
    "FINLAKE_CRASH_AT",  # core/crashpoints.py (crash tests)
    "FINLAKE_SPARK_JARS",  # lake/spark_delta.py: where the Delta jars are kept
})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_PSEUDONYM_KEY = 32  # characters; a short key lets pseudonyms be reversed by guessing
_warned: set[str] = set()


class EnvReader:
    """Reads variables, noting each problem (and using the default) instead of stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or value == "" else value

    def parsed(self, name: str, default: T, parse: Callable[[str], T], *,
               empty: T | None = None) -> T:
        """``parse(value)``, or ``default`` when unset or (noting the problem) invalid;
        ``empty``, if given, when set to the empty string."""
        value = self.raw(name)
        if value is None:
            return empty if empty is not None and self.env.get(name) == "" else default
        try:
            return parse(value)
        except ValueError as exc:
            self.problems.append(str(exc))
            return default

    def whole(self, name: str, default: int, low: int, high: int, meaning: str) -> int:
        def parse(text: str) -> int:
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a whole number; set it to e.g. "
                                 f"{default}") from None
            if not low <= value <= high:
                raise ValueError(f"{name}={text!r} must be from {low} to {high} ({meaning}), "
                                 f"e.g. {default}")
            return value
        return self.parsed(name, default, parse)

    def number(self, name: str, default: float, *, fraction: bool = False) -> float:
        """A positive number of seconds (``fraction``: strictly between 0 and 1)."""
        def parse(text: str) -> float:
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if fraction and not 0 < value < 1:
                raise ValueError(f"{name}={text!r} must be a fraction between 0 and 1, "
                                 f"e.g. {default}")
            if not value > 0 or math.isinf(value):
                raise ValueError(f"{name}={text!r} must be a positive number of seconds, "
                                 f"e.g. {default}")
            return value
        return self.parsed(name, default, parse)


def warn_unknown(env: Mapping[str, str]) -> list[str]:
    """Warn (once per process) about each ``FINLAKE_*`` name finlake does not read."""
    unknown = sorted(k for k in env if k.startswith("FINLAKE_") and k not in KNOWN_VARIABLES)
    for name in unknown:
        if name not in _warned:
            _warned.add(name)
            close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            log.warning("finlake: warning: %s is not a finlake setting and is ignored%s",
                        name, hint)
    return unknown


def web_url(name: str) -> Callable[[str], str]:
    """An http(s) URL naming a host (a port, if given, in range)."""
    def parse(raw: str) -> str:
        parts = urlsplit(raw.strip())
        try:
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (
                parts.port is None or parts.port > 0)
        except ValueError:  # a port that is not a number or out of range
            ok = False
        if not ok or any(c.isspace() for c in raw.strip()):
            raise ValueError(f"{name}={raw!r} is not a URL with a host; use e.g. "
                             "https://host.example or http://127.0.0.1:5000")
        return raw.strip()
    return parse


def alert_sink(raw: str) -> str:
    if raw == "log":
        return raw
    if raw.startswith(("http://", "https://")):
        try:
            return web_url("FINLAKE_ALERT_SINK")(raw)
        except ValueError:
            pass
    raise ValueError(f"FINLAKE_ALERT_SINK={raw!r} is unknown; use 'log' or a webhook URL "
                     "(http:// or https:// and a host, e.g. https://hooks.example/finlake)")


def rate_limiter(raw: str) -> str:
    """``redis[s]://HOST[:PORT][/DB]``, ``sqlite:///ABSOLUTE/PATH`` or ``memory://``."""
    parts = urlsplit(raw)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    scheme = parts.scheme.lower()
    if scheme in ("redis", "rediss"):
        ok = bool(parts.hostname) and port_ok and re.fullmatch(r"/?\d*", parts.path) is not None
    elif scheme == "sqlite":
        path = raw[len("sqlite://"):].split("?", 1)[0]
        ok = not parts.netloc and path.startswith("/") and path.strip("/") != ""
    else:
        ok = raw == "memory://"
    if not ok:
        raise ValueError(f"FINLAKE_RATE_LIMITER={raw!r} is not a rate limiter URL; use "
                         "redis://HOST:6379/0, sqlite:///ABSOLUTE/PATH.db or memory://")
    return raw


def spark_remote(raw: str) -> str:
    parts = urlsplit(raw)
    try:
        ok = parts.scheme == "sc" and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"SPARK_REMOTE={raw!r} must look like sc://host:15002")
    return raw


def s3_bucket(raw: str) -> str:
    bucket = raw.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket) or ".." in bucket:
        raise ValueError(f"FINLAKE_S3_BUCKET={raw!r} is not an S3 bucket name (3-63 lower-case "
                         "letters, digits, dots and hyphens), e.g. finlake-lake")
    return bucket


def s3_prefix(raw: str) -> str:
    prefix = raw.strip("/")
    if ".." in prefix.split("/") or any(c.isspace() or not c.isprintable() for c in prefix):
        raise ValueError(f"FINLAKE_S3_PREFIX={raw!r} is not a key prefix (no spaces, no '..'); "
                         "use e.g. finlake")
    return prefix


def log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"FINLAKE_LOG_LEVEL={raw!r} is not a log level; use one of "
                         f"{', '.join(LOG_LEVELS)}")
    return level


def pseudonym_key(raw: str) -> str:
    if len(raw) < MIN_PSEUDONYM_KEY:
        raise ValueError(f"FINLAKE_PSEUDONYM_KEY is {len(raw)} characters: use at least "
                         f"{MIN_PSEUDONYM_KEY} random ones (e.g. `openssl rand -hex 32`), or "
                         "unset it to use the key file")
    return raw


def crash_point(raw: str) -> str:
    from core.crashpoints import FORGET_POINTS, KEY_POINTS, POINTS

    known = POINTS + FORGET_POINTS + KEY_POINTS
    if raw not in known:
        raise ValueError(f"FINLAKE_CRASH_AT={raw!r} is not a crash point (tests only); use one "
                         f"of {', '.join(known)}, or unset it")
    return raw


def quarantine_ceiling(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise ValueError(f"FINLAKE_QUARANTINE_CEILING={raw!r} must be a share of a partition's "
                         "records above 0 and at most 1 (1: never hold a partition back), "
                         "e.g. 0.5")
    return value


def kms_key_id(raw: str) -> str:
    """A KMS key id (UUID or mrk-...), key ARN, alias name or alias ARN."""
    if re.fullmatch(r"alias/[A-Za-z0-9/_-]+|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:"
                    r"(key|alias)/[A-Za-z0-9/_-]+|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
                    r"|mrk-[0-9a-f]{32}", raw.strip()):
        return raw.strip()
    raise ValueError(f"FINLAKE_KMS_KEY_ID={raw!r} is not a KMS key id, ARN or alias; use e.g. "
                     "alias/finlake-credentials, a key id (1234abcd-12ab-34cd-56ef-"
                     "1234567890ab) or arn:aws:kms:REGION:ACCOUNT:key/KEY-ID")


def sla_timezone(raw: str) -> str:
    """An IANA time zone name that this machine's zone database knows."""
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"FINLAKE_SLA_TIMEZONE={raw!r} is not a known IANA time zone; use "
                         "a name like UTC, Europe/London or America/New_York") from None
    return raw.strip()


def sla_deadline(raw: str) -> str:
    """A 24-hour time of day, HH:MM (normalised to two digits each)."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", raw.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"FINLAKE_SLA_DEADLINE={raw!r} is not a time of day; use HH:MM "
                         "(24-hour), e.g. 08:00")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def partition_start(raw: str) -> date:
    """A calendar day, YYYY-MM-DD: the first daily partition."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
            raise ValueError
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"FINLAKE_PARTITION_START={raw!r} is not a day; use YYYY-MM-DD, e.g. "
                         "the first day you synced: 2026-01-01") from None


PRODUCTION_SERVICES = {
    "SPARK_REMOTE": "the Spark Connect endpoint, e.g. sc://spark-connect:15002",
    "DAGSTER_PG_HOST": "the PostgreSQL host of Dagster's run/event/schedule storage",
    "DAGSTER_PG_PORT": "its port, e.g. 5432",
    "DAGSTER_PG_DB": "its database, e.g. dagster",
    "DAGSTER_PG_USER": "its user",
    "DAGSTER_PG_PASSWORD": "its password (may be empty with trust authentication)",
}


def production_problems(env: Mapping[str, str], *, bucket: str | None,
                        kms_key: str | None) -> list[str]:
    """Production never falls back to an embedded engine, SQLite or local keys: every
    service is named. One line per missing or malformed variable."""
    out = []
    if not bucket:
        out.append("FINLAKE_ENV=production needs FINLAKE_S3_BUCKET (and AWS credentials)")
    if not kms_key:
        out.append("FINLAKE_ENV=production needs FINLAKE_KMS_KEY_ID: set it to the KMS key id, "
                   "ARN or alias (e.g. alias/finlake-credentials) that wraps the credential "
                   "data keys")
    for k, meaning in PRODUCTION_SERVICES.items():
        if env.get(k) is None or (k != "DAGSTER_PG_PASSWORD" and not env.get(k)):
            out.append(f"FINLAKE_ENV=production needs {k} set: {meaning}")
    port = env.get("DAGSTER_PG_PORT")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        out.append(f"DAGSTER_PG_PORT={port!r} must be a port number, e.g. 5432")
    return out
