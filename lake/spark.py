"""The one place a Spark Connect session is created: an embedded engine (Sail in-process, or
Apache Spark + Delta as a local JVM server), or ``SPARK_REMOTE``."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.errors import ServiceUnavailable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINES = ("sail", "spark-delta")  # embedded engines; SPARK_REMOTE names a cluster instead

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
}

SESSION_IDLE_SECS = 86400
_lock = threading.Lock()
_embedded: dict[str, Any] = {}
log = logging.getLogger(__name__)
# Config RPCs: reading a setting, or setting one to a value, twice is the same as once.
_IDEMPOTENT_CONFIG = frozenset({"get", "get_with_default", "get_option", "get_all",
                                "is_modifiable", "set", "unset"})
GARBLED = "Exception deserializing response"


def retry_garbled_config_calls() -> None:
    """Send a settings call again when its answer arrives garbled. gRPC Python now and then
    fails to parse a good response ("Exception deserializing response!": a DecodeError of
    ``spark.connect.ConfigResponse``; seen in a full test run and in the soak, both under
    load, on reads and on the session's ``set`` of its time zone); pyspark retries only
    unavailable servers. Every Config operation is idempotent (a read, or a setting set to
    the same value), so it is tried up to three times; queries and commands never are."""
    from pyspark.sql.connect.client.core import SparkConnectClient

    original = SparkConnectClient.config
    if getattr(original, "_finlake_retry", False):
        return

    def config(self: Any, operation: Any) -> Any:
        for attempt in range(1, 4):
            try:
                return original(self, operation)
            except Exception as exc:
                if (attempt == 3 or GARBLED not in str(exc)
                        or operation.WhichOneof("op_type") not in _IDEMPOTENT_CONFIG):
                    raise
                log.warning("a Spark Connect settings call came back garbled; sending it again")
        raise AssertionError("unreachable")  # pragma: no cover

    config._finlake_retry = True  # type: ignore[attr-defined]
    SparkConnectClient.config = config  # type: ignore[method-assign]


def embedded_sail_remote() -> str:
    """Start (once per process) an in-process Sail Spark Connect server; return its URL."""
    with _lock:
        if "remote" not in _embedded:
            os.environ.setdefault("RUST_LOG", "error")
            # Sail ends a session idle for 15 minutes. This server serves only this process,
            # whose session may wait longer between queries (a test session waiting for
            # another engine's tests, a long partner sync): keep it for a day.
            os.environ.setdefault("SAIL_SPARK__SESSION_TIMEOUT_SECS", str(SESSION_IDLE_SECS))
            from pysail.spark import SparkConnectServer

            server = SparkConnectServer("127.0.0.1", 0)
            server.start(background=True)
            host, port = server.listening_address
            _embedded["server"] = server
            _embedded["remote"] = f"sc://{host}:{port}"
        return _embedded["remote"]


def embedded_remote(engine: str = "sail", s3_endpoint: str | None = None) -> str:
    """The URL of this process's embedded engine, started on first use."""
    if engine == "spark-delta":
        from lake.spark_delta import embedded_spark_delta_remote

        return embedded_spark_delta_remote(s3_endpoint)
    if engine != "sail":
        raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    return embedded_sail_remote()


def spark_session(remote: str | None = None, engine: str = "sail",
                  s3_endpoint: str | None = None) -> SparkSession:
    """A Spark Connect session to ``remote`` (the embedded ``engine`` when None), with
    finlake's conf."""
    from pyspark.sql import SparkSession

    retry_garbled_config_calls()
    if remote:
        check_reachable(remote)
    url = remote or embedded_remote(engine, s3_endpoint)
    builder = SparkSession.builder.remote(url)
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def check_reachable(remote: str, timeout: float = 10.0) -> None:
    """Fail at once when nothing listens at ``remote``: the Spark Connect client would retry
    for over ten minutes before saying so."""
    parts = urlsplit(remote)
    where = f"sc://{parts.hostname}:{parts.port or 15002}"
    try:
        socket.create_connection((parts.hostname, parts.port or 15002), timeout).close()
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot reach the Spark Connect server at {where}: {exc.strerror or exc}; check "
            "SPARK_REMOTE and that the server is running") from None
