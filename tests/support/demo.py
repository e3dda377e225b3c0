"""The demo every end-to-end test starts from: built once per test run (``demo_build`` in
tests/conftest.py), copied for each test that changes it."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest


@dataclass(frozen=True)
class DemoBuild:
    """``finlake demo --users 3 --days 2`` run once, in process, against the embedded sandbox
    bank, with every log record at DEBUG in ``home / DEMO_LOG``. Never changed afterwards:
    tests take a copy (:func:`copy_demo`)."""

    home: Path
    stdout: str  # what the demo printed
    started: datetime  # just before it started


DEMO_LOG = "finlake-debug.log"


def build_demo(home: Path) -> DemoBuild:
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
