"""Apache Spark + Delta Lake as a second engine: the JVM Spark that pyspark ships, started as a
local Spark Connect server with delta-spark, Delta's SQL extension and catalog, and S3A.

The jars pyspark lacks (delta-spark, delta-storage and what they need; hadoop-aws and the AWS
SDK bundle for ``s3://`` paths) are fetched once by Maven (its cache is the usual
``~/.m2``) and copied into a git-ignored folder (``.tools/spark-delta/<delta version>``
in a checkout), then reused by every start.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.file_modes import PRIVATE_UMASK

# delta-spark built against the Spark that pyspark ships (Delta's compatibility table), and
# the hadoop-aws of pyspark's Hadoop client with the AWS SDK bundle and S3 analytics
# accelerator that Hadoop release is built on (its hadoop-project pom).
DELTA_FOR_SPARK = {"4.2": "4.4.0"}
S3A_FOR_HADOOP = {"3.5.0": {"aws_sdk": "2.35.4", "analytics_accelerator": "1.3.1"}}
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT = 180.0  # seconds; a cold JVM on 2 busy cores takes 10-40 s

_lock = threading.Lock()
_embedded: dict[str, object] = {}


class EngineUnavailable(RuntimeError):
    """The Spark + Delta engine cannot start here; the message says why and what to do."""


def pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def versions() -> dict[str, str]:
    """Spark, Delta, Hadoop and AWS SDK versions this engine runs with."""
    import pyspark

    spark = pyspark.__version__
    minor = ".".join(spark.split(".")[:2])
    if minor not in DELTA_FOR_SPARK:
        raise EngineUnavailable(
            f"no delta-spark release is known for Spark {spark} (pyspark); add it to "
            "DELTA_FOR_SPARK in lake/spark_delta.py (see Delta Lake's compatibility table)")
    hadoop = next((p.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
                   for p in (pyspark_home() / "jars").glob("hadoop-client-api-*.jar")), "")
    if hadoop not in S3A_FOR_HADOOP:
        raise EngineUnavailable(f"pyspark ships Hadoop {hadoop or '?'}; add the versions its "
                                "hadoop-aws needs to S3A_FOR_HADOOP in lake/spark_delta.py")
    return {"spark": spark, "delta": DELTA_FOR_SPARK[minor], "hadoop": hadoop,
            **S3A_FOR_HADOOP[hadoop]}


def default_jar_dir() -> Path:
    """``.tools/spark-delta`` in a checkout (git-ignored), else the user's cache."""
    override = os.environ.get("FINLAKE_SPARK_JARS")
    if override:
        return Path(override).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout / ".tools" / "spark-delta"
    return Path.home() / ".cache" / "finlake" / "spark-delta"


def _pom(v: dict[str, str]) -> str:
    def dep(group: str, artifact: str, version: str, *, alone: bool = False) -> str:
        excl = ("<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId>"
                "</exclusion></exclusions>") if alone else ""
        return (f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
                f"<version>{version}</version>{excl}</dependency>")

    deps = "".join([
        dep("io.delta", "delta-spark_2.13", v["delta"]),
        dep("org.apache.hadoop", "hadoop-aws", v["hadoop"], alone=True),
        dep("software.amazon.awssdk", "bundle", v["aws_sdk"], alone=True),
        dep("software.amazon.s3.analyticsaccelerator", "analyticsaccelerator-s3",
            v["analytics_accelerator"], alone=True),
    ])
    return ("<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0"
            "</modelVersion><groupId>finlake</groupId><artifactId>spark-delta-jars"
            "</artifactId><version>1</version><packaging>pom</packaging>"
            f"<dependencies>{deps}</dependencies></project>")


def _artifact(jar: Path) -> str:
    """``delta-storage-4.4.0.jar`` -> ``delta-storage`` (name without its version)."""
    parts = jar.stem.split("-")
    while parts and parts[-1][:1].isdigit():
        parts.pop()
    return "-".join(parts)


def ensure_jars(jar_dir: Path | None = None,
                progress: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
                ) -> list[Path]:
    """The engine's extra jars, fetched with Maven the first time; returns their paths."""
    v = versions()
    pom = _pom(v)  # the folder is named by what it holds: a new jar set, a new folder
    digest = hashlib.sha1(pom.encode()).hexdigest()[:8]
    target = (jar_dir or default_jar_dir()) / f"delta-{v['delta']}-hadoop-{v['hadoop']}-{digest}"
    done = target / ".complete"
    if done.exists():
        _log4j(target)
        return sorted(target.glob("*.jar"))
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EngineUnavailable(
            "the spark-delta engine fetches the Delta jars once with Maven, and mvn is not on "
            "PATH: install Maven (Debian: apt-get install maven), or set FINLAKE_ENGINE=sail")
    progress(f"==> fetching delta-spark {v['delta']}, hadoop-aws {v['hadoop']} and the AWS "
             f"SDK {v['aws_sdk']} with Maven into {target} (once)")
    for old in target.parent.glob("delta-*"):  # jar sets of other versions
        shutil.rmtree(old, ignore_errors=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "pom.xml").write_text(pom)
        out = Path(work) / "jars"
        proc = subprocess.run(
            [mvn, "-B", "-q", "-f", str(Path(work) / "pom.xml"),
             "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={out}"], capture_output=True, text=True)
        if proc.returncode != 0:
            said = [line.strip() for line in (proc.stdout + proc.stderr).splitlines()]
            # Maven's first [ERROR] line names the artifact and the cause; the rest is help.
            errors = [line for line in said if line.startswith("[ERROR] ") and "Help 1" not in
                      line and "-e switch" not in line and "-X switch" not in line]
            tail = (errors[0] if errors else " ".join(line for line in said if line))[-600:]
            raise EngineUnavailable(
                "Maven could not fetch the Delta jars (is the Maven registry reachable?): "
                f"{tail}; or set FINLAKE_ENGINE=sail")
        # pyspark's own jars win: keep only what it does not ship (Spark, Hadoop client,
        # Scala, Jackson, Parquet... of other versions would clash).
        shipped = {_artifact(j) for j in (pyspark_home() / "jars").glob("*.jar")}
        keep = [j for j in sorted(out.glob("*.jar")) if _artifact(j) not in shipped]
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for jar in keep:
            shutil.copy2(jar, staging / jar.name)
        (staging / ".complete").write_text("\n".join(j.name for j in keep) + "\n")
        _log4j(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    size = sum(p.stat().st_size for p in target.glob("*.jar")) / 2**20
    progress(f"==> {len(keep)} jars ({size:,.0f} MiB) in {time.perf_counter() - t0:.0f} s")
    return sorted(target.glob("*.jar"))


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise EngineUnavailable(
            "the spark-delta engine runs JVM Spark and needs Java 17 or newer: install a JRE "
            "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME; or set "
            "FINLAKE_ENGINE=sail")
    return java


def server_conf(s3_endpoint: str | None = None) -> dict[str, str]:
    """Spark settings of the engine: Delta's extension and catalog, UTC, and S3A for s3://."""
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        # finlake's nightly is hundreds of small queries: few partitions, no per-query
        # fan-out to 200 shuffle tasks or 50 Delta snapshot tasks, no state re-validation.
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.stateReconstructionValidation.enabled": "false",
        "spark.driver.memory": "4g",
        # finlake's table URIs are s3://bucket/...: map the scheme to S3A.
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider":
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider",
        # Hadoop applies its own umask where it sets a file's mode itself: finlake's
        "spark.hadoop.fs.permissions.umask-mode": f"{PRIVATE_UMASK:03o}",
    }
    if s3_endpoint:  # moto, MinIO: path-style addressing, plain HTTP allowed
        conf |= {"spark.hadoop.fs.s3a.endpoint": s3_endpoint,
                 "spark.hadoop.fs.s3a.path.style.access": "true",
                 "spark.hadoop.fs.s3a.connection.ssl.enabled":
                     str(s3_endpoint.startswith("https")).lower(),
                 "spark.hadoop.fs.s3a.endpoint.region":
                     os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                     or "us-east-1"}
    return conf


def _log4j(dir_: Path) -> Path:
    """The server's logging: warnings and errors only, to stderr."""
    conf = dir_ / "log4j2.properties"
    if not conf.exists():
        conf.write_text("rootLogger.level = warn\nrootLogger.appenderRef.stdout.ref = console\n"
                        "appender.console.type = Console\nappender.console.name = console\n"
                        "appender.console.target = SYSTEM_ERR\n"
                        "appender.console.layout.type = PatternLayout\n"
                        "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex\n")
    return conf


def server_command(port: int, host: str = "127.0.0.1", s3_endpoint: str | None = None,
                   cores: int | None = None, jars: list[Path] | None = None) -> list[str]:
    """The ``spark-submit`` command line of a Spark Connect server with Delta."""
    jars = jars if jars is not None else ensure_jars()
    conf = server_conf(s3_endpoint) | {"spark.connect.grpc.binding.address": host,
                                       "spark.connect.grpc.binding.port": str(port)}
    log_conf = jars[0].parent / "log4j2.properties" if jars else None
    cmd = [str(pyspark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS,
           "--master", f"local[{cores or os.cpu_count() or 2}]", "--name", "finlake-spark-delta",
           "--jars", ",".join(str(j) for j in jars)]
    if log_conf:
        cmd += ["--driver-java-options", f"-Dlog4j.configurationFile=file:{log_conf}"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, "spark-internal"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The server dies with the process that started it, even on kill -9 / os._exit."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_server(port: int | None = None, host: str = "127.0.0.1",
                 s3_endpoint: str | None = None, inherit_output: bool = False,
                 ) -> tuple[subprocess.Popen, str]:
    """Start a Spark + Delta Connect server on ``host``; returns it and its ``sc://`` URL
    once it accepts connections. Its warnings go to this process's
    stderr (``inherit_output``) or to a pipe the caller drains."""
    java = _java()
    jars = ensure_jars()
    port = port or _free_port()
    env = {**os.environ, "SPARK_HOME": str(pyspark_home()),
           "JAVA_HOME": os.environ.get("JAVA_HOME") or str(Path(java).resolve().parents[1]),
           "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    out = None if inherit_output else subprocess.PIPE
    proc = subprocess.Popen(server_command(port, host, s3_endpoint=s3_endpoint, jars=jars),
                            env=env, stdout=subprocess.DEVNULL, stderr=out,
                            preexec_fn=_die_with_parent)
    deadline = time.time() + START_TIMEOUT
    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "localhost") else host
    while True:
        try:
            with socket.create_connection((probe, port), timeout=1):
                return proc, f"sc://{probe}:{port}"
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                err = proc.stderr.read().decode(errors="replace")[-800:] if proc.stderr else ""
                raise EngineUnavailable(
                    f"the Spark + Delta Connect server did not start on {host}:{port} "
                    f"(exit {proc.poll()}): {err.strip() or 'see its output above'}") from None
            time.sleep(0.25)


def embedded_spark_delta_remote(s3_endpoint: str | None = None) -> str:
    """Start (once per process) a local Spark + Delta Connect server; return its URL. It
    stops when this process exits, however it exits."""
    with _lock:
        if "remote" not in _embedded:
            # The kernel signals the server when the *thread* that started it ends
            # (PR_SET_PDEATHSIG), so a thread that lives as long as the process starts it.
            started: queue.Queue = queue.Queue()

            def own() -> None:
                try:
                    proc, url = start_server(s3_endpoint=s3_endpoint)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    started.put(exc)
                    return
                started.put((proc, url))
                if proc.stderr:  # drain, so a chatty JVM never blocks on a full pipe
                    proc.stderr.read()
                proc.wait()

            threading.Thread(target=own, name="spark-delta-server", daemon=True).start()
            got = started.get()
            if isinstance(got, BaseException):
                raise got
            proc, url = got
            atexit.register(_stop, proc)
            _embedded.update(server=proc, remote=url)
        return str(_embedded["remote"])


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
