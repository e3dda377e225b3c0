"""lake/spark.py: a garbled answer to a settings call (a read, or a setting set) is sent
again; no other call is."""

from __future__ import annotations

import pytest
from pyspark.sql.connect.client.core import SparkConnectClient
from pyspark.sql.connect.proto import base_pb2 as pb2

from lake import spark as spark_module

GARBLED = ("<_InactiveRpcError of RPC that terminated with: status = StatusCode.INTERNAL "
           'details = "Exception deserializing response!">')


def _flaky(failures: int, calls: list[str]):  # noqa: ANN202
    def config(self, operation):  # noqa: ANN001, ANN202
        calls.append(operation.WhichOneof("op_type"))
        if len(calls) <= failures:
            raise RuntimeError(GARBLED)
        return "answer"
    return config


def _read() -> pb2.ConfigRequest.Operation:
    op = pb2.ConfigRequest.Operation()
    op.get.keys.append("spark.sql.session.timeZone")
    return op


def _write() -> pb2.ConfigRequest.Operation:
    op = pb2.ConfigRequest.Operation()
    op.set.pairs.add(key="spark.sql.shuffle.partitions", value="4")
    return op


@pytest.mark.parametrize("failures", [1, 2])
def test_a_garbled_settings_read_is_read_again(monkeypatch, failures: int) -> None:
    calls: list[str] = []
    monkeypatch.setattr(SparkConnectClient, "config", _flaky(failures, calls))
    spark_module.retry_garbled_config_calls()
    spark_module.retry_garbled_config_calls()  # once only: not wrapped twice
    assert SparkConnectClient.config(None, _read()) == "answer"
    assert calls == ["get"] * (failures + 1)


def test_three_garbled_answers_fail_and_a_set_is_sent_again(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(SparkConnectClient, "config", _flaky(3, calls))
    spark_module.retry_garbled_config_calls()
    with pytest.raises(RuntimeError, match="Exception deserializing response"):
        SparkConnectClient.config(None, _read())
    assert calls == ["get"] * 3
    calls.clear()
    monkeypatch.setattr(SparkConnectClient, "config", _flaky(1, calls))
    spark_module.retry_garbled_config_calls()
    assert SparkConnectClient.config(None, _write()) == "answer"  # the same value, twice
    assert calls == ["set", "set"]


def test_other_errors_are_not_retried(monkeypatch) -> None:
    calls: list[str] = []

    def config(self, operation):  # noqa: ANN001, ANN202
        calls.append(operation.WhichOneof("op_type"))
        raise RuntimeError("spark.sql.foo is not a valid setting")

    monkeypatch.setattr(SparkConnectClient, "config", config)
    spark_module.retry_garbled_config_calls()
    with pytest.raises(RuntimeError, match="not a valid setting"):
        SparkConnectClient.config(None, _write())
    assert calls == ["set"]


def test_the_session_has_it(spark) -> None:
    assert getattr(SparkConnectClient.config, "_finlake_retry", False)
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


IDLE = """
import os, sys, time
from lake.spark import spark_session
spark = spark_session()
spark.range(1).collect()
time.sleep(4)
try:
    spark.range(1).collect()
    print("alive", os.environ["SAIL_SPARK__SESSION_TIMEOUT_SECS"])
except Exception as exc:
    print("ended", "is not running" in str(exc))
"""


@pytest.mark.parametrize(("timeout", "expected"), [("2", "ended True"), (None, "alive 86400")])
def test_the_embedded_engine_keeps_an_idle_session(timeout: str | None, expected: str) -> None:
    """Sail ends a session idle for 15 minutes (``spark.session_timeout_secs``); a test
    session once waited longer for the Spark + Delta tests and every later test failed with
    "session ... is not running". Shown here with 2 seconds, then finlake's default."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "SAIL_SPARK__SESSION_TIMEOUT_SECS"}
    if timeout:
        env["SAIL_SPARK__SESSION_TIMEOUT_SECS"] = timeout
    out = subprocess.run([sys.executable, "-c", IDLE], cwd=Path(__file__).parents[2], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == expected, out.stdout + out.stderr[-2000:]
