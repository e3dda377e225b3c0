"""Issue 24, item 4 on the Accounts page: add a manual account, add a transaction to it and
upload a bank's file into one, each run as a ``finlake`` child process (dashboard/manual.py).

One lake for the module (the small lake; alice signed in). The slow test runs the real
children: the account is added and shows as the person's own (no Refresh, no Reconnect), a
transaction whose description is HTML shows as text and moves the balance; the audit names
the dashboard. The others check what is refused before any child starts (an amount that is
no sum of money, a file too large to be a statement) and what the real child refuses cheaply,
before any Spark (a name already used, a file that is not a bank's export), and that the
uploaded file never outlives its import."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import linking, manual
from dashboard.data import money
from dashboard.data.txns import TxnFilter, search_transactions
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import ACCOUNTS, AUDIT_LOG
from tests.dashboard.test_dashboard import _button, _open, who
from tests.support.lake_fixtures import ALICE, small_lake

CHILD_TIMEOUT = 400  # seconds for a page run that waits for a child (a loaded 2-core runner)
HOSTILE = "<script>alert('x')</script> <b>Farmers</b> market"


@pytest.fixture(scope="module")
def manual_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("manual_home")
    small_lake(home)
    return home


class _NoChild:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("no child process may start here")


def _page(home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.delenv("FINLAKE_PARTNER_HOST", raising=False)
    return _open(home, monkeypatch, "accounts", ALICE)


def _choose(at: AppTest, action: str) -> AppTest:
    at.segmented_control(key="manual_action").set_value(action).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _add_account(at: AppTest, name: str, kind: str, balance: str = "") -> AppTest:
    _choose(at, "Add a manual account")
    at.text_input(key="manual_name").input(name)
    at.selectbox(key="manual_type").select(kind)
    at.text_input(key="manual_balance").input(balance)
    _button(at, "Add the account").click().run(timeout=CHILD_TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def _add_transaction(at: AppTest, description: str, amount: str) -> AppTest:
    _choose(at, "Add a transaction")
    at.text_input(key="manual_txn_description").input(description)
    at.text_input(key="manual_txn_amount").input(amount)
    _button(at, "Add the transaction").click().run(timeout=CHILD_TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def _upload(at: AppTest, name: str, body: bytes, account: str = "Travel card") -> AppTest:
    _choose(at, "Upload a bank file")
    at.file_uploader(key="manual_upload_file").set_value((name, body, "text/csv"))
    at.text_input(key="manual_upload_account").input(account)
    _button(at, "Import").click().run(timeout=CHILD_TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def _manual(home: Path) -> list[dict[str, Any]]:
    return [a for a in read_rows(Lake(str(home / "lake")), ACCOUNTS)
            if a["institution_id"] == "manual"]


def _own(at: AppTest) -> dict[str, dict[str, str]]:
    """The page's table of manual accounts, as {name: row}."""
    [df] = [d.value for d in at.dataframe if "Kept by you" in list(d.value.get("Status", []))]
    return {str(r["Account"]): {k: str(x) for k, x in r.items()} for r in df.to_dict("records")}


def _uploads(home: Path) -> list[str]:
    folder = home / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.slow
@pytest.mark.integration
def test_a_manual_account_and_a_transaction_typed_into_it(
        manual_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(shutil.copytree(manual_home, tmp_path / "home"))
    at = _page(home, monkeypatch)
    assert "Manual accounts" not in [s.value for s in at.subheader]
    assert at.segmented_control(key="manual_action").options == [
        "Add a manual account", "Upload a bank file"]  # no account to add a transaction to

    _add_account(at, "  Wallet ", "cash", "100")
    assert [e.value for e in at.error] == []
    assert [s.value for s in at.success] == ["Added the manual account Wallet."]
    assert "Manual accounts" in [s.value for s in at.subheader]
    assert _own(at)["Wallet"] == {"Account": "Wallet", "Balance": "$100.00",
                                               "Type": "Cash", "Status": "Kept by you"}
    # not a bank called "manual": nothing to refresh or reconnect
    assert not [b for b in at.button if b.key in ("refresh_manual", "reconnect_manual")]
    [acct] = _manual(home)
    assert (acct["user_id"], acct["type"], acct["subtype"], acct["currency"]) == (
        "alice", "depository", "cash", "USD")
    # nobody syncs it: a month later it is still no "Not updated recently" account
    lake = Lake(str(home / "lake"))
    later = money.accounts(lake, who(lake, ALICE), datetime.now(UTC) + timedelta(days=30))
    assert later.loc[later["name"] == "Wallet", "state"].tolist() == ["ok"]

    _add_transaction(at, HOSTILE, "12.50")
    assert [e.value for e in at.error] == []
    assert at.success[0].value.startswith("Added ")
    assert at.text_input(key="manual_txn_description").value == ""  # a new, empty form
    assert _own(at)["Wallet"]["Balance"] == "$87.50"  # money out of the wallet
    lake = Lake(str(home / "lake"))
    rows, _ = search_transactions(lake, who(lake, ALICE), TxnFilter(text="Farmers"))
    assert list(rows["description"]) == [HOSTILE]  # kept as typed, never as markup
    assert [float(a) for a in rows["amount"]] == [12.5]  # money out: the partner's sign
    audits = [(r["actor"], r["action"]) for r in sorted(read_rows(lake, AUDIT_LOG),
                                                          key=lambda r: r["occurred_at"])
              if r["action"].startswith("add_manual")]
    assert audits == [("dashboard", "add_manual_account"),
                      ("dashboard", "add_manual_transaction")]

    # The same name again (any case): the child refuses it before any Spark; one line.
    _add_account(at, "WALLET", "savings")
    [error] = [e.value for e in at.error]
    assert "already have a manual account named 'Wallet'" in error and "\n" not in error
    assert len(_manual(home)) == 1


def test_what_is_no_sum_of_money_is_refused_before_any_child(
        manual_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linking, "Child", _NoChild)
    at = _page(manual_home, monkeypatch)
    for balance, says in (("1e400", "less than 1,000,000,000,000"),
                          ("NaN", "is not a number"), ("12.345", "more than two decimals"),
                          ("twelve", "is not a number")):
        _add_account(at, "Savings jar", "savings", balance)
        [error] = [e.value for e in at.error]
        assert says in error, error
        assert not at.status
    assert _manual(manual_home) == []


class _Recorded:
    """Records what the page would run; says it was added."""

    runs: list[list[str]] = []
    files: list[tuple[str, bytes, int]] = []  # an upload as the child would find it
    code = 0  # its exit status

    def __init__(self, argv: list[str], stdin_text: str | None = None) -> None:
        self.runs.append(argv)
        self.returncode = self.code
        if argv[3] == "import":
            path = Path(argv[4])
            self.files.append((str(path.parent), path.read_bytes(), path.stat().st_mode))

    def events(self, tick: Any) -> Iterator[dict]:
        yield {"step": "done", "text": "Added"} if self.code == 0 else \
            {"step": "error", "code": "SYNC_FAILED", "text": "Stopped"}

    def last_words(self) -> str | None:
        return None

    def stop(self) -> None:
        pass


def test_the_child_acts_for_the_signed_in_person_with_one_id_per_form(
        manual_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linking, "Child", _Recorded)
    _Recorded.runs.clear()
    at = _page(manual_home, monkeypatch)
    _add_account(at, "-rf Wallet", "loan", "-250")
    [argv] = _Recorded.runs
    assert argv[argv.index("--user") + 1] == "alice"
    assert "--name=-rf Wallet" in argv and "--balance=-250" in argv  # never read as options
    assert argv[-3:] == ["--json", "--actor", "dashboard"]

    _upload(at, "export.csv", b"Date,Description,Amount\n2024-02-01,Tea,-3.00\n")
    argv = _Recorded.runs[-1]
    assert argv[3:4] == ["import"] and "--account=Travel card" in argv
    assert argv[argv.index("--user") + 1] == "alice"
    [(folder, body, mode)] = _Recorded.files
    assert folder == str(manual_home / "uploads") and body.startswith(b"Date,")
    assert mode & 0o077 == 0  # private to the dashboard's user
    assert _uploads(manual_home) == []  # removed once the import ended


def _with_an_account(home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The page as if alice had a manual account (the data layer says so)."""
    import pandas as pd

    from dashboard.data import money

    real = money.accounts

    def accounts(lake: Lake, principal: Any) -> pd.DataFrame:
        df = real(lake, principal)
        row = df.iloc[[0]].assign(institution_id="manual", name="Wallet")
        return pd.concat([df, row], ignore_index=True)

    monkeypatch.setattr(money, "accounts", accounts)
    return _page(home, monkeypatch)


def test_one_form_sent_again_is_one_entry_and_the_next_form_another(
        manual_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linking, "Child", _Recorded)
    _Recorded.runs.clear()
    at = _with_an_account(manual_home, monkeypatch)
    monkeypatch.setattr(_Recorded, "code", 1)  # it did not get through: sent again
    _add_transaction(at, HOSTILE, "4.50")
    _add_transaction(at, HOSTILE, "4.50")
    assert at.text_input(key="manual_txn_description").value == HOSTILE  # kept to send again
    monkeypatch.setattr(_Recorded, "code", 0)
    _add_transaction(at, HOSTILE, "4.50")
    assert at.text_input(key="manual_txn_description").value == ""  # added: a new form
    _add_transaction(at, HOSTILE, "4.50")  # another transaction
    ids = [a[a.index("--entry-id") + 1] for a in _Recorded.runs]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    first = _Recorded.runs[0]
    assert f"--description={HOSTILE}" in first and "--account=Wallet" in first
    assert first[first.index("--direction") + 1] == "out"


def test_a_far_future_day_or_bad_amount_of_a_transaction_is_refused(
        manual_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linking, "Child", _NoChild)
    at = _with_an_account(manual_home, monkeypatch)
    for amount, says in (("1e400", "less than 1,000,000,000"), ("NaN", "not a number"),
                         ("12.345", "more than two decimals"), ("0", "more than 0")):
        _add_transaction(at, "Coffee", amount)
        [error] = [e.value for e in at.error]
        assert says in error, error
    # the date field stops at tomorrow; a day sent past it is refused all the same
    lake = Lake(str(manual_home / "lake"))
    outcome = manual.add_transaction(who(lake, ALICE), "Wallet", date(2999, 1, 1), "Coffee",
                                     Decimal("3.20"), True, None)
    assert "2999-01-01 is not a day a transaction happened" in str(outcome.error)


def test_a_30_mb_upload_is_refused_before_it_is_written(
        manual_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linking, "Child", _NoChild)
    at = _page(manual_home, monkeypatch)
    _upload(at, "huge.csv", b"Date,Description,Amount\n" + b"x" * (30 * 1024 * 1024))
    [error] = [e.value for e in at.error]
    assert "The file is 30 MB" in error and "at most 20 MB" in error
    assert _uploads(manual_home) == []


@pytest.mark.slow
def test_a_file_that_is_no_bank_export_is_refused_by_the_child_and_removed(
        manual_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(shutil.copytree(manual_home, tmp_path / "home"))
    at = _page(home, monkeypatch)
    _upload(at, "statement.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    [status] = at.status
    assert status.state == "error"
    [error] = [e.value for e in at.error]
    assert "the file is binary" in error and "nothing was imported" in error
    assert _uploads(home) == []  # the temporary file is gone
    assert _manual(home) == []
    assert json.dumps(error).count("\\n") == 0
