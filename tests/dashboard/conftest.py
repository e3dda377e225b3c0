"""Fixtures of the dashboard tests over the small lake (tests/support/lake_fixtures.py): a
shared read-only home per module, a fresh writable one per test, and no throttled sign-ins
carried over from an earlier test. A module with a lake of its own defines its own homes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import auth
from tests.support.lake_fixtures import small_lake


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    small_lake(home)
    return home


@pytest.fixture
def writable_home(tmp_path: Path) -> Path:
    small_lake(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_throttle() -> None:
    auth.THROTTLE.clear()  # failed sign-ins of one test do not throttle the next
