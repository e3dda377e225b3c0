"""``finlake spark-delta``: fetch the Apache Spark + Delta engine's jars, or serve it."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

from finlake.commands.args import tcp_port

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers


def fetch() -> int:
    """Fetch (once) the jars the spark-delta engine adds to pyspark's JVM Spark."""
    from lake.spark_delta import ensure_jars, versions

    jars = ensure_jars()
    v = versions()
    print(f"Spark {v['spark']} + Delta {v['delta']} (Hadoop {v['hadoop']}, AWS SDK "
          f"{v['aws_sdk']}): {len(jars)} jars in {jars[0].parent if jars else '-'}")
    for jar in jars:
        print(f"  {jar.name}")
    return 0


def serve(settings: Settings, host: str, port: int) -> int:
    """A Spark + Delta Connect server in the foreground (``SPARK_REMOTE=sc://host:port``)
    with S3A pointed at the configured endpoint; stops on Ctrl-C or SIGTERM."""
    from lake.spark_delta import start_server

    proc, url = start_server(port, host=host, s3_endpoint=settings.s3_endpoint,
                             inherit_output=True)
    print(f"Spark + Delta Connect server on {url} (listening on {host}, pid {proc.pid}); "
          "Ctrl-C stops it",
          flush=True)

    def stop(*_: object) -> None:
        proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop()
        proc.wait(30)
        return 0
    finally:
        sys.stdout.flush()


def register(sub: Subparsers) -> None:
    sd = sub.add_parser("spark-delta", help="the Apache Spark + Delta engine "
                        "(FINLAKE_ENGINE=spark-delta): fetch its jars, or serve it")
    sd_sub = sd.add_subparsers(dest="spark_delta_command", required=True, metavar="ACTION")
    sdf = sd_sub.add_parser("fetch",
                            help="fetch the Delta, hadoop-aws and AWS SDK jars once (Maven)")
    sdf.set_defaults(handler=lambda settings, args: fetch())
    sds = sd_sub.add_parser("serve", help="run a Spark + Delta Connect server in the foreground")
    sds.add_argument("--port", type=tcp_port, default=15002)
    sds.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sds.set_defaults(handler=lambda settings, args: serve(settings, args.host, args.port))
