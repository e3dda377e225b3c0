"""Issue 25, item 8: link a bank, reconnect one whose login expired and refresh one now, from
the Accounts page, against the sandbox bank.

The page runs ``finlake link add | reconnect | refresh`` as a child process and shows its
steps; the slow tests here run the real child on a small sandbox (3 people, two weeks of
history): the accounts of a newly linked bank appear, an expired login is signed in again and
syncs, and a refresh brings the bank's new transactions to the data layer. The fast ones
check what happens before any child starts (a wrong sandbox sign-in, a real partner), that
the child acts for the signed-in person only, and that a stuck child is stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connectors.credentials import CredentialStore
from connectors.linking import (
    SANDBOX_PASSWORD,
    SANDBOX_USERNAME,
    WRONG_CREDENTIALS,
    credential_at,
    link_institution,
)
from connectors.partner import partner_client
from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.faults import Fault
from connectors.sandbox_bank.server import serve
from connectors.vault import LocalKeyProvider, Vault
from dashboard import auth, linking, ui
from dashboard.data.txns import TxnFilter, search_transactions
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import ACCOUNTS, AUDIT_LOG, CREDENTIALS
from tests.dashboard.test_dashboard import APP, TIMEOUT, _button, _open, _table, who
from tests.support.lake_fixtures import ALICE, ANALYST

PAT, PAT_USER, PAT_PASSWORD = "pat", "user_0001", "pat-links-her-banks"
PLATYPUS, PAISLEY, TARTAN = "ins_1", "ins_6", "ins_2"  # pat's, pat's, only user_0003's
GOOD = (SANDBOX_USERNAME, SANDBOX_PASSWORD)
TODAY = datetime.now(UTC).date()
BANK_CLOCK = TODAY - timedelta(6)  # the bank's day when the home is made; refresh moves it on
CHILD_TIMEOUT = 400  # seconds for a page run that waits for a child (a loaded 2-core runner)
PLATYPUS_ACCOUNTS = {"Everyday Checking", "High-Yield Savings", "Rewards Credit Card"}


def _env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    for name in ("FINLAKE_S3_BUCKET", "FINLAKE_ENV", "FINLAKE_PARTNER_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sandbox bank of 3 people (history up to BANK_CLOCK); pat (user_0001) has linked her
    brokerage at Paisley Investments (never synced) and has a dashboard login."""
    from core.settings import load_settings

    home = tmp_path_factory.mktemp("link_home")
    mp = pytest.MonkeyPatch()
    _env(mp, home)
    try:
        settings = load_settings()
        bank = SandboxBank.open(settings.sandbox_dir, seed=7, users=3,
                                history_start=BANK_CLOCK - timedelta(14), clock=BANK_CLOCK)
        lake = Lake(settings.lake_root)
        with serve(bank) as running:
            link_institution(partner_client(running.url, settings.partner_client_id,
                                            settings.partner_secret),
                             _store(home), PAT_USER, PAISLEY, *GOOD)
        auth.create_login(lake, PAT, PAT_PASSWORD, PAT_USER, "user")
    finally:
        mp.undo()
    yield home


@pytest.fixture(scope="module")
def synced_home(base_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base_home`` after ``finlake link add`` (a child process, as the page runs it) linked
    pat's First Platypus Bank and synced it to gold."""
    home = tmp_path_factory.mktemp("synced") / "home"
    shutil.copytree(base_home, home, symlinks=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("FINLAKE_S3_BUCKET", "FINLAKE_ENV", "FINLAKE_PARTNER_HOST")}
    done = subprocess.run(
        [*linking.COMMAND, "add", "--user", PAT_USER, "--institution", PLATYPUS,
         "--sign-in-stdin"], input="\n".join(GOOD) + "\n", capture_output=True, text=True,
        env={**env, "FINLAKE_HOME": str(home)}, timeout=CHILD_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    return home


def _store(home: Path) -> CredentialStore:
    return CredentialStore(Lake(str(home / "lake")), Vault(LocalKeyProvider(home / "keys")))


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / "home", symlinks=True))


def _accounts_page(home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Accounts page, signed in as pat."""
    _env(monkeypatch, home)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[ui.PRINCIPAL_KEY] = auth.verify(Lake(str(home / "lake")), PAT,
                                                     PAT_PASSWORD)
    at.run()
    at.switch_page("views/accounts.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _link(at: AppTest, institution_id: str, username: str, password: str) -> AppTest:
    at.selectbox(key="link_institution").select(institution_id)
    at.text_input(key="link_username").input(username)
    at.text_input(key="link_password").input(password)
    _button(at, "Sign in and link").click().run(timeout=CHILD_TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def _steps(at: AppTest) -> list[str]:
    """The lines of the page's progress (each step done), in order."""
    return [m.value.removeprefix(":material/check: ") for m in at.markdown
            if m.value.startswith(":material/check: ")]


def _count(steps: list[str], what: str) -> int:
    line = next(s for s in steps if s.startswith(f"{what}:"))
    return int(line.split(":")[1].split()[0])


def _linked(home: Path) -> set[tuple[str, str, str]]:
    return {(r["user_id"], r["institution_id"], r["status"])
            for r in read_rows(Lake(str(home / "lake")), CREDENTIALS)}


def _stuck(home: Path) -> dict[str, str]:
    return SandboxBank.open(home / "sandbox_bank").faults.stuck_items()


def _dashboard_links(home: Path) -> list[dict[str, Any]]:
    return [r for r in read_rows(Lake(str(home / "lake")), AUDIT_LOG)
            if r["action"] == "link_credential" and r["actor"] == "dashboard"]


# --- with the real child ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.integration
def test_link_a_bank_then_its_accounts_appear(base_home: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = _copy(base_home, tmp_path)
    at = _accounts_page(home, monkeypatch)
    assert [s.value for s in at.subheader] == ["Paisley Investments"]
    assert [e.label for e in at.expander] == ["Link a bank"]
    assert "Linked: its accounts show here once a sync brings their first transactions." \
        in [c.value for c in at.caption]
    assert at.selectbox(key="link_institution").options == [
        "First Platypus Bank", "Tartan Bank", "Houndstooth Bank",
        "Tattersall Federal Credit Union", "First Gingham Credit Union",
        "Paisley Investments (linked)", "Argyle Card Services"]

    # A bank where pat has no accounts: the bank's refusal, in one line; nothing stored.
    _link(at, TARTAN, *GOOD)
    [status] = at.status
    assert (status.label, status.state) == ("Linking Tartan Bank: not done", "error")
    [error] = [e.value for e in at.error]
    assert "no accounts for you" in error and WRONG_CREDENTIALS in error and "\n" not in error
    assert _linked(home) == {(PAT_USER, PAISLEY, "active")}

    # Her own bank: signed in, linked, synced to gold; its accounts show after the rerun.
    _link(at, PLATYPUS, *GOOD)
    [status] = at.status
    assert (status.label, status.state) == ("Linking First Platypus Bank: done", "complete")
    steps = _steps(at)
    assert steps[:2] == ["Signed in to the sandbox bank", "Linked First Platypus Bank"]
    assert _count(steps, "Synced") > 0 and _count(steps, "Merged") > 0
    assert any(s.startswith("Gold refreshed: ") for s in steps)
    assert [s.value for s in at.subheader] == ["First Platypus Bank", "Paisley Investments"]
    shown = {name.split(" ", 1)[1] for name in _table(at, "Account")}
    assert shown == PLATYPUS_ACCOUNTS
    assert {r["Status"] for r in _table(at, "Account").values()} == {"Up to date"}
    assert _linked(home) == {(PAT_USER, PAISLEY, "active"), (PAT_USER, PLATYPUS, "active")}
    lake = Lake(str(home / "lake"))
    assert {r["user_id"] for r in read_rows(lake, ACCOUNTS)} == {PAT_USER}
    assert len(_dashboard_links(home)) == 1

    # The same bank again: said so, nothing added, no child started.
    _link(at, PLATYPUS, *GOOD)
    assert "First Platypus Bank is already linked." in [i.value for i in at.info]
    assert not at.status
    assert len(_linked(home)) == 2


@pytest.mark.slow
@pytest.mark.integration
def test_reconnect_a_bank_whose_login_expired(synced_home: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = _copy(synced_home, tmp_path)
    bank = SandboxBank.open(home / "sandbox_bank")
    item = bank.world.item_for(PAT_USER, PLATYPUS)
    # The bank wants pat to sign in again (sticky for the item); the nightly gave up on it.
    bank.set_fault_plan({PLATYPUS: [Fault("login_required", 1.0)]}, seed=1)
    code, body = bank.handle("/accounts/get", {"access_token": item.access_token,
                                               "client_id": "t", "secret": "t"})
    assert (code, body["error_code"]) == (400, "ITEM_LOGIN_REQUIRED")
    bank.set_fault_plan({}, seed=1)
    store = _store(home)
    store.set_status(credential_at(store, PAT_USER, PLATYPUS), "expired", failure_count=3)

    at = _accounts_page(home, monkeypatch)
    [warning] = [w.value for w in at.warning if w.value.startswith("Your bank needs you")]
    assert "sign in again" in warning and "Reconnect" in warning
    assert {r["Status"] for r in _table(at, "Account").values()} == {"Sign in again"}
    assert at.button(key=f"refresh_{PLATYPUS}").disabled
    at.button(key=f"reconnect_{PLATYPUS}").click().run()
    at.text_input(key=f"reconnect_{PLATYPUS}_username").input(SANDBOX_USERNAME)
    at.text_input(key=f"reconnect_{PLATYPUS}_password").input("pass_wrong")
    _button(at, "Sign in again").click().run()
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    assert _stuck(home) == {item.item_id: "login_required"}
    assert (PAT_USER, PLATYPUS, "expired") in _linked(home)

    at.text_input(key=f"reconnect_{PLATYPUS}_username").input(SANDBOX_USERNAME)
    at.text_input(key=f"reconnect_{PLATYPUS}_password").input(SANDBOX_PASSWORD)
    _button(at, "Sign in again").click().run(timeout=CHILD_TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    [status] = at.status
    assert (status.label, status.state) == ("Reconnecting First Platypus Bank: done",
                                            "complete")
    steps = _steps(at)
    assert steps[:2] == ["Signed in to the sandbox bank",
                         "Reconnected: the bank accepts the sign-in again"]
    assert any(s.startswith("Synced: ") for s in steps)
    assert _stuck(home) == {}
    assert (PAT_USER, PLATYPUS, "active") in _linked(home)
    assert not [w for w in at.warning if "sign in again" in w.value]  # the banner too
    assert {r["Status"] for r in _table(at, "Account").values()} == {"Up to date"}
    assert not at.button(key=f"refresh_{PLATYPUS}").disabled
    [relinked] = _dashboard_links(home)
    assert '"relink": true' in relinked["detail"]


@pytest.mark.slow
@pytest.mark.integration
def test_refresh_now_brings_the_new_transactions(synced_home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = _copy(synced_home, tmp_path)
    lake = Lake(str(home / "lake"))
    who = auth.verify(lake, PAT, PAT_PASSWORD)
    since = TxnFilter(start=BANK_CLOCK + timedelta(1))
    assert search_transactions(lake, who, since)[1] == 0
    SandboxBank.open(home / "sandbox_bank").advance_to(TODAY - timedelta(1))  # 5 more days

    at = _accounts_page(home, monkeypatch)
    at.button(key=f"refresh_{PLATYPUS}").click().run(timeout=CHILD_TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    [status] = at.status
    assert (status.label, status.state) == ("Refreshing First Platypus Bank: done", "complete")
    steps = _steps(at)
    added = _count(steps, "Synced")
    assert added > 0 and _count(steps, "Merged") > 0
    assert [s.split(":")[0] for s in steps[:3]] == ["Synced", "Merged", "Gold refreshed"]
    assert len(steps) == 4 and steps[3].startswith("Done in ")
    time.sleep(1.1)  # the data layer re-checks a table's version at most every second
    new, total = search_transactions(lake, who, since)
    assert 0 < total <= added
    assert [(r["actor"], r["subject"] is not None) for r in read_rows(lake, AUDIT_LOG)
            if r["action"] == "request_sync"] == [("dashboard", True)]
    assert set(new["account_id"]) <= {r["account_id"] for r in read_rows(lake, ACCOUNTS)
                                      if r["institution_id"] == PLATYPUS}


# --- before any child, and the child itself ---------------------------------------------------

class _NoChild:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("no child process may start here")


def test_a_wrong_sandbox_sign_in_is_refused_before_anything_runs(
        base_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _copy(base_home, tmp_path)
    monkeypatch.setattr(linking, "Child", _NoChild)
    at = _accounts_page(home, monkeypatch)
    _link(at, PLATYPUS, SANDBOX_USERNAME, "pass_wrong")
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    assert not at.status
    assert _linked(home) == {(PAT_USER, PAISLEY, "active")}


class _FakeChild:
    """Records what the page would run; prints the steps of a sync that fails at the end."""

    runs: list[tuple[list[str], str | None]] = []

    def __init__(self, argv: list[str], stdin_text: str | None = None) -> None:
        self.runs.append((argv, stdin_text))
        self.returncode = 1

    def events(self, tick: Any) -> Iterator[dict]:
        tick(1.0)
        yield {"step": "signed_in", "text": "Signed in to the sandbox bank"}
        yield {"step": "syncing", "text": "Syncing with the bank"}
        tick(2.0)
        yield {"step": "error", "code": "SYNC_FAILED",
               "text": "The sync did not finish: institution down; retry later"}

    def last_words(self) -> str | None:
        return None

    def stop(self) -> None:
        pass


def test_the_child_acts_for_the_signed_in_person_only(
        base_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _copy(base_home, tmp_path)
    monkeypatch.setattr(linking, "Child", _FakeChild)
    _FakeChild.runs.clear()
    at = _accounts_page(home, monkeypatch)
    # Nothing on the page names a person: the only text fields are the bank's sign-in.
    assert {t.key for t in at.text_input} == {"link_username", "link_password"}
    _link(at, PLATYPUS, *GOOD)
    [(argv, stdin)] = _FakeChild.runs
    assert argv[argv.index("--user") + 1] == PAT_USER
    assert argv[argv.index("--institution") + 1] == PLATYPUS
    assert SANDBOX_PASSWORD not in " ".join(argv)  # the sign-in goes on stdin only
    assert stdin == f"{SANDBOX_USERNAME}\n{SANDBOX_PASSWORD}\n"
    [status] = at.status
    assert (status.label, status.state) == ("Linking First Platypus Bank: not done", "error")
    assert _steps(at) == ["Signed in to the sandbox bank"]
    assert [e.value for e in at.error] == [
        "The sync did not finish: institution down; retry later"]

    at.button(key=f"refresh_{PAISLEY}").click().run()
    argv, stdin = _FakeChild.runs[-1]
    assert argv[-8:] == ["refresh", "--user", PAT_USER, "--institution", PAISLEY, "--json",
                         "--actor", "dashboard"]


def test_a_stuck_child_is_stopped() -> None:
    child = linking.Child([sys.executable, "-c", (
        "import json, time; print(json.dumps({'step': 'syncing', 'text': 'x'}), flush=True);"
        "time.sleep(120)")])
    t0 = time.monotonic()
    ticks: list[float] = []
    assert [e["step"] for e in child.events(tick=ticks.append, limit=2.0)] == ["syncing"]
    child.stop()
    assert time.monotonic() - t0 < 30 and ticks
    assert child.returncode is not None
    assert child.last_words() == "it took longer than 2 s and was stopped"


def test_with_a_real_partner_the_page_points_to_its_link(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINLAKE_PARTNER_HOST", "https://partner.example")
    monkeypatch.setenv("PLAID_CLIENT_ID", "client")
    monkeypatch.setenv("PLAID_SECRET", "secret")
    monkeypatch.setattr(linking, "Child", _NoChild)
    at = _open(home, monkeypatch, "accounts", ALICE)
    assert [e.label for e in at.expander] == ["Link a bank"]
    assert any("partner's Link" in i.value and "not available here" in i.value
               for i in at.info)
    assert not [b for b in at.button if b.label == "Sign in and link"]
    assert not at.selectbox
    at.button(key="reconnect_ins_2").click().run()  # alice's Gingham login expired
    assert any("Reconnect through your bank partner's Link" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Sign in again"]


def test_an_analyst_cannot_link_or_refresh(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linking, "Child", _NoChild)
    analyst = who(Lake(str(home / "lake")), ANALYST)
    with pytest.raises(PermissionError):
        linking.linked(Lake(str(home / "lake")), analyst)
    with pytest.raises(PermissionError):  # refused before any process could start
        linking.refresh(analyst, "ins_1", "First Platypus Bank")
