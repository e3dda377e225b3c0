"""FINLAKE_ENGINE picks the embedded engine; when Apache Spark + Delta cannot start, the
error says which part is missing and what to do, and the Sail default is unaffected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings
from lake.spark_delta import _artifact, server_command, server_conf

BIN = Path(sys.executable).parent


def test_the_engine_setting() -> None:
    assert load_settings({}).engine == "sail"
    settings = load_settings({"FINLAKE_ENGINE": "Spark-Delta"})
    assert settings.engine == "spark-delta"
    assert "Apache Spark + Delta" in settings.describe()
    with pytest.raises(ConfigError, match="FINLAKE_ENGINE='flink' is unknown; use sail"):
        load_settings({"FINLAKE_ENGINE": "flink"})
    # A cluster endpoint is the engine, whatever the embedded choice.
    remote = load_settings({"FINLAKE_ENGINE": "spark-delta", "SPARK_REMOTE": "sc://h:15002"})
    assert "engine sc://h:15002" in remote.describe()


def test_the_server_runs_delta_with_its_extension_catalog_and_s3a() -> None:
    jars = [Path("/j/delta-spark_2.13-4.4.0.jar"), Path("/j/delta-storage-4.4.0.jar")]
    cmd = server_command(15002, s3_endpoint="http://127.0.0.1:5000", jars=jars)
    joined = " ".join(cmd)
    assert "--class org.apache.spark.sql.connect.service.SparkConnectServer" in joined
    assert "--jars /j/delta-spark_2.13-4.4.0.jar,/j/delta-storage-4.4.0.jar" in joined
    for setting in ("spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
                    "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog."
                    "DeltaCatalog", "spark.connect.grpc.binding.port=15002",
                    "spark.hadoop.fs.s3.impl=org.apache.hadoop.fs.s3a.S3AFileSystem",
                    "spark.hadoop.fs.s3a.endpoint=http://127.0.0.1:5000",
                    "spark.hadoop.fs.s3a.path.style.access=true",
                    "spark.sql.session.timeZone=UTC"):
        assert setting in cmd, setting
    assert "spark.hadoop.fs.s3a.endpoint" not in server_conf(None)  # AWS: the default endpoint


def test_jars_pyspark_ships_are_not_added_twice() -> None:
    assert _artifact(Path("delta-spark_2.13-4.4.0.jar")) == "delta-spark_2.13"
    assert _artifact(Path("hadoop-client-api-3.4.2.jar")) == "hadoop-client-api"
    assert _artifact(Path("zstd-jni-1.5.7-3.jar")) == "zstd-jni"
    assert _artifact(Path("bundle-2.35.4.jar")) == "bundle"


def _finlake(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("FINLAKE_", "SPARK_", "JAVA_HOME"))}
    return subprocess.run([str(BIN / "finlake"), *args], capture_output=True, text=True,
                          env={**base, "FINLAKE_HOME": str(tmp_path / "home"), **env},
                          timeout=120)


def test_without_java_the_error_says_to_install_it(tmp_path: Path) -> None:
    # A PATH with Python but no java, no JAVA_HOME.
    out = _finlake(["spark-delta", "serve", "--port", "1"], tmp_path, PATH=str(BIN))
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "needs Java 17" in lines[0] and "openjdk-17-jre-headless" in lines[0]
    assert "FINLAKE_ENGINE=sail" in lines[0]


def test_without_maven_and_jars_the_error_says_to_install_maven(tmp_path: Path) -> None:
    out = _finlake(["spark-delta", "fetch"], tmp_path, PATH=str(BIN),
                   FINLAKE_SPARK_JARS=str(tmp_path / "no-jars-yet"))
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "mvn is not on PATH" in lines[0] and "apt-get install maven" in lines[0]
    assert not (tmp_path / "no-jars-yet").exists() or not any(
        (tmp_path / "no-jars-yet").rglob("*.jar")), "half-fetched jars left behind"


def test_a_failed_spark_delta_run_leaves_the_sail_default_working(tmp_path: Path) -> None:
    """The same lake: a command on the unavailable engine fails with the reason; the
    next command on the default engine works."""
    (tmp_path / "home").mkdir()  # only demo and link-sandbox may create a home
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("description,amount,category\n"
                        "STARBUCKS STORE 0423,4.50,FOOD_AND_DRINK_COFFEE\n"
                        "SHELL OIL 5521,30.00,TRANSPORTATION_GAS\n")
    bad = _finlake(["categorise-eval", str(labelled)], tmp_path, PATH=str(BIN),
                   FINLAKE_ENGINE="spark-delta")
    assert bad.returncode == 1 and "needs Java 17" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    good = _finlake(["categorise-eval", str(labelled)], tmp_path)
    assert good.returncode == 0, good.stderr
    assert '"accuracy"' in good.stdout


def test_when_maven_cannot_fetch_the_jars_the_error_says_so(tmp_path: Path) -> None:
    """Maven is there but the registry refuses (offline, blocked): one line, no jars kept."""
    tools = tmp_path / "bin"
    tools.mkdir()
    mvn = tools / "mvn"
    mvn.write_text("#!/bin/sh\necho '[ERROR] Could not transfer artifact "
                   "io.delta:delta-spark_2.13:pom:4.4.0: Connection refused'\nexit 1\n")
    mvn.chmod(0o755)
    jars = tmp_path / "jars"
    out = _finlake(["spark-delta", "fetch"], tmp_path, PATH=f"{tools}:{BIN}:/usr/bin:/bin",
                   FINLAKE_SPARK_JARS=str(jars))
    assert out.returncode == 1, out.stderr
    errors = [line for line in out.stderr.splitlines() if not line.startswith("==> ")]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr  # progress + 1 line
    assert "Maven could not fetch the Delta jars" in errors[0]
    assert "Connection refused; or set FINLAKE_ENGINE=sail" in errors[0]
    assert not list(jars.rglob("*.jar")) and not list(jars.rglob(".complete"))
