"""``finlake login``: creating, listing and disabling dashboard logins from the command line,
and the first login ``finlake demo`` makes."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from core.settings import load_settings
from dashboard import auth
from finlake.cli import main
from finlake.commands import login as login_commands
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, LOGINS
from tests.support.lake_fixtures import ALICE, BOB, LOGIN_PASSWORDS, small_lake, write_table

PASSWORD = "twelve chars or more"


def _when(row: dict) -> object:
    """When an audit row was written (the column's name has changed over time)."""
    return row.get("occurred_at") or row.get("at")


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    auth.THROTTLE.clear()
    return small_lake(tmp_path)


def finlake(monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str | None = None) -> int:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["login", *argv])


def test_add_with_password_stdin(lake: Lake, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert finlake(monkeypatch, "add", "Alice.Home", "--user", ALICE, "--password-stdin",
                   stdin=PASSWORD + "\n") == 0
    out = capsys.readouterr().out
    assert out == f"login alice.home created: user {ALICE}, signs in with a password\n"
    principal = auth.verify(lake, "alice.home", PASSWORD)
    assert (principal.user_id, principal.role) == (ALICE, "user")
    assert finlake(monkeypatch, "add", "ana2", "--analyst", "--password-stdin",
                   stdin=PASSWORD + "\r\n") == 0  # a Windows line end is not the password's
    assert auth.verify(lake, "ana2", PASSWORD).is_analyst
    stored = {r["login"]: r for r in read_rows(lake, LOGINS)}
    assert stored["alice.home"]["password_hash"].startswith("$argon2id$")
    audit = [json.loads(r["detail"]) for r in sorted(read_rows(lake, AUDIT_LOG),
                                                      key=_when)
             if r["action"] == "create_login"]
    assert audit == [{"password": True, "replaced": False, "role": "user"},
                     {"password": True, "replaced": False, "role": "analyst"}]
    assert PASSWORD not in str(read_rows(lake, AUDIT_LOG)) + str(stored)
    assert all(r["actor"].startswith("cli:") for r in read_rows(lake, AUDIT_LOG))


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["add", "alice2", "--user", ALICE, "--password-stdin"], "too short\n",
     "The password is too short: use at least 12 characters"),
    (["add", "mallory", "--user", "mallory", "--password-stdin"], PASSWORD,
     "No user 'mallory' in this lake"),
    (["add", ALICE, "--user", ALICE, "--password-stdin"], PASSWORD,
     "The login 'alice' exists already: pick another name, or replace it"),
    (["add", "alice2", "--user", ALICE, "--password-stdin"], "",
     "--password-stdin read no password"),
    (["add", "no spaces", "--user", ALICE, "--password-stdin"], PASSWORD,
     "is not a valid login"),
    (["add", "alice2", "--user", ALICE, "--password-stdin", "--no-password"], PASSWORD,
     "--no-password and --password-stdin contradict each other"),
    (["disable", "nobody"], None, "no login 'nobody'; see finlake login list"),
])
def test_bad_input_exits_2_and_says_what_to_do(
        lake: Lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], stdin: str | None, message: str) -> None:
    before = read_rows(lake, LOGINS)
    assert finlake(monkeypatch, *argv, stdin=stdin) == 2
    err = capsys.readouterr().err
    assert err.startswith("finlake login: ") and message in err
    assert sorted(map(str, read_rows(lake, LOGINS))) == sorted(map(str, before))


def test_user_or_analyst_is_required(lake: Lake, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["add", "x"], ["add", "x", "--user", ALICE, "--analyst"]):
        with pytest.raises(SystemExit) as exc:
            finlake(monkeypatch, *argv)
        assert exc.value.code == 2
    assert "--user" in capsys.readouterr().err


def test_the_prompt_asks_twice(lake: Lake, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    answers = iter([PASSWORD, PASSWORD + "!", PASSWORD, PASSWORD])
    monkeypatch.setattr(login_commands.getpass, "getpass", lambda prompt: next(answers))
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert finlake(monkeypatch, "add", "alice2", "--user", ALICE) == 2
    assert "the two passwords differ" in capsys.readouterr().err
    assert finlake(monkeypatch, "add", "alice2", "--user", ALICE) == 0
    assert auth.verify(lake, "alice2", PASSWORD).user_id == ALICE
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert finlake(monkeypatch, "add", "alice3", "--user", ALICE) == 2
    assert "use --password-stdin" in capsys.readouterr().err


def test_list_replace_and_disable(lake: Lake, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert finlake(monkeypatch, "add", "bob@example.com", "--user", BOB, "--no-password") == 0
    assert finlake(monkeypatch, "add", BOB, "--user", BOB, "--replace", "--password-stdin",
                   stdin=PASSWORD) == 0
    assert auth.verify(lake, BOB, LOGIN_PASSWORDS[BOB]) is None
    assert auth.verify(lake, BOB, PASSWORD).user_id == BOB
    assert finlake(monkeypatch, "disable", "BOB") == 0
    assert auth.verify(lake, BOB, PASSWORD) is None
    capsys.readouterr()
    assert finlake(monkeypatch, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        ["alice", "user", "alice", "password"],
        ["ana", "analyst", "-", "password"],
        ["bob", "user", "bob", "password", "disabled"],
        ["bob@example.com", "user", "bob", "oidc"],
        ["4", "login(s)"]]
    assert not [line for line in lines if "argon2" in line]


def test_demo_creates_one_first_login(lake: Lake) -> None:
    write_table(lake, LOGINS, [])
    settings = load_settings()
    line = login_commands.demo_login(settings)
    assert line is not None and line.startswith("sign in as demo / ")
    password = line.removeprefix("sign in as demo / ")
    assert len(password) >= auth.MIN_PASSWORD
    assert auth.verify(lake, "demo", password).user_id == ALICE  # the first user by id
    assert login_commands.demo_login(settings) is None  # only while there is no login


def test_a_new_password_or_disabling_ends_open_sessions(
        lake: Lake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``login add --replace`` (a new password) and ``login disable`` renew the login's
    session epoch: the session cookies it signed in with are refused from then on."""
    from dashboard import session_cookie

    key = session_cookie.session_key(tmp_path / "keys", create=True)
    cookies = {login: session_cookie.mint(key, login, auth.session_epoch(lake, login))
               for login in (ALICE, BOB)}
    assert all(session_cookie.principal(lake, key, c) for c in cookies.values())
    assert finlake(monkeypatch, "add", BOB, "--user", BOB, "--replace", "--password-stdin",
                   stdin=PASSWORD) == 0
    assert session_cookie.principal(lake, key, cookies[BOB]) is None
    assert session_cookie.principal(lake, key, cookies[ALICE]).user_id == ALICE
    assert finlake(monkeypatch, "disable", ALICE) == 0
    assert session_cookie.principal(lake, key, cookies[ALICE]) is None
