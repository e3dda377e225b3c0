"""Shared fixtures: one Sail Spark session per test session, a moto S3 server, a tmp lake,
one ``finlake demo`` built once for the session (tests work on copies of it).

``./dev test`` runs the suite on pytest-xdist workers (``--dist loadscope``, scheduled by
:func:`pytest_xdist_make_scheduler`): every test module stays on one worker (its module
fixtures are built once), all Apache Spark + Delta tests share one worker (one JVM server)
and start first, being the longest, and the demo build and the child bytecode cache are
made once and shared by the workers."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lake.lake import Lake

JVM_GROUP = "spark-delta-jvm"
JVM_TESTS = "jvm-tests-{worker}.txt"  # in the run's base temp: a worker's delta_spark tests


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the Spark + Delta tests first (the longest unit of work), and
    their ids written down for the scheduler (:class:`ModuleScheduling`)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not config.option.basetemp:
        return
    items.sort(key=lambda item: item.get_closest_marker("delta_spark") is None)
    jvm = [item.nodeid for item in items if item.get_closest_marker("delta_spark")]
    (Path(config.option.basetemp).parent / JVM_TESTS.format(worker=worker)).write_text(
        "\n".join(jvm))


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown when run with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` as ``./dev test`` runs it: one unit of work per test module (its
    module fixtures are built once), and one for every Spark + Delta test (one JVM server)."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    base = config._tmp_path_factory.getbasetemp()  # the workers' base temps are under it

    class ModuleScheduling(LoadScopeScheduling):
        jvm: set[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.jvm is None:  # first called once every worker has collected
                self.jvm = {line for f in base.glob(JVM_TESTS.format(worker="*"))
                            for line in f.read_text().splitlines()}
            return JVM_GROUP if nodeid in self.jvm else nodeid.split("::", 1)[0]

    return ModuleScheduling(config, log)


def run_shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this run sees (this session's base temp directory
    when there are no workers)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def run_lock(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """An exclusive lock shared by the workers of this run; yields the shared directory."""
    shared = run_shared_dir(tmp_path_factory)
    with open(shared / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield shared
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _compiled(package: str) -> bool:
    """Whether ``package`` has bytecode next to its source (the .venv was compiled)."""
    spec = importlib.util.find_spec(package)
    return bool(spec and spec.origin
                and Path(importlib.util.cache_from_source(spec.origin)).exists())


@pytest.fixture(scope="session", autouse=True)
def child_bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Python processes the tests start (the CLI, Dagster, Streamlit, Spark's Python workers)
    share one bytecode cache for the session.

    With PYTHONDONTWRITEBYTECODE set and a .venv that ships no .pyc files, every child would
    compile dagster, great_expectations, pyspark and scipy from source again: about 6 s of CPU
    per process, and the crash tests alone start 20. The children write their bytecode under
    this session's temporary directory instead (nothing lands in the checkout or the .venv);
    the first compiles, the rest load it. This process is not affected either way, and
    nothing changes where bytecode is written already or the .venv was compiled
    (``uv sync --compile-bytecode``)."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX") \
            or _compiled("great_expectations"):
        yield
        return
    shared = bool(os.environ.get("PYTEST_XDIST_WORKER"))
    cache = run_shared_dir(tmp_path_factory) / "pycache" if shared else \
        tmp_path_factory.mktemp("pycache")
    cache.mkdir(exist_ok=True)
    mp = pytest.MonkeyPatch()
    mp.delenv("PYTHONDONTWRITEBYTECODE")
    mp.setenv("PYTHONPYCACHEPREFIX", str(cache))
    yield
    mp.undo()
    if not shared:  # the other workers may still use it; pytest prunes old base temps
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def spark():
    from lake.spark import spark_session

    return spark_session()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 (a real HTTP S3 API, memory only)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                           "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    yield url
    proc.terminate()
    proc.wait(10)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"{what} did not start on 127.0.0.1:{port}") from None
            time.sleep(0.2)


def aws_env(moto_url: str) -> dict[str, str]:
    """AWS variables for a process that talks to moto's S3 and KMS server."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto_url, "AWS_ALLOW_HTTP": "true"}


@pytest.fixture(scope="session")
def spark_delta_server(moto_s3: str) -> Iterator[tuple[str, int]]:
    """One Apache Spark + Delta Connect server for the session (``finlake spark-delta
    serve``, its own process, S3A pointed at moto): a JVM warms up once, not per test."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINLAKE_", "SPARK_"))}
    env.update(aws_env(moto_s3))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "finlake"), "spark-delta",
                             "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, "the Spark + Delta Connect server", timeout=240)
    yield f"sc://127.0.0.1:{port}", proc.pid
    proc.terminate()
    proc.wait(60)


@dataclass(frozen=True)
class DemoBuild:
    """``finlake demo --users 3 --days 2`` run once, in process, against the embedded sandbox
    bank, with every log record at DEBUG in ``home / DEMO_LOG``. Never changed afterwards:
    tests take a copy (:func:`copy_demo`)."""

    home: Path
    stdout: str  # what the demo printed
    started: datetime  # just before it started


DEMO_LOG = "finlake-debug.log"


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> DemoBuild:
    """The demo, built by the first worker that needs it; the others wait and share it."""
    with run_lock(tmp_path_factory, "demo_build") as shared:
        done = shared / "demo_build.json"
        if done.exists():
            made = json.loads(done.read_text())
            return DemoBuild(Path(made["home"]), made["stdout"],
                             datetime.fromisoformat(made["started"]))
        build = _build_demo(shared / "demo_build")
        done.write_text(json.dumps({"home": str(build.home), "stdout": build.stdout,
                                    "started": build.started.isoformat()}))
        return build


def _build_demo(home: Path) -> DemoBuild:
    from core.settings import load_settings
    from finlake.commands import pipeline as commands

    shutil.rmtree(home, ignore_errors=True)  # a worker's build that failed part-way
    home.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("FINLAKE_HOME", str(home))
    mp.delenv("FINLAKE_PARTNER_HOST", raising=False)
    # Every log record of the demo, at DEBUG, kept in a file like a log shipper would (the
    # forget test scans it for the person it deletes).
    handler = logging.FileHandler(home / DEMO_LOG)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    out = io.StringIO()
    started = datetime.now(UTC)
    try:
        with contextlib.redirect_stdout(out):
            rc = commands.demo(load_settings(), users=3, days=2)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
        mp.undo()
    assert rc == 0, out.getvalue()
    return DemoBuild(home, out.getvalue(), started)


def copy_demo(build: DemoBuild, dest: Path) -> Path:
    """A private copy of the demo's FINLAKE_HOME at ``dest``. Nothing in it needs its own
    location: Delta logs hold relative file paths, Dagster's instance finds its SQLite storage
    through DAGSTER_HOME, the IO manager and the rate limiter through FINLAKE_HOME; the
    absolute paths in old Dagster events and Delta commit info are history, not addresses.
    Permissions are kept (the key directory stays 0700, key files 0600)."""
    shutil.copytree(build.home, dest, symlinks=True)
    return dest
