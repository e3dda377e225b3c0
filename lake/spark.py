"""The one place a Spark Connect session is created: embedded Sail, or ``SPARK_REMOTE``."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
}

_lock = threading.Lock()
_embedded: dict[str, Any] = {}


def embedded_sail_remote() -> str:
    """Start (once per process) an in-process Sail Spark Connect server; return its URL."""
    with _lock:
        if "remote" not in _embedded:
            os.environ.setdefault("RUST_LOG", "error")
            from pysail.spark import SparkConnectServer

            server = SparkConnectServer("127.0.0.1", 0)
            server.start(background=True)
            host, port = server.listening_address
            _embedded["server"] = server
            _embedded["remote"] = f"sc://{host}:{port}"
        return _embedded["remote"]


def spark_session(remote: str | None = None) -> SparkSession:
    """A Spark Connect session to ``remote`` (embedded Sail when None), with finlake's conf."""
    from pyspark.sql import SparkSession

    url = remote or embedded_sail_remote()
    builder = SparkSession.builder.remote(url)
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
