"""Issue 23, item 3 on the Transactions page: in "To review", a copy the bank sent again under
a new id (silver's status ``duplicate``, reason ``sent_again``) has a "Not a duplicate"
button; it runs ``finlake duplicate keep --json --actor dashboard`` as a child process, says
how it went, and the copy leaves the list once kept (it counts again).

One small lake for the module with a pair: alice's coffee and the bank's copy of it. The
child is stood in for here (the real ``finlake duplicate keep`` is run by
tests/pipelines/test_reissued_ids.py and, with ``--json --actor``, tests/finlake/
test_manual_cli.py): only the copy has the button, the page runs the command for the
signed-in person only, shows a refusal in one line, and once kept the copy leaves the list."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import linking
from dashboard.plain import plain
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import TRANSACTIONS
from tests.dashboard.test_dashboard import _open
from tests.support.lake_fixtures import ALICE, small_lake, transactions, txn, write_table

CHILD_TIMEOUT = 400  # seconds for a page run that waits for a child (a loaded 2-core runner)
ORIGINAL, COPY = "a" * 32, "b" * 32  # silver's ids: 32 hex characters
COFFEE = "<i>BLUE</i> BOTTLE COFFEE"


@pytest.fixture(scope="module")
def pair_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pair_home")
    lake = small_lake(home)
    day = date(2024, 2, 21)
    write_table(lake, TRANSACTIONS, transactions() + [
        txn(ALICE, 20, day, "4.50", COFFEE, "FOOD_AND_DRINK_COFFEE", txn_id=ORIGINAL,
            source_seq="00000005"),
        txn(ALICE, 21, day, "4.50", COFFEE, "FOOD_AND_DRINK_COFFEE", txn_id=COPY,
            source_seq="00000009", status="duplicate")])  # a later update's copy
    return home


def _review(home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    at = _open(home, monkeypatch, "transactions", ALICE)
    at.segmented_control(key="txn_view").set_value("review").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _keep_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.label == "Not a duplicate"]


def _whys(at: AppTest) -> list[str]:
    [df] = [d.value for d in at.data_editor if "Why" in d.value.columns] or [None]
    return [] if df is None else list(df["Why"])


class _Recorded:
    runs: list[list[str]] = []

    def __init__(self, argv: list[str], stdin_text: str | None = None) -> None:
        self.runs.append(argv)
        self.returncode = 2

    def events(self, tick: Any) -> Iterator[dict]:
        yield {"step": "keeping", "text": "Counting it again"}
        yield {"step": "error", "code": "NOT_FLAGGED",
               "text": "transaction is not flagged as a probable duplicate"}

    def last_words(self) -> str | None:
        return None

    def stop(self) -> None:
        pass


def test_only_a_copy_has_the_button_and_it_acts_for_the_signed_in_person(
        pair_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linking, "Child", _Recorded)
    _Recorded.runs.clear()
    at = _review(pair_home, monkeypatch)
    assert _keep_buttons(at) == [f"keep_{COPY}"]  # the copy, not the original nor the rest
    assert any(w.startswith("A copy your bank sent again") for w in _whys(at))
    assert any(plain(COFFEE) in m.value for m in at.markdown)  # as text, never markup
    at.button(key=f"keep_{COPY}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    [argv] = _Recorded.runs
    assert argv[3:] == ["duplicate", "keep", "--user", "alice", "--transaction", COPY,
                        "--json", "--actor", "dashboard"]
    [status] = at.status
    assert status.state == "error"  # the child's refusal, in one line, and the copy stays
    assert [e.value for e in at.error] == [
        "transaction is not flagged as a probable duplicate"]
    assert _keep_buttons(at) == [f"keep_{COPY}"]


class _Keeps:
    """The child as ``finlake duplicate keep`` ends when it succeeds (tests/pipelines and
    tests/finlake/test_manual_cli.py run the real one): the copy is live again in silver."""

    runs: list[list[str]] = []

    def __init__(self, argv: list[str], stdin_text: str | None = None) -> None:
        self.runs.append(argv)
        self.returncode = 0
        lake = Lake(os.environ["FINLAKE_HOME"] + "/lake")
        write_table(lake, TRANSACTIONS, [{**r, "status": "live"} if r["txn_id"] == COPY else r
                                         for r in read_rows(lake, TRANSACTIONS)])

    def events(self, tick: Any) -> Iterator[dict]:
        yield {"step": "keeping", "text": "Counting it again"}
        yield {"step": "kept", "text": "Kept: it is not a duplicate and counts again"}

    def last_words(self) -> str | None:
        return None

    def stop(self) -> None:
        pass


def test_not_a_duplicate_says_so_and_the_copy_leaves_the_list(
        pair_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(shutil.copytree(pair_home, tmp_path / "home"))
    monkeypatch.setattr(linking, "Child", _Keeps)
    at = _review(home, monkeypatch)
    at.button(key=f"keep_{COPY}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert [e.value for e in at.error] == []
    assert at.success[0].value == (f"{plain(COFFEE)} is not a duplicate: it counts again in "
                                   "your totals.")
    assert _keep_buttons(at) == []  # it left the list, read again at once from the lake
    assert not any(w.startswith("A copy your bank") for w in _whys(at))
