"""Security, issue 18 (finding 3 and the directory names of finding 5): after forgetting
people the lake stays healthy for every writer on both engines, no file or directory name
holds an id of theirs, and a forget stopped part-way is finished by running it again, never
leaving a person's bank links revoked while their data stays.

The lake is the demo's shape (3 users of the embedded sandbox bank) with one synced day,
three days back: the bank then has three more days of activity for the nightly of
yesterday, a new day that really syncs and writes rows (the demo's own days are yesterday
and the day before, so after it a nightly has nothing new to sync)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.crashpoints import CRASH_EXIT_CODE
from core.settings import load_settings
from finlake import cli
from finlake.commands.pipeline import HISTORY_DAYS
from lake.lake import Lake
from lake.tables import AUDIT_LOG, CREDENTIALS, TRANSACTIONS, table

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NEW = datetime.now(UTC).date() - timedelta(days=1)  # yesterday: the new day
FIRST = NEW - timedelta(days=3)  # the one day synced before the forgets
FORGOTTEN = ("user_0001", "user_0002")
KEPT = "user_0003"
SPARK = "Apache-Spark/"  # engineInfo of a delta-spark commit


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Linked sandbox items and one nightly (``FIRST``), never changed: tests copy it."""
    from connectors.sandbox_bank.bank import SandboxBank

    home = tmp_path_factory.mktemp("sec_forget") / "home"
    SandboxBank.open(home / "sandbox_bank", users=3,
                     history_start=FIRST - timedelta(days=HISTORY_DAYS),
                     clock=FIRST - timedelta(days=1))
    mp = pytest.MonkeyPatch()
    _env(mp, home)
    try:
        assert cli.main(["link-sandbox"]) == 0
        assert cli.main(["nightly", "--date", FIRST.isoformat()]) == 0
    finally:
        mp.undo()
    return home


def _env(mp: pytest.MonkeyPatch, home: Path) -> None:
    for name in [n for n in os.environ if n.startswith(("FINLAKE_", "SPARK_"))]:
        mp.delenv(name)
    mp.setenv("FINLAKE_HOME", str(home))


def _copy(base: Path, dest: Path, mp: pytest.MonkeyPatch) -> tuple[Path, Lake]:
    home = shutil.copytree(base, dest / "home", symlinks=True)
    _env(mp, home)
    return home, Lake(load_settings().lake_root)


def _rows(lake: Lake, name: str, user_id: str) -> list[dict]:
    return [r for r in lake.delta(table(name)).to_pyarrow_table().to_pylist()
            if r["user_id"] == user_id]


def _identifiers(lake: Lake, user_id: str) -> set[str]:
    """A person's ids, gathered independently of lake/forget.py."""
    ids = {user_id}
    for name, cols in (("transactions", ("txn_id", "partner_txn_id", "account_id", "item_id")),
                       ("accounts", ("account_id", "item_id")),
                       ("credentials", ("item_id", "credentials_id"))):
        for r in _rows(lake, name, user_id):
            ids |= {r[c] for c in cols if r[c]}
    for key in lake.store.list("raw/"):
        if f"user={user_id}/item=" in key:
            ids.add(key.split(f"user={user_id}/item=")[1].split("/")[0])
    assert len(ids) > 50, "the person had hardly any data: the test would prove little"
    return ids


def _tokens(data: bytes | str) -> set[str]:
    raw = data.encode() if isinstance(data, str) else data
    return {t.decode() for t in re.findall(rb"[A-Za-z0-9_\-]+", raw)}


def _forget(user_id: str, capsys: pytest.CaptureFixture) -> dict:
    capsys.readouterr()
    rc = cli.main(["forget-user", user_id, "--yes"])
    out = capsys.readouterr()
    assert rc == 0, out.out[-3000:] + out.err
    return json.loads(out.out.split("deletion certificate (also in the audit log):\n")[1])


def _reconciled(capsys: pytest.CaptureFixture) -> dict:
    capsys.readouterr()
    rc = cli.main(["reconcile"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["exact"] and result["truth_rows"] > 50, result
    return result


def _assert_gone(home: Path, lake: Lake, ids: set[str]) -> None:
    """No trace of the person: not in any table cell, log file, object, unused data file or
    any version left; no file or directory named after an id of theirs; no byte of any other
    file the product keeps (the sandbox bank's folder is the partner's own store)."""
    import pyarrow.parquet as pq

    from lake.forget import user_tables
    from lake.traces import scan_objects, scan_tables

    hits = scan_tables(lake, ids)
    hits.merge(scan_objects(lake, ids))
    assert hits.clean, hits.found
    user_id = next(i for i in ids if i.startswith("user_"))
    for t in user_tables():
        dt = lake.delta(t)
        if dt is None:
            continue
        for version in [e["version"] for e in dt.history() if e.get("version") is not None]:
            dt.load_as_version(version)  # every version left must still load
            assert user_id not in {r["user_id"] for r in dt.to_pyarrow_table(
                columns=["user_id"]).to_pylist()}, (t.name, version)
        for path in (home / "lake" / t.key).rglob("*.parquet"):
            if "_delta_log" not in path.parts:  # every data file, used or not
                rows = pq.ParquetFile(path).read(columns=["user_id"]).column(0).to_pylist()
                assert user_id not in set(rows), path
    for path in home.rglob("*"):
        if "sandbox_bank" in path.relative_to(home).parts:
            continue
        assert not _tokens(path.name) & ids, f"a name holds an id of the person: {path}"
        if path.is_file() and "/lake/tables/" not in str(path):
            assert not _tokens(path.read_bytes()) & ids, path


def test_no_id_of_a_forgotten_person_in_any_name(base, tmp_path, monkeypatch, capsys) -> None:
    home, lake = _copy(base, tmp_path, monkeypatch)
    user_id = FORGOTTEN[0]
    ids = _identifiers(lake, user_id)
    raw = home / "lake" / "raw" / "transactions_sync"
    named = [p for p in raw.rglob("*") if p.is_dir() and _tokens(p.name) & ids]
    assert len(named) > 3  # user=<id> and item=<id> directories, before
    _forget(user_id, capsys)
    assert {p.name for p in raw.glob("sync_date=*/user=*")} == {
        f"user={u}" for u in (*FORGOTTEN[1:], KEPT)}
    _assert_gone(home, lake, ids)


def test_a_quarantine_row_from_before_its_owner_was_recorded_is_forgotten(
        base, tmp_path, monkeypatch, capsys) -> None:
    """Soak seed 2385: an unreadable page quarantined before 74103c9 has no user_id; its raw
    object (under ``user=U/``) and its body are still the person's. Forgetting them deletes
    it; the same kind of row of someone else stays."""
    from deltalake import write_deltalake

    from lake.arrow import arrow_schema
    from lake.tables import QUARANTINE

    home, lake = _copy(base, tmp_path, monkeypatch)
    user_id = FORGOTTEN[0]
    ids = _identifiers(lake, user_id)
    txn = next(r["partner_txn_id"] for r in _rows(lake, "transactions", user_id))

    def legacy(owner: str, record: str) -> dict:
        item = next(k for k in lake.store.list("raw/") if f"/user={owner}/item=" in k)
        return {c: None for c in QUARANTINE.column_names} | {
            "record_id": f"legacy-{owner}", "source": "transactions_sync_page",
            "raw_ref": item, "reason": "page is not valid JSON", "record": record,
            "sync_date": FIRST, "quarantined_at": datetime.now(UTC), "status": "quarantined"}

    import pyarrow as pa
    rows = [legacy(user_id, '{"transaction_id": "' + txn + '", "trunc'),
            legacy(KEPT, '{"added": [')]
    write_deltalake(lake.uri(QUARANTINE), pa.Table.from_pylist(
        rows, schema=arrow_schema(QUARANTINE)), mode="append",
        partition_by=list(QUARANTINE.partition_by) or None,
        storage_options=lake.storage_options())

    _forget(user_id, capsys)
    left = [r["record_id"] for r in lake.delta(QUARANTINE).to_pyarrow_table().to_pylist()]
    assert "legacy-" + user_id not in left and "legacy-" + KEPT in left
    _assert_gone(home, lake, ids)


def test_two_forgets_then_every_writer_works_on_sail(base, tmp_path, monkeypatch,
                                                     capsys) -> None:
    home, lake = _copy(base, tmp_path, monkeypatch)
    ids = {u: _identifiers(lake, u) for u in FORGOTTEN}
    for user_id in FORGOTTEN:  # two in a row
        _forget(user_id, capsys)
    before = {r["txn_id"] for r in _rows(lake, "transactions", KEPT)}

    # A nightly for a new day that syncs and writes rows, then its replay.
    assert cli.main(["nightly", "--date", NEW.isoformat()]) == 0, capsys.readouterr()
    new = [r for r in _rows(lake, "transactions", KEPT) if r["txn_id"] not in before]
    assert new, "the new day wrote no rows: it would prove nothing"
    assert lake.store.list(f"raw/transactions_sync/sync_date={NEW}/user={KEPT}/")
    version = lake.delta(TRANSACTIONS).version()
    assert cli.main(["nightly", "--date", NEW.isoformat(), "--replay"]) == 0
    assert lake.delta(TRANSACTIONS).version() == version  # the replay changed nothing

    # An override of one transaction, an on-demand sync, maintenance.
    txn = new[0]["txn_id"]
    assert cli.main(["override", "--user", KEPT, "--txn", txn,
                     "--category", "FOOD_AND_DRINK_COFFEE"]) == 0, capsys.readouterr()
    assert {r["txn_id"]: r["user_category"] for r in _rows(lake, "transactions", KEPT)}[txn] \
        == "FOOD_AND_DRINK_COFFEE"
    account = _rows(lake, "accounts", KEPT)[0]["account_id"]
    assert cli.main(["sync", "--account", account]) == 0, capsys.readouterr()
    assert cli.main(["maintain"]) == 0, capsys.readouterr()
    _reconciled(capsys)

    for user_id in FORGOTTEN:  # and nothing brought the forgotten back
        _assert_gone(home, lake, ids[user_id])


@pytest.mark.delta_spark
def test_two_forgets_then_a_nightly_on_spark_with_delta(base, spark_delta_server, tmp_path,
                                                        monkeypatch, capsys) -> None:
    home, lake = _copy(base, tmp_path, monkeypatch)
    ids = {u: _identifiers(lake, u) for u in FORGOTTEN}
    for user_id in FORGOTTEN:
        _forget(user_id, capsys)
    before = len(_rows(lake, "transactions", KEPT))

    # The nightly and the reconcile in one process on Apache Spark + Delta (this process's
    # sandbox bank would not see the clock the nightly moves).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINLAKE_", "SPARK_"))}
    env.update(FINLAKE_HOME=str(home), SPARK_REMOTE=spark_delta_server[0])
    script = ("import sys; from finlake import cli; "
              f"sys.exit(cli.main(['nightly', '--date', '{NEW}']) or cli.main(['reconcile']))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["exact"] and result["truth_rows"] > 50, result
    assert len(_rows(lake, "transactions", KEPT)) > before, "the new day wrote no rows"
    assert lake.delta(TRANSACTIONS).history(1)[0].get("engineInfo", "").startswith(SPARK)
    for user_id in FORGOTTEN:
        _assert_gone(home, lake, ids[user_id])


def _finlake(home: Path, *args: str, crash_at: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINLAKE_", "SPARK_"))}
    env.update(FINLAKE_HOME=str(home), FINLAKE_CRASH_AT=crash_at)
    return subprocess.run([sys.executable, "-m", "finlake.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _revoked_at_bank(home: Path) -> set[str]:
    """The items the sandbox bank has revoked (its own state: the partner's truth)."""
    state = json.loads((home / "sandbox_bank" / "state.json").read_text())
    return set(state.get("removed_items") or [])


def test_a_forget_stopped_part_way_is_finished_by_running_it_again(base, tmp_path,
                                                                   monkeypatch, capsys) -> None:
    from lake.traces import scan_tables

    home, lake = _copy(base, tmp_path, monkeypatch)
    user_id = FORGOTTEN[0]
    ids = _identifiers(lake, user_id)
    items = {r["item_id"] for r in _rows(lake, "credentials", user_id)}
    assert items and not items & _revoked_at_bank(home)

    # Killed once the person's rows and objects are deleted, before their old versions go:
    # the bank links are not revoked yet (their data is still on disk).
    killed = _finlake(home, "forget-user", user_id, "--yes",
                      crash_at="forget.before_old_versions")
    assert killed.returncode == CRASH_EXIT_CODE, killed.stdout + killed.stderr
    assert not _rows(lake, "transactions", user_id)
    dt = lake.delta(TRANSACTIONS)
    dt.load_as_version(dt.version() - 1)  # the version before their DELETE is still there
    assert user_id in {r["user_id"] for r in dt.to_pyarrow_table(columns=["user_id"])
                       .to_pylist()}
    assert not items & _revoked_at_bank(home)

    # Run again, killed right after revoking: only the credentials (now dead) are left.
    killed = _finlake(home, "forget-user", user_id, "--yes", crash_at="forget.after_revoke")
    assert killed.returncode == CRASH_EXIT_CODE, killed.stdout + killed.stderr
    assert items <= _revoked_at_bank(home)
    left = scan_tables(lake, ids).found
    assert left and all(CREDENTIALS.name in place or "audit_subjects" in place
                        for place in left), left
    # What the killed runs left behind: the second run deleted the first one's request.
    assert len(lake.store.list("requests/forget/")) == 1

    # The third run finishes: certificate, nothing left, the lake still reconciles.
    certificate = _forget(user_id, capsys)
    assert certificate["verification"]["clean"]
    assert certificate["items_revoked"] == len(items)
    assert certificate["objects_deleted"]["forget_requests"] == 1
    assert not lake.store.list("requests/forget/")
    audit = lake.delta(AUDIT_LOG).to_pyarrow_table().to_pylist()
    assert [r["subject"] for r in audit if r["action"] == "forget_user"] \
        == [certificate["subject"]] and certificate["subject"]
    _assert_gone(home, lake, ids)
    _reconciled(capsys)
