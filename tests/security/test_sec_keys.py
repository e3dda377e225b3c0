"""Key rotation as an attacker holding a retired key sees it, and as a full disk, a kill or a
concurrent writer leaves it (issue 18, finding 4 and the key-file part of finding 5).

The attacker copied a key-encryption key (and, before the rotation, the wrapped data keys)
and later gets a copy of the lake directory: after ``finlake keys rotate --retire`` nothing
in any file under the credentials table opens with what they hold. A new key is written
whole or not at all; a rotation killed or failing part-way is re-run to completion; a
concurrent writer never leaves a token that neither key opens.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.credentials import CredentialStore
from connectors.vault import LocalKeyProvider, Vault, VaultError, key_provider
from core.settings import load_settings
from finlake import cli
from finlake.commands import keys as key_commands
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import ACCOUNTS, AUDIT_LOG, CREDENTIALS, SYNC_JOBS
from tests.support.demo import copy_demo

REPO = Path(__file__).resolve().parents[2]
CANDIDATE = re.compile(rb"(?:v2:)?[A-Za-z0-9+/]{40,}={0,2}")  # base64 blobs: keys, tokens


# --- what an attacker with a retired key can do with a copy of the lake --------------------


def _table_dir(settings) -> Path:  # noqa: ANN001
    return Path(Lake(settings.lake_root).uri(CREDENTIALS))


def _blobs_on_disk(table_dir: Path) -> set[str]:
    """Every base64 string in every file under the table: each Parquet file (data files of
    any version, checkpoints with their statistics) read as rows, every log file as text."""
    import pyarrow.parquet as pq

    found: set[str] = set()
    for path in table_dir.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            data += json.dumps(rows, default=str).encode()
        found |= {m.decode() for m in CANDIDATE.findall(data)}
    return found


def _unwrapped_by(keks: Path, blobs: set[str], credential_ids: set[str]) -> dict[str, bytes]:
    """Data keys the KEK files in ``keks`` unwrap from ``blobs``: blob -> data key."""
    provider = LocalKeyProvider(keks)
    out = {}
    for blob in blobs:
        for key_id in provider.key_ids():
            for cid in credential_ids:
                try:
                    out[blob] = provider.unwrap(key_id, blob, {"credentials_id": cid})
                except Exception:  # noqa: BLE001, S112 - most blobs are not under this key
                    continue
    return out


def _tokens_opened_by(data_keys: set[bytes], blobs: set[str], credential_ids: set[str]
                      ) -> set[str]:
    """Plaintext tokens that ``data_keys`` open from any of ``blobs``."""
    opened = set()
    for blob in blobs:
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            continue
        for key in data_keys:
            for cid in credential_ids:
                try:
                    opened.add(AESGCM(key).decrypt(raw[:12], raw[12:], cid.encode()).decode())
                except Exception:  # noqa: BLE001, S112
                    continue
    return opened


def _steal_keys(settings, dest: Path) -> Path:  # noqa: ANN001
    """The attacker's copy of every KEK file there is now."""
    dest.mkdir()
    for path in settings.key_dir.glob("kek-*.key"):
        shutil.copy2(path, dest / path.name)
    return dest


def _open_all(settings) -> dict[str, str]:  # noqa: ANN001
    """credentials_id -> token, through a fresh provider (nothing cached)."""
    store = CredentialStore(Lake(settings.lake_root), Vault(key_provider(settings)))
    return {c.credentials_id: store.token(c) for c in store.all()}


def assert_retired_keys_open_nothing(settings, stolen: Path, stolen_data_keys: set[bytes],  # noqa: ANN001
                                     credential_ids: set[str]) -> None:
    table_dir = _table_dir(settings)
    blobs = _blobs_on_disk(table_dir)
    assert blobs  # the current rows are there to be tried
    assert _unwrapped_by(stolen, blobs, credential_ids) == {}
    assert _tokens_opened_by(stolen_data_keys, blobs, credential_ids) == set()
    # No older version: the log starts at the checkpoint, and every data file on disk is
    # one the current version reads.
    from deltalake import DeltaTable

    log = table_dir / "_delta_log"
    checkpoint = json.loads((log / "_last_checkpoint").read_text())["version"]
    assert min(int(p.name[:20]) for p in log.glob("*.json")) >= checkpoint
    referenced = {Path(u).name for u in DeltaTable(str(table_dir)).file_uris()}
    on_disk = {p.name for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts}
    assert on_disk == referenced
    # The retired key files are gone from the key directory, in any name.
    for path in stolen.iterdir():
        assert not (settings.key_dir / path.name).exists()
        secret = path.read_bytes()
        assert not any(secret in p.read_bytes() for p in settings.key_dir.iterdir()
                       if p.is_file())


def _decrypts(lake: Lake) -> list[dict]:
    rows = sorted((r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "decrypt_credential"),
                  key=lambda r: r["occurred_at"])
    return [json.loads(r["detail"]) for r in rows]


def link_tokens(store: CredentialStore, *, users: int, items: int) -> dict[str, str]:
    """Link ``items`` random tokens over ``users`` people (the first one expired, so a
    status column differs); returns credentials id -> token."""
    tokens = {}
    for i in range(items):
        token = f"access-sandbox-{os.urandom(8).hex()}"
        tokens[store.link(f"user_{i % users}", "ins_1", f"item_{i}", token).credentials_id] = token
    store.set_status(store.all()[0], "expired", failure_count=1)
    return tokens


@pytest.fixture(scope="module")
def demo_home(demo_build, tmp_path_factory) -> Path:
    home = copy_demo(demo_build, tmp_path_factory.mktemp("keys_home") / "home")
    mp = pytest.MonkeyPatch()
    mp.setenv("FINLAKE_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))  # restored afterwards
    mp.delenv("FINLAKE_PARTNER_HOST", raising=False)
    yield home
    mp.undo()


@pytest.mark.integration
@pytest.mark.slow
def test_after_rotate_retire_the_old_key_opens_nothing_on_disk(demo_home, tmp_path,
                                                                 capsys) -> None:
    settings = load_settings()
    lake = Lake(settings.lake_root)
    tokens = _open_all(settings)
    ids = set(tokens)
    assert len(tokens) >= 3
    # The attacker's haul: the KEK, and the data keys it unwraps from the table as it is.
    stolen = _steal_keys(settings, tmp_path / "stolen")
    before = _blobs_on_disk(_table_dir(settings))
    stolen_data_keys = set(_unwrapped_by(stolen, before, ids).values())
    assert len(stolen_data_keys) >= len(tokens)  # the scan does find what the key opens
    assert _tokens_opened_by(stolen_data_keys, before, ids) == set(tokens.values())
    old_key = LocalKeyProvider(settings.key_dir).current_key_id()

    t0 = time.perf_counter()
    assert cli.main(["keys", "rotate", "--retire"]) == 0
    seconds = time.perf_counter() - t0
    out = capsys.readouterr().out
    print(f"keys rotate --retire on the demo: {seconds:.2f}s\n{out}")

    assert_retired_keys_open_nothing(settings, stolen, stolen_data_keys, ids)
    assert f"{len(tokens)} to re-encrypt" in out and "retired 1 unused" in out
    current = LocalKeyProvider(settings.key_dir).current_key_id()
    assert current != old_key
    assert {r["key_id"] for r in read_rows(lake, CREDENTIALS)} == {current}
    assert _open_all(settings) == tokens
    event = json.loads(next(r for r in read_rows(lake, AUDIT_LOG)
                            if r["action"] == "rotate_keys")["detail"])
    assert (event["resealed"], event["retired"], event["rewrapped"]) == (
        True, [old_key], len(tokens))

    # Partner syncs still work: an on-demand sync opens its token under the new key.
    account = read_rows(lake, ACCOUNTS)[0]
    decrypts_before = _decrypts(lake)
    assert cli.main(["sync", "--account", account["account_id"]]) == 0  # 0: status success
    new_decrypts = _decrypts(lake)[len(decrypts_before):]
    assert new_decrypts and {d["key_id"] for d in new_decrypts} == {current}
    jobs = [j for j in read_rows(lake, SYNC_JOBS)
            if j["trigger"] == "on_demand" and j["item_id"] == account["item_id"]]
    assert [j["status"] for j in jobs] == ["success"]
    capsys.readouterr()
    assert cli.main(["reconcile"]) == 0  # every token opens for the partner's truth too
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["exact"] is True

    # The table stays writable, and a second retiring rotation retires the first new key.
    stolen_again = _steal_keys(settings, tmp_path / "stolen_again")
    again_keys = set(_unwrapped_by(stolen_again, _blobs_on_disk(_table_dir(settings)),
                                   ids).values())
    assert cli.main(["keys", "rotate", "--retire"]) == 0
    assert_retired_keys_open_nothing(settings, stolen_again, again_keys, ids)
    assert_retired_keys_open_nothing(settings, stolen, stolen_data_keys, ids)
    assert _open_all(settings) == tokens


# --- a small lake of linked credentials ---------------------------------------------------


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A home with four linked credentials (one since marked expired) under one key."""
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FINLAKE_PARTNER_HOST", raising=False)
    monkeypatch.delenv("FINLAKE_CRASH_AT", raising=False)
    settings = load_settings()
    store = CredentialStore(Lake(settings.lake_root), Vault(key_provider(settings)))
    return settings, store, link_tokens(store, users=2, items=4)


def _key_files(settings) -> dict[str, bytes]:  # noqa: ANN001
    return {p.name: p.read_bytes() for p in settings.key_dir.iterdir()}


def _finlake(settings, *args: str, crash_at: str | None = None, fsize: int | None = None  # noqa: ANN001
             ) -> subprocess.CompletedProcess:
    """``finlake ARGS`` in a child process: killed at ``crash_at``, or with no file allowed to
    grow beyond ``fsize`` bytes (writes fail as on a full disk)."""
    env = {**os.environ, "FINLAKE_HOME": str(settings.home)}
    env.pop("FINLAKE_CRASH_AT", None)
    if crash_at:
        env["FINLAKE_CRASH_AT"] = crash_at

    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "finlake.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)


def _assert_vault_works(settings, store: CredentialStore, tokens: dict[str, str]) -> None:  # noqa: ANN001
    """Every token opens, and a new one seals and opens, under the current key."""
    token = f"access-sandbox-{os.urandom(8).hex()}"
    cred = store.link("user_9", "ins_1", f"item_new_{os.urandom(2).hex()}", token)
    tokens[cred.credentials_id] = token
    assert _open_all(settings) == tokens
    current = LocalKeyProvider(settings.key_dir).current_key_id()
    assert cred.sealed.key_id == current


def _assert_key_dir_sound(settings) -> None:  # noqa: ANN001
    """Only complete key files (and the pseudonym key), each 0600; no temporary file left."""
    for path in settings.key_dir.iterdir():
        assert re.fullmatch(r"kek-\d{4}-[0-9a-f]{8}\.key|pseudonym\.key", path.name), path.name
        assert oct(path.stat().st_mode)[-3:] == "600", path.name
        if path.name.startswith("kek-"):
            assert len(path.read_bytes()) == 32, path.name


# --- writing a new key: whole or not at all -----------------------------------------------


def test_a_full_disk_during_rotation_leaves_the_old_key_current(small) -> None:
    """A real write failure: the child may not grow any file (RLIMIT_FSIZE=0: EFBIG, as
    ENOSPC on a full disk)."""
    settings, store, tokens = small
    keys, version = _key_files(settings), store.lake.delta(CREDENTIALS).version()
    old = LocalKeyProvider(settings.key_dir).current_key_id()

    full = _finlake(settings, "keys", "rotate", "--retire", fsize=0)
    assert _key_files(settings) == keys, full.stderr  # no empty key, no temporary file
    assert store.lake.delta(CREDENTIALS).version() == version
    _assert_vault_works(settings, store, tokens)
    assert full.returncode == 2, full.stdout + full.stderr
    assert "Traceback" not in full.stderr and len(full.stderr.strip().splitlines()) == 1
    assert "File too large" in full.stderr and f"{old} is still current" in full.stderr

    assert key_commands.rotate(settings, retire=True, progress=lambda _: None) == 0
    assert LocalKeyProvider(settings.key_dir).current_key_id() > old
    _assert_key_dir_sound(settings)
    _assert_vault_works(settings, store, tokens)


class DiskFault:
    """One kind of OS call on the key directory and its files fails, as on a full or failing
    disk: ``write`` (ENOSPC), ``short_write`` (half written, then ENOSPC), ``fsync`` of the
    file (EIO), ``link`` under the final name (ENOSPC), ``fsync_dir`` (EIO)."""

    def __init__(self, mp: pytest.MonkeyPatch, directory: Path, op: str) -> None:
        self.dir, self.op, self.fds, self.hits = directory.resolve(), op, {}, 0
        real_open, real_write, real_fsync = os.open, os.write, os.fsync
        real_link, real_close = os.link, os.close

        def fail(code: int) -> OSError:
            self.hits += 1
            return OSError(code, os.strerror(code))

        def fake_open(path, flags, mode=0o777, *, dir_fd=None):  # noqa: ANN001, ANN202
            fd = real_open(path, flags, mode, dir_fd=dir_fd)
            resolved = Path(path).resolve()
            if self.dir in (resolved, resolved.parent):
                self.fds[fd] = resolved
            return fd

        def fake_write(fd, data):  # noqa: ANN001, ANN202
            if fd in self.fds and self.op in ("write", "short_write"):
                if self.op == "short_write" and not self.hits:
                    self.hits += 1
                    return real_write(fd, bytes(data)[: len(data) // 2])
                raise fail(errno.ENOSPC)
            return real_write(fd, data)

        def fake_fsync(fd):  # noqa: ANN001, ANN202
            path = self.fds.get(fd)
            if path is not None and (self.op, path == self.dir) in (("fsync", False),
                                                                   ("fsync_dir", True)):
                raise fail(errno.EIO)
            return real_fsync(fd)

        def fake_link(src, dst, **kw):  # noqa: ANN001, ANN003, ANN202
            if self.op == "link" and Path(dst).resolve().parent == self.dir:
                raise fail(errno.ENOSPC)
            return real_link(src, dst, **kw)

        def fake_close(fd):  # noqa: ANN001, ANN202
            self.fds.pop(fd, None)
            return real_close(fd)

        for name, fn in (("open", fake_open), ("write", fake_write), ("fsync", fake_fsync),
                         ("link", fake_link), ("close", fake_close)):
            mp.setattr(os, name, fn)


@pytest.mark.parametrize("op", ["write", "short_write", "fsync", "link", "fsync_dir"])
def test_a_key_write_failing_at_any_step_changes_nothing(small, monkeypatch, capsys,
                                                         op: str) -> None:
    settings, store, tokens = small
    keys, version = _key_files(settings), store.lake.delta(CREDENTIALS).version()
    old = LocalKeyProvider(settings.key_dir).current_key_id()
    capsys.readouterr()

    with monkeypatch.context() as mp:
        fault = DiskFault(mp, settings.key_dir, op)
        rc = cli.main(["keys", "rotate"])
    err = capsys.readouterr().err
    assert fault.hits >= 1  # the failure really happened
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert os.strerror(errno.EIO if "fsync" in op else errno.ENOSPC) in err
    assert "Nothing was changed" in err and old in err
    assert _key_files(settings) == keys
    assert LocalKeyProvider(settings.key_dir).current_key_id() == old
    assert store.lake.delta(CREDENTIALS).version() == version
    _assert_vault_works(settings, store, tokens)

    assert cli.main(["keys", "rotate"]) == 0  # the disk is fine again
    assert LocalKeyProvider(settings.key_dir).current_key_id() > old
    _assert_key_dir_sound(settings)
    _assert_vault_works(settings, store, tokens)


def test_a_rotation_killed_mid_write_leaves_no_key_behind(small) -> None:
    """Killed after the new key's temporary file was written, before it got its name: the
    temporary file never becomes a key."""
    from core.crashpoints import CRASH_EXIT_CODE

    settings, store, tokens = small
    keys = _key_files(settings)
    old = LocalKeyProvider(settings.key_dir).current_key_id()
    killed = _finlake(settings, "keys", "rotate", crash_at="keys.key_file_written")
    assert killed.returncode == CRASH_EXIT_CODE, killed.stdout + killed.stderr
    strays = [p for p in settings.key_dir.iterdir() if p.name not in keys]
    assert len(strays) == 1 and strays[0].name.startswith(".")  # the synced temporary file
    assert LocalKeyProvider(settings.key_dir).key_ids() == [old]
    _assert_vault_works(settings, store, tokens)
    assert key_commands.status(settings) == 0

    assert key_commands.rotate(settings, progress=lambda _: None) == 0
    provider = LocalKeyProvider(settings.key_dir)
    assert len(provider.key_ids()) == 2 and provider.current_key_id() > old
    stray_key = strays[0].read_bytes()
    assert all((settings.key_dir / f"kek-{k}.key").read_bytes() != stray_key
               for k in provider.key_ids())
    _assert_vault_works(settings, store, tokens)


def test_a_pseudonym_key_is_never_left_empty(tmp_path) -> None:
    """The analysts' pseudonym key is a key file too: a full disk when it is first made
    leaves none (not an empty key that makes every pseudonym reversible)."""
    from lake.pseudonyms import FILE, pseudonym_key

    key_dir = tmp_path / "keys"
    code = ("import sys; from pathlib import Path; from lake.pseudonyms import pseudonym_key; "
            "pseudonym_key(Path(sys.argv[1]))")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    full = subprocess.run([sys.executable, "-c", code, str(key_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert full.returncode != 0 and "File too large" in full.stderr
    assert not (key_dir / FILE).exists()
    assert [p.name for p in key_dir.iterdir()] == []
    key = pseudonym_key(key_dir)
    assert re.fullmatch(r"[0-9a-f]{64}", key) and pseudonym_key(key_dir) == key
    assert oct((key_dir / FILE).stat().st_mode)[-3:] == "600"


# --- a rotation failing part-way, and concurrent writers ----------------------------------


def _attacker(settings, dest: Path) -> tuple[Path, set[bytes], set[str]]:  # noqa: ANN001
    """Steal every KEK now, and the data keys they unwrap from the table now."""
    stolen = _steal_keys(settings, dest)
    ids = {r["credentials_id"] for r in read_rows(Lake(settings.lake_root), CREDENTIALS)}
    data_keys = set(_unwrapped_by(stolen, _blobs_on_disk(_table_dir(settings)), ids).values())
    assert len(data_keys) >= len(ids)
    return stolen, data_keys, ids


def _row_keys(settings) -> set[str]:  # noqa: ANN001
    return {r["key_id"] for r in read_rows(Lake(settings.lake_root), CREDENTIALS)}


@pytest.mark.parametrize("point", ["keys.resealed", "keys.committed"])
def test_a_retiring_rotation_killed_part_way_is_rerun_to_completion(small, tmp_path,
                                                                    point: str) -> None:
    """Killed with every token re-encrypted in memory (nothing committed), or after the
    commit (old versions and the old key still there): every token opens in between, and
    the re-run finishes the job."""
    from core.crashpoints import CRASH_EXIT_CODE

    settings, store, tokens = small
    stolen, data_keys, ids = _attacker(settings, tmp_path / "stolen")
    old = LocalKeyProvider(settings.key_dir).current_key_id()

    killed = _finlake(settings, "keys", "rotate", "--retire", crash_at=point)
    assert killed.returncode == CRASH_EXIT_CODE, killed.stdout + killed.stderr
    provider = LocalKeyProvider(settings.key_dir)
    crashed_key = provider.current_key_id()
    assert provider.key_ids() == [old, crashed_key]  # nothing destroyed yet
    assert _row_keys(settings) == ({old} if point == "keys.resealed" else {crashed_key})
    assert _open_all(settings) == tokens  # never readable by neither key

    assert key_commands.rotate(settings, retire=True, progress=lambda _: None) == 0
    current = LocalKeyProvider(settings.key_dir).current_key_id()
    assert LocalKeyProvider(settings.key_dir).key_ids() == [current]
    assert _row_keys(settings) == {current}
    assert_retired_keys_open_nothing(settings, stolen, data_keys, ids)
    _assert_vault_works(settings, store, tokens)


def test_a_credential_failing_to_re_encrypt_keeps_its_key_until_a_rerun(small, tmp_path,
                                                                       monkeypatch,
                                                                       capsys) -> None:
    """One token cannot be re-encrypted this time (the key service throttled, say): the
    others are, its key is kept (not destroyed under it), and a re-run completes."""
    settings, store, tokens = small
    stolen, data_keys, ids = _attacker(settings, tmp_path / "stolen")
    old = LocalKeyProvider(settings.key_dir).current_key_id()
    victim = sorted(tokens)[1]
    real = Vault.reseal

    def flaky(self: Vault, credentials_id: str, sealed):  # noqa: ANN001, ANN202
        if credentials_id == victim:
            raise VaultError("the key service throttled this call (simulated)")
        return real(self, credentials_id, sealed)

    capsys.readouterr()
    with monkeypatch.context() as mp:
        mp.setattr(Vault, "reseal", flaky)
        assert cli.main(["keys", "rotate", "--retire"]) == 1
    err = capsys.readouterr().err
    assert victim in err and "simulated" in err and "Traceback" not in err
    rows = {r["credentials_id"]: r["key_id"] for r in read_rows(store.lake, CREDENTIALS)}
    current = LocalKeyProvider(settings.key_dir).current_key_id()
    assert rows.pop(victim) == old and set(rows.values()) == {current}
    assert (settings.key_dir / f"kek-{old}.key").exists()  # still in use: kept
    assert _open_all(settings) == tokens

    assert cli.main(["keys", "rotate", "--retire"]) == 0
    assert_retired_keys_open_nothing(settings, stolen, data_keys, ids)
    _assert_vault_works(settings, store, tokens)


def test_a_writer_committing_during_the_rotation_loses_nothing(small, tmp_path,
                                                               monkeypatch, capsys) -> None:
    """A sync marks an item and another is linked while the rotation works, after it read
    the table and before its MERGE commits: the rotation's commit loses, is computed again
    on the new rows, and nothing of either writer is lost."""
    settings, store, tokens = small
    held = store.all()  # what a nightly read before the rotation
    assert key_commands.rotate(settings, progress=lambda _: None) == 0  # plain: old key kept
    assert {c.credentials_id: store.token(c) for c in held} == tokens  # still opens
    stolen, data_keys, ids = _attacker(settings, tmp_path / "stolen")
    target = held[2]
    real_delta = Lake.delta
    armed = [False]

    def delta(self: Lake, t):  # noqa: ANN001, ANN202
        dt = real_delta(self, t)
        if armed[0] and t is CREDENTIALS:  # the rotation's MERGE has its snapshot now
            armed[0] = False
            store.set_status(target, "mfa_required", failure_count=2)
            token = f"access-sandbox-{os.urandom(8).hex()}"
            tokens[store.link("user_7", "ins_1", "item_linked_meanwhile", token)
                   .credentials_id] = token
        return dt

    real_merge = key_commands._merge

    def merge(lake: Lake, updates):  # noqa: ANN001, ANN202
        armed[0] = len(tokens) == len(held)  # only the first time
        return real_merge(lake, updates)

    capsys.readouterr()
    with monkeypatch.context() as mp:
        mp.setattr(Lake, "delta", delta)
        mp.setattr(key_commands, "_merge", merge)
        assert cli.main(["keys", "rotate", "--retire"]) == 0
    assert "changed while we worked" in capsys.readouterr().out
    event = max((r for r in read_rows(store.lake, AUDIT_LOG) if r["action"] == "rotate_keys"),
                key=lambda r: r["occurred_at"])
    assert json.loads(event["detail"])["conflicts"] == 1
    assert len(tokens) == len(held) + 1
    rows = {r["credentials_id"]: r for r in read_rows(store.lake, CREDENTIALS)}
    assert (rows[target.credentials_id]["status"],
            rows[target.credentials_id]["failure_count"]) == ("mfa_required", 2)
    current = LocalKeyProvider(settings.key_dir).current_key_id()
    assert {r["key_id"] for r in rows.values()} == {current}
    assert LocalKeyProvider(settings.key_dir).key_ids() == [current]
    assert _open_all(settings) == tokens
    assert_retired_keys_open_nothing(settings, stolen, data_keys, ids | set(rows))


def test_a_status_change_racing_a_retiring_rotation_keeps_the_new_envelope(
        small, monkeypatch) -> None:
    """A sync marking credentials expired reads and writes the table while a retiring
    rotation commits at any point in between (before or after each time the status change
    opens the table): the status lands, and no token is left under a destroyed key."""
    settings, store, tokens = small
    real_delta = Lake.delta
    plan: dict = {"fire": None, "seen": 0}

    def delta(self: Lake, t):  # noqa: ANN001, ANN202
        if plan["fire"] is None or t is not CREDENTIALS:
            return real_delta(self, t)
        plan["seen"] += 1
        at, side = plan["fire"]
        if plan["seen"] == at and side == "before":
            plan["fire"] = None
            assert key_commands.rotate(settings, retire=True, progress=lambda _: None) == 0
        dt = real_delta(self, t)
        if plan["seen"] == at and side == "after":
            plan["fire"] = None
            assert key_commands.rotate(settings, retire=True, progress=lambda _: None) == 0
        return dt

    monkeypatch.setattr(Lake, "delta", delta)
    target = store.all()[1]
    plan.update(fire=(10**6, "never"), seen=0)  # count how often a status change opens it
    store.set_status(target, "expired", failure_count=1)
    opens = plan["seen"]
    assert opens >= 1
    cases = [(at, side) for at in range(1, opens + 1) for side in ("before", "after")]
    for n, (at, side) in enumerate(cases, 2):
        before = LocalKeyProvider(settings.key_dir).current_key_id()
        plan.update(fire=(at, side), seen=0)
        store.set_status(target, "expired", failure_count=n)
        assert plan["fire"] is None, (at, side)  # the rotation did run in between
        current = LocalKeyProvider(settings.key_dir).current_key_id()
        assert current != before
        row = next(r for r in read_rows(store.lake, CREDENTIALS)
                   if r["credentials_id"] == target.credentials_id)
        assert (row["status"], row["failure_count"]) == ("expired", n), (at, side)
        assert _row_keys(settings) == {current}, f"a row went back to a retired key: {at, side}"
        assert _open_all(settings) == tokens, (at, side)


def test_retire_waits_for_a_running_nightly(small, monkeypatch, capsys) -> None:
    """A nightly holds credentials read before the rotation, which only the old key opens:
    --retire waits for the lake's writer lease (here: refuses at once, nothing changed, with
    FINLAKE_WRITER_WAIT=0) until it has finished; a plain rotation may run meanwhile."""
    from tests.support.lease_helpers import writer_elsewhere

    settings, store, tokens = small
    monkeypatch.setenv("FINLAKE_WRITER_WAIT", "0")
    held = store.all()
    keys, version = _key_files(settings), store.lake.delta(CREDENTIALS).version()
    with writer_elsewhere(settings.locks_dir, settings.lake_root, job="nightly"):
        capsys.readouterr()
        assert cli.main(["keys", "rotate", "--retire"]) == 1
        err = capsys.readouterr().err
        assert "a nightly run (" in err and "is writing the lake" in err
        assert len(err.strip().splitlines()) == 1
        assert _key_files(settings) == keys
        assert store.lake.delta(CREDENTIALS).version() == version

        assert cli.main(["keys", "rotate"]) == 0  # re-wraps; the old key stays for the nightly
        assert {c.credentials_id: store.token(c) for c in held} == tokens

    # the nightly has ended
    assert cli.main(["keys", "rotate", "--retire"]) == 0
    assert len(LocalKeyProvider(settings.key_dir).key_ids()) == 1
    assert _open_all(settings) == tokens