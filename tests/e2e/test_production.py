"""The production configuration, exercised: one switch (``FINLAKE_ENV=production``) and a
full nightly partition against real servers on 127.0.0.1 — moto's S3 and KMS server, a
separately started Spark Connect server (Sail, and Apache Spark + Delta Lake with S3A), the
PostgreSQL (Dagster storage) and Redis (the shared rate limiter) that ./dev test starts.
Nothing may fall back to an embedded default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings
from tests.support.servers import aws_env, free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
BUCKET = "finlake-prod"
ALIAS = "alias/finlake-credentials"
PG_ROLE = "finlake"  # LOGIN CREATEDB, trusted from 127.0.0.1 (./dev test sets it up)


ENGINES = [pytest.param("sail", id="sail"),
           pytest.param("spark-delta", id="spark-delta", marks=pytest.mark.delta_spark)]


@pytest.fixture(scope="module", params=ENGINES)
def engine_server(request, moto_s3: str) -> Iterator[tuple[str, int, str]]:
    """The cluster's engine in its own process, with its own S3 access: ``sail spark
    server``, or Apache Spark + Delta (the session's ``finlake spark-delta serve``, S3A)."""
    if request.param == "spark-delta":
        remote, pid = request.getfixturevalue("spark_delta_server")
        yield remote, pid, "spark-delta"
        return
    port = free_port()
    env = {**os.environ, **aws_env(moto_s3), "RUST_LOG": "error"}
    proc = subprocess.Popen([str(BIN / "sail"), "spark", "server", "--ip", "127.0.0.1",
                             "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, "the Sail Spark Connect server")
    yield f"sc://127.0.0.1:{port}", proc.pid, "sail"
    proc.terminate()
    proc.wait(20)


@pytest.fixture
def dagster_db() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL for Dagster's storage."""
    import psycopg2

    name = f"finlake_prod_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user=PG_ROLE, dbname=PG_ROLE)
    except psycopg2.OperationalError as e:
        raise RuntimeError(f"this test needs PostgreSQL on 127.0.0.1:5432 with the role {PG_ROLE} "
                           f"that ./dev test creates: {e}") from None
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield name
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _cpu_ticks(pid: int) -> int:
    """CPU time (user + system ticks) of a process and its children (the JVM under
    ``finlake spark-delta serve``)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, ticks = {pid}, 0
    for p in sorted(stats):  # children have larger pids than the parent here
        if p == pid or stats[p][0] in tree:
            tree.add(p)
            ticks += stats[p][1]
    return ticks


def _redis_script_calls(r) -> int:  # noqa: ANN001
    stats = r.info("commandstats")
    return sum(stats.get(k, {}).get("calls", 0) for k in ("cmdstat_evalsha", "cmdstat_eval"))


def _finlake(args: list[str], env: dict[str, str], timeout: float = 900
             ) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "finlake"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_production_needs_every_service_named(tmp_path) -> None:
    base = {"FINLAKE_HOME": str(tmp_path), "FINLAKE_ENV": "production",
            "FINLAKE_S3_BUCKET": BUCKET, "FINLAKE_KMS_KEY_ID": ALIAS}
    with pytest.raises(ConfigError) as err:
        load_settings(base)
    for name in ("SPARK_REMOTE", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB",
                 "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        assert name in str(err.value)
    full = {**base, "SPARK_REMOTE": "sc://spark:15002", "DAGSTER_PG_HOST": "pg",
            "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USER": "dagster",
            "DAGSTER_PG_PASSWORD": ""}
    settings = load_settings(full)
    assert settings.lake_root == f"s3://{BUCKET}/finlake"
    assert settings.rate_limiter_url.startswith("redis://")
    assert "engine sc://spark:15002" in settings.describe()
    assert "PostgreSQL" in settings.describe()
    with pytest.raises(ConfigError, match="DAGSTER_PG_PORT='five' must be a port number"):
        load_settings({**full, "DAGSTER_PG_PORT": "five"})
    out = _finlake(["nightly", "--date", "2026-01-01"], {**os.environ, **base})
    assert out.returncode == 2 and "SPARK_REMOTE" in out.stderr, out.stderr


def test_a_full_partition_in_the_production_configuration(
        tmp_path, moto_s3, engine_server, dagster_db) -> None:
    import boto3
    import psycopg2
    import redis

    from lake.lake import Lake
    from lake.tables import TRANSACTIONS

    remote, engine_pid, engine = engine_server
    bucket, alias = f"{BUCKET}-{engine}", f"{ALIAS}-{engine}"
    aws = aws_env(moto_s3)
    s3 = boto3.client("s3", **{"endpoint_url": moto_s3, "region_name": "us-east-1"})
    s3.create_bucket(Bucket=bucket)
    kms = boto3.client("kms", endpoint_url=moto_s3, region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    r = redis.Redis(host="127.0.0.1", port=6379)
    r.ping()

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FINLAKE_", "DAGSTER_", "PLAID_", "SPARK_"))}
    env.update(aws, FINLAKE_ENV="production", FINLAKE_HOME=str(home),
               FINLAKE_S3_BUCKET=bucket, FINLAKE_KMS_KEY_ID=alias, SPARK_REMOTE=remote,
               DAGSTER_PG_HOST="127.0.0.1", DAGSTER_PG_PORT="5432", DAGSTER_PG_DB=dagster_db,
               DAGSTER_PG_USER=PG_ROLE, DAGSTER_PG_PASSWORD="")
    engine_before, redis_before = _cpu_ticks(engine_pid), _redis_script_calls(r)

    demo = _finlake(["demo", "--users", "3", "--days", "1"], env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    assert (f"production: lake s3://{bucket}/finlake, engine {remote}, Dagster storage "
            "PostgreSQL") in out
    assert "rate limiter redis://127.0.0.1:6379/0" in out
    assert '"exact": true' in out and " ok in " in out

    # The work happened on the servers, not in embedded stand-ins.
    assert _cpu_ticks(engine_pid) - engine_before > 100, f"the {engine} server did no work"
    assert _redis_script_calls(r) - redis_before >= 7, "partner calls took no Redis tokens"
    keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])}
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert any(k.startswith(f"finlake/raw/transactions_sync/sync_date={day}/") for k in keys)
    for table in ("transactions", "monthly_spend", "credentials", "audit_log", "accounts"):
        assert any(f"/{table}/_delta_log/" in k for k in keys), table
    leftovers = [p for p in home.rglob("*") if p.is_file() and (
        p.suffix == ".db" or "lake" in p.relative_to(home).parts
        or p.relative_to(home).parts[0] == "keys")]
    assert not leftovers, f"embedded storage was used: {leftovers}"
    with psycopg2.connect(host="127.0.0.1", user=PG_ROLE, dbname=dagster_db) as pg:
        cur = pg.cursor()
        cur.execute("SELECT pipeline_name, status, partition FROM runs")
        assert ("nightly", "SUCCESS", day) in cur.fetchall()
    status = _finlake(["keys", "status"], env, timeout=120)
    assert status.returncode == 0 and alias in status.stdout, status.stdout + status.stderr

    # Analysts read the S3 lake through DuckDB; the count matches the demo's own.
    shown = next(int(line.split()[1].replace(",", "")) for line in out.splitlines()
                 if line.strip().startswith("transactions "))
    sql = _finlake(["sql", "SELECT count(*) AS n FROM transactions", "--format", "json"], env,
                   timeout=120)
    assert sql.returncode == 0, sql.stderr
    assert json.loads(sql.stdout)[0]["n"] == shown

    # A replay of the partition against the same services changes nothing.
    lake = Lake(f"s3://{bucket}/finlake", moto_s3)
    version = lake.delta(TRANSACTIONS).version()
    replay = _finlake(["nightly", "--date", day, "--replay"], env)
    assert replay.returncode == 0, replay.stdout[-3000:] + replay.stderr[-3000:]
    assert lake.delta(TRANSACTIONS).version() == version
    writer = lake.delta(TRANSACTIONS).history(1)[0].get("engineInfo", "")
    assert writer.startswith("Apache-Spark/" if engine == "spark-delta" else "sail"), writer
