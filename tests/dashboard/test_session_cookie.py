"""The session cookie (dashboard/session_cookie.py): a signed, expiring token that lets a
reload or a new tab carry on signed in, and that signing out ends everywhere. Tampered,
expired, wrong-key, other-login and signed-out tokens are refused; so is one of a disabled or
replaced login. The dashboard reads it at a page load (AppTest cannot send cookies: its
``st.context`` is replaced here; tests/e2e/test_browser.py drives a real browser)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from streamlit.testing.v1 import AppTest

from dashboard import auth, session_cookie, ui
from dashboard.session_cookie import COOKIE, LIFETIME, claims, mint, principal
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, LOGINS
from tests.support.lake_fixtures import ALICE, ANALYST, BOB, LOGIN_PASSWORDS, login_rows

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
NOW = 1_900_000_000.0


@pytest.fixture
def lake(writable_home: Path) -> Lake:
    return Lake(str(writable_home / "lake"))


@pytest.fixture
def key(writable_home: Path) -> bytes:
    made = session_cookie.session_key(writable_home / "keys", create=True)
    assert made is not None
    return made


def token_of(lake: Lake, key: bytes, login: str, **kw: object) -> str:
    """A token for ``login`` as signing in makes it (its current epoch)."""
    epoch = auth.session_epoch(lake, login)
    assert epoch is not None
    return mint(key, login, epoch, **kw)


def _payload(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _with_payload(token: str, **changes: object) -> str:
    """``token`` with its payload changed and its signature kept."""
    body = json.dumps({**_payload(token), **changes}, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    return f"v1.{payload}.{token.split('.')[2]}"


# --- the token ------------------------------------------------------------------------------

def test_a_token_resumes_its_login(lake: Lake, key: bytes) -> None:
    for login, user_id in ((ALICE, ALICE), (BOB, BOB), (ANALYST, None)):
        who = principal(lake, key, token_of(lake, key, login))
        assert who is not None and (who.login, who.user_id) == (login, user_id)
    assert principal(lake, key, token_of(lake, key, ANALYST)).is_analyst
    token = token_of(lake, key, ALICE, now=NOW)
    found = claims(key, token, now=NOW + 1)
    assert (found.login, found.issued_at, found.expires_at) == (ALICE, int(NOW), NOW + LIFETIME)
    assert token != token_of(lake, key, ALICE, now=NOW)  # each sign-in its own session id
    assert "password" not in json.dumps(_payload(token))


def test_a_tampered_token_is_refused(lake: Lake, key: bytes) -> None:
    token = token_of(lake, key, ALICE)
    assert principal(lake, key, token) is not None
    payload, signature = token.split(".")[1:]
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    tampered = [
        _with_payload(token, sub=BOB),  # alice's signature on bob's name
        _with_payload(token, exp=int(NOW) + 10 * LIFETIME),  # a longer life
        _with_payload(token, ep=_payload(token)["ep"] + 1),
        f"v1.{payload}.{flipped}",
        f"v2.{payload}.{signature}",
        f"v1.{payload}",
        f"v1.{payload}.{signature}.",
        f"v1.{payload}.{signature}A",
        f"{token} ",
        token.replace(".", "!", 1),
        "", "null", "v1..", "v1.e30." + "A" * 43,
        "v1." + "A" * 5000 + "." + signature,
    ]
    for bad in tampered:
        assert principal(lake, key, bad) is None, bad
    for not_text in (None, 42, b"v1.x.y", SimpleNamespace()):
        assert principal(lake, key, not_text) is None  # type: ignore[arg-type]


def test_an_expired_token_is_refused(lake: Lake, key: bytes) -> None:
    token = token_of(lake, key, ALICE, now=NOW)
    assert principal(lake, key, token, now=NOW + LIFETIME - 1) is not None
    assert principal(lake, key, token, now=NOW + LIFETIME) is None
    assert principal(lake, key, token, now=NOW + 400 * 86400) is None
    # A token issued for longer than the dashboard allows now lives LIFETIME all the same.
    long_lived = token_of(lake, key, ALICE, now=NOW, lifetime=30 * 86400)
    assert principal(lake, key, long_lived, now=NOW + LIFETIME - 1) is not None
    assert principal(lake, key, long_lived, now=NOW + LIFETIME + 1) is None
    assert principal(lake, key, token, now=NOW - 3600) is None  # issued in the future
    assert session_cookie.seconds_left(key, token, now=NOW + 100) == LIFETIME - 100
    assert session_cookie.seconds_left(key, token, now=NOW + LIFETIME) == 0


def test_a_token_of_another_key_is_refused(lake: Lake, key: bytes, tmp_path: Path) -> None:
    other = session_cookie.session_key(tmp_path / "elsewhere", create=True)
    assert other is not None and other != key
    token = token_of(lake, other, ALICE)
    assert principal(lake, other, token) is not None
    assert principal(lake, key, token) is None
    assert principal(lake, None, token) is None  # no key yet: no session can be resumed


def test_a_token_of_another_or_no_login_is_refused(lake: Lake, key: bytes) -> None:
    bob = token_of(lake, key, BOB)
    assert principal(lake, key, bob).user_id == BOB  # never alice's, whatever is asked
    assert principal(lake, key, mint(key, "mallory", 0)) is None  # no such login
    assert principal(lake, key, mint(key, "not a login!", 0)) is None
    assert principal(lake, key, mint(key, ALICE, 12345)) is None  # not alice's epoch


def test_signing_out_ends_every_session_of_the_login(lake: Lake, key: bytes) -> None:
    alice = principal(lake, key, token_of(lake, key, ALICE))
    first, second = token_of(lake, key, ALICE), token_of(lake, key, ALICE)  # two devices
    bob = token_of(lake, key, BOB)
    auth.sign_out(lake, alice)
    assert principal(lake, key, first) is None  # replayed after signing out: refused
    assert principal(lake, key, second) is None
    assert principal(lake, key, bob).user_id == BOB  # another login's go on
    again = token_of(lake, key, ALICE)  # signing in again starts a new session
    assert principal(lake, key, again).user_id == ALICE
    assert auth.verify(lake, ALICE, LOGIN_PASSWORDS[ALICE]) is not None
    [event] = [r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "sign_out"]
    assert (event["actor"], json.loads(event["detail"])) == ("dashboard", {"role": "user"})
    assert event["subject"] and ALICE not in str(event)  # the person's pseudonym only


def test_a_disabled_or_replaced_login_ends_its_sessions(lake: Lake, key: bytes) -> None:
    alice, bob = token_of(lake, key, ALICE), token_of(lake, key, BOB)
    auth.create_login(lake, ALICE, "a new password, long enough", ALICE, "user", replace=True)
    assert principal(lake, key, alice) is None  # a new password: old cookies refused
    assert principal(lake, key, token_of(lake, key, ALICE)) is not None
    auth.disable_login(lake, BOB)
    assert principal(lake, key, bob) is None
    [row] = [r for r in read_rows(lake, LOGINS) if r["login"] == BOB]
    assert principal(lake, key, mint(key, BOB, row["session_epoch"])) is None  # disabled


def test_a_lake_written_before_session_epochs(lake: Lake, key: bytes) -> None:
    """A logins table without the column: every epoch reads as 0, and signing out adds it."""
    old_columns = [c for c, _ in LOGINS.columns if c != "session_epoch"]
    rows = [{c: r[c] for c in old_columns} for r in login_rows()]
    schema = pa.schema([f for f in pa.Table.from_pylist(rows).schema])
    write_deltalake(lake.uri(LOGINS), pa.Table.from_pylist(rows, schema=schema),
                    mode="overwrite", schema_mode="overwrite")
    assert "session_epoch" not in {f.name for f in lake.delta(LOGINS).schema().fields}
    assert auth.session_epoch(lake, ALICE) == 0
    old = mint(key, ALICE, 0)
    assert principal(lake, key, old).user_id == ALICE
    auth.sign_out(lake, principal(lake, key, old))
    assert principal(lake, key, old) is None
    assert principal(lake, key, mint(key, BOB, 0)).user_id == BOB  # untouched rows: still 0
    assert auth.verify(lake, ALICE, LOGIN_PASSWORDS[ALICE]) is not None  # nothing else lost
    assert auth.session_epoch(lake, ALICE) != 0


def test_the_key_lives_outside_the_lake_readable_by_its_owner_only(writable_home: Path) -> None:
    keys = writable_home / "keys"
    assert session_cookie.session_key(keys) is None  # not made by reading
    key = session_cookie.session_key(keys, create=True)
    path = keys / session_cookie.KEY_FILE
    assert key is not None and len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert session_cookie.session_key(keys, create=True) == key  # made once
    assert not list((writable_home / "lake").rglob("session.key"))
    path.chmod(0o600)
    path.write_text("not hex")
    assert session_cookie.session_key(keys) is None  # a broken key accepts nothing
    os.remove(path)
    assert session_cookie.session_key(keys, create=True) != key  # a new key: all sessions end


def test_the_scripts_write_only_a_token(key: bytes) -> None:
    token = mint(key, ALICE, 7)
    script = session_cookie.write_script(token, 3600)
    for part in (f"{COOKIE}={token}; Path=/; Max-Age=3600; SameSite=Strict",
                 "location.protocol === 'https:' ? '; Secure' : ''"):
        assert part in script
    for bad in ("x'; alert(1); '", f"{token}'</script>", ""):
        with pytest.raises(ValueError):
            session_cookie.write_script(bad, 60)
    assert f"'{token}' === ''" in session_cookie.clear_script(token)
    junk = session_cookie.clear_script("');alert(1);('")
    assert "alert" not in junk and "'' === ''" in junk  # junk: the cookie is removed


# --- the dashboard --------------------------------------------------------------------------

def _app(home: Path, monkeypatch: pytest.MonkeyPatch, cookie: str | None = None) -> AppTest:
    """A new browser session of the dashboard that sends ``cookie`` (the session cookie)."""
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    cookies = {COOKIE: cookie} if cookie is not None else {}
    monkeypatch.setattr(ui.st, "context", SimpleNamespace(cookies=cookies))
    return AppTest.from_file(str(APP), default_timeout=60)


def _sign_in(at: AppTest, login: str) -> None:
    at.text_input(key="sign_in_login").input(login)
    at.text_input(key="sign_in_password").input(LOGIN_PASSWORDS[login])
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, [e.message for e in at.exception]


def _scripts(block: object) -> list[str]:
    return [h.value for h in block.get("html") if COOKIE in h.value]  # type: ignore[attr-defined]


def _titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_signing_in_stores_a_cookie_a_new_session_resumes(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    at = _app(writable_home, monkeypatch).run()
    assert _titles(at) == ["Sign in to finlake"] and not _scripts(at)
    _sign_in(at, ALICE)
    assert _titles(at) == ["Overview"]
    token = at.session_state[ui.TOKEN_KEY]
    [script] = _scripts(at.sidebar)
    assert f"{COOKIE}={token}; Path=/; Max-Age=" in script
    sign_ins = len([r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "sign_in"])

    reloaded = _app(writable_home, monkeypatch, token).run()  # a reload, a new tab
    assert not reloaded.exception, [e.message for e in reloaded.exception]
    assert _titles(reloaded) == ["Overview"]
    assert reloaded.session_state[ui.PRINCIPAL_KEY].user_id == ALICE
    assert not _scripts(reloaded)  # the browser has it already
    reloaded.switch_page("views/transactions.py").run()
    assert _titles(reloaded) == ["Transactions"]
    assert len([r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "sign_in"]) == sign_ins


@pytest.mark.parametrize("cookie", ["", "junk", "v1.e30." + "A" * 43])
def test_a_bad_cookie_shows_only_the_sign_in_form(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch, cookie: str) -> None:
    at = _app(writable_home, monkeypatch, cookie).run()
    assert not at.exception and not at.error
    assert _titles(at) == ["Sign in to finlake"]
    assert ui.PRINCIPAL_KEY not in at.session_state
    assert len(_scripts(at)) == (1 if cookie else 0)  # a bad cookie is removed
    _sign_in(at, BOB)  # and signing in works as ever
    assert at.session_state[ui.PRINCIPAL_KEY].user_id == BOB


def test_signing_out_removes_the_cookie_and_ends_it(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(writable_home, monkeypatch).run()
    _sign_in(at, ALICE)
    token = at.session_state[ui.TOKEN_KEY]
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert not at.exception
    assert _titles(at) == ["Sign in to finlake"]
    assert [s for s in _scripts(at) if "Max-Age=0" in s and token in s]  # removed
    at.run()
    assert _titles(at) == ["Sign in to finlake"]  # the page's old cookie is not tried again
    replayed = _app(writable_home, monkeypatch, token).run()  # a copy of the cookie
    assert _titles(replayed) == ["Sign in to finlake"]
    assert ui.PRINCIPAL_KEY not in replayed.session_state


def test_an_open_session_ends_when_signed_out_elsewhere(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(str(writable_home / "lake"))
    at = _app(writable_home, monkeypatch).run()
    _sign_in(at, ALICE)
    token = at.session_state[ui.TOKEN_KEY]
    other_tab = _app(writable_home, monkeypatch, token).run()
    assert _titles(other_tab) == ["Overview"]
    auth.sign_out(lake, at.session_state[ui.PRINCIPAL_KEY])  # signed out in the first tab
    other_tab.run()
    assert _titles(other_tab) == ["Overview"]  # checked again RECHECK_SECONDS later
    monkeypatch.setattr(ui, "RECHECK_SECONDS", 0.0)
    other_tab.run()
    assert _titles(other_tab) == ["Sign in to finlake"]
    assert ui.PRINCIPAL_KEY not in other_tab.session_state
    assert [s for s in _scripts(other_tab) if "Max-Age=0" in s]


def test_a_code_reload_keeps_the_session_its_token_allows(
        writable_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the dashboard's modules are reloaded (a file changed), the stored Principal is of
    a class that no longer exists: the session carries on from its token, if still good."""
    lake = Lake(str(writable_home / "lake"))
    at = _app(writable_home, monkeypatch).run()
    _sign_in(at, ALICE)
    stale = SimpleNamespace(login=ALICE, user_id=ALICE, role="user")
    at.session_state[ui.PRINCIPAL_KEY] = stale
    at.run()
    assert _titles(at) == ["Overview"]
    assert isinstance(at.session_state[ui.PRINCIPAL_KEY], auth.Principal)
    auth.sign_out(lake, at.session_state[ui.PRINCIPAL_KEY])  # ended elsewhere meanwhile
    at.session_state[ui.PRINCIPAL_KEY] = stale
    at.run()
    assert _titles(at) == ["Sign in to finlake"]
    assert ui.PRINCIPAL_KEY not in at.session_state and ui.TOKEN_KEY not in at.session_state
