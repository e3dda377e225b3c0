"""One line for a failure of the machine or of a service under a command.

A full or read-only disk, a home this user cannot write, an unreachable PostgreSQL, Redis, S3
endpoint or Spark Connect server, a missing engine: the operator can fix each, so the CLI
says which and where (``finlake --debug`` shows the traceback). Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from core.settings import Settings

DISK_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)|Os \{ code: (\d+)")
# A client library's error, and what to say about it ({error}: its message).
UNREACHABLE = (
    ("botocore", ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"),
     "cannot reach the S3 endpoint {s3}: {error}; check FINLAKE_S3_ENDPOINT (or "
     "AWS_ENDPOINT_URL) and that the service is running"),
    ("botocore", ("NoCredentialsError", "PartialCredentialsError"),
     "S3: {error}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"),
    ("redis", ("ConnectionError", "TimeoutError"),
     "cannot reach Redis for the shared rate limits: {error}; check FINLAKE_RATE_LIMITER and "
     "that Redis is running"),
    ("psycopg2", ("OperationalError",),
     "PostgreSQL (Dagster's storage) failed: {error}; check DAGSTER_PG_HOST, DAGSTER_PG_PORT "
     "and that the server is running"),
)
_SQLITE_DISK = ("disk i/o error", "unable to open database file", "readonly database",
                "database or disk is full")


def explain(exc: BaseException, settings: Settings) -> str | None:
    """The line to print for ``exc`` (or an error it was raised from), or None for a bug."""
    for cause in _chain(exc):
        line = _service(cause, settings) or _disk(cause, settings)
        if line:
            return line
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _named(exc: BaseException, module: str, *names: str) -> bool:
    """Whether ``exc`` is one of ``module``'s ``names`` (matched by class, so that a library
    is imported only when its error is being explained)."""
    return any(c.__module__.startswith(module) and c.__name__ in names
               for c in type(exc).__mro__)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _service(exc: BaseException, settings: Settings) -> str | None:
    from core.errors import ServiceUnavailable
    from lake.lease import LakeBusy
    from lake.spark_delta import EngineUnavailable

    if isinstance(exc, ServiceUnavailable | EngineUnavailable | LakeBusy):
        return _one_line(exc)
    for library, names, line in UNREACHABLE:
        if _named(exc, library, *names):
            return line.format(error=_one_line(exc),
                               s3=settings.s3_endpoint or "AWS's default endpoint")
    if _named(exc, "botocore", "ClientError"):
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId",
                    "SignatureDoesNotMatch", "AllAccessDisabled"):
            return (f"S3 refused ({code}) for the lake {settings.lake_root}: {_one_line(exc)}; "
                    "check FINLAKE_S3_BUCKET and the AWS credentials")
    if _named(exc, "sqlite3", "OperationalError") and any(
            s in str(exc).lower() for s in _SQLITE_DISK):
        why = home_state(settings.home) or _one_line(exc)
        return (f"Dagster's storage in {settings.dagster_home} cannot be written: {why}; "
                f"{_advice(settings.home)}")
    return None


def _disk(exc: BaseException, settings: Settings) -> str | None:
    """A write the disk refused: a Python ``OSError``, or delta-rs's (which carries the OS
    error number in its message)."""
    code, where = None, None
    if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
        code, where = exc.errno, exc.filename
    elif type(exc).__module__.split(".")[0] in ("deltalake", "_internal"):
        m = _RUST_OS_ERROR.search(str(exc))
        if m and int(m.group(1) or m.group(2)) in DISK_ERRORS:
            code = int(m.group(1) or m.group(2))
    if code is None:
        return None
    place = f" ({where})" if where else ""
    why = home_state(settings.home) or DISK_ERRORS[code]
    return f"cannot write{place}: {why}; {_advice(settings.home)}"


def home_state(home: Path) -> str | None:
    """What is wrong with the file system holding ``home``, if anything is."""
    try:
        fs = os.statvfs(home)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return f"the file system holding {home} is read-only"
    if fs.f_bavail * fs.f_frsize < 1 << 20:
        return f"the disk holding {home} is full"
    if not os.access(home, os.W_OK):
        return f"{home} is not writable by this user"
    return None


def _advice(home: Path) -> str:
    return (f"FINLAKE_HOME ({home}) needs a writable file system with free space; fix that "
            "and run the command again")
