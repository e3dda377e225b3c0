"""Right to be forgotten: after ``finlake forget-user`` no table version, raw object, log
line or Dagster run holds the person, the partner link is revoked, the deletion certificate
is in the append-only audit log, and everyone else's data is untouched and reconciles."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import load_settings
from finlake.commands import pipeline as commands
from lake.lake import Lake
from lake.tables import AUDIT_LOG, AUDIT_SUBJECTS, TRANSACTIONS, table
from tests.support.demo import DEMO_LOG, copy_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TARGET = "user_0002"


def _others(lake: Lake) -> dict[str, str]:
    """Content hash per table of every row that is not the target's (audit tables excluded:
    they grow with the deletion itself)."""
    out = {}
    for t in lake.tables():
        if t.layer == "audit" or t.name == "audit_subjects":
            continue
        rows = lake.delta(t).to_pyarrow_table().to_pylist()
        keep = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows
                      if r.get("user_id") != TARGET)
        out[t.name] = hashlib.sha256("\n".join(keep).encode()).hexdigest()
    return out


def _identifiers(lake: Lake, store_keys: list[str]) -> set[str]:
    """The target's identifiers, gathered independently of lake/forget.py."""
    ids = {TARGET}
    for name, cols in (("transactions", ("txn_id", "partner_txn_id", "account_id", "item_id")),
                       ("accounts", ("account_id", "item_id")),
                       ("credentials", ("item_id", "credentials_id"))):
        for r in lake.delta(table(name)).to_pyarrow_table().to_pylist():
            if r["user_id"] == TARGET:
                ids |= {r[c] for c in cols if r[c]}
    for key in store_keys:
        if f"user={TARGET}/item=" in key:
            ids.add(key.split(f"user={TARGET}/item=")[1].split("/")[0])
    return ids


def _tokens(data: bytes) -> set[str]:
    return {t.decode() for t in re.findall(rb"[A-Za-z0-9_\-]+", data)}


@pytest.fixture(scope="module")
def home(demo_build, tmp_path_factory) -> Path:
    """A copy of the session's demo (3 users, 2 days, its DEBUG log included): forgetting a
    person rewrites it."""
    home = copy_demo(demo_build, tmp_path_factory.mktemp("forget_home") / "home")
    mp = pytest.MonkeyPatch()
    mp.setenv("FINLAKE_HOME", str(home))
    mp.delenv("FINLAKE_PARTNER_HOST", raising=False)
    yield home
    mp.undo()


def test_forget_user_leaves_no_trace_and_touches_no_one_else(home, capsys) -> None:
    settings = load_settings()
    # Every log record of the whole story, at DEBUG, kept in a file like a log shipper would:
    # the demo's are in it already (tests/conftest.py), the rest of the story is appended.
    log_file = home / DEMO_LOG
    demo_log = log_file.stat().st_size
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        _story_and_forget(settings, home, capsys)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    size = log_file.stat().st_size
    assert size > 10_000 and size > demo_log  # the log really was written, this story's too


def _story_and_forget(settings, home: Path, capsys) -> None:  # noqa: ANN001
    from connectors.credentials import CredentialStore
    from connectors.vault import Vault, key_provider
    from finlake.commands.forget import forget_user
    from finlake.commands.gold import budget_set
    from finlake.runner import prepare_instance

    lake = Lake(settings.lake_root)  # the demo: 3 users, 2 days (tests/conftest.py)
    # The person used the product: a budget, an on-demand sync (a Dagster run of their own).
    assert budget_set(settings, TARGET, "FOOD_AND_DRINK", "300") == 0
    account = next(r["account_id"] for r in lake.delta(table("accounts")).to_pyarrow_table()
                   .to_pylist() if r["user_id"] == TARGET)
    assert commands.sync_account(settings, account) == 0
    creds = CredentialStore(lake, Vault(key_provider(settings)))
    tokens = {c.item_id: creds.token(c) for c in creds.all() if c.user_id == TARGET}
    assert tokens
    ids = _identifiers(lake, lake.store.list(""))
    assert len(ids) > 50  # user, items, accounts, hundreds of transactions
    before = _others(lake)
    instance = prepare_instance(settings)
    nightly_runs = {r.run_id for r in instance.get_runs() if r.job_name == "nightly"}
    subject = next(r["subject"] for r in lake.delta(AUDIT_SUBJECTS).to_pyarrow_table()
                   .to_pylist() if r["user_id"] == TARGET)
    capsys.readouterr()

    assert forget_user(settings, TARGET, yes=True) == 0
    out = capsys.readouterr().out
    certificate = json.loads(out.split("deletion certificate (also in the audit log):\n")[1])
    assert certificate["rows_deleted"] > 300 and certificate["verification"]["clean"]
    assert certificate["items_revoked"] == len(tokens)
    assert certificate["subject"] == subject
    assert certificate["tables"]["transactions"]["rows_deleted"] > 0
    assert not _tokens(json.dumps(certificate).encode()) & ids

    # 1. No row, in any version still reachable: every table's history is re-read.
    for t in lake.tables():
        dt = lake.delta(t)
        for entry in dt.history():
            version = entry.get("version")
            if version is None:
                continue
            try:
                dt.load_as_version(version)
            except Exception:  # noqa: BLE001 - an old version that is gone is the point
                continue
            if "user_id" in t.column_names and t is not AUDIT_LOG:
                rows = dt.to_pyarrow_table(columns=["user_id"]).to_pylist()
                assert TARGET not in {r["user_id"] for r in rows}, (t.name, version)
    # 2. No byte anywhere we keep (tables decoded, everything else raw): lake, state, keys,
    # Dagster storage and compute logs, and the DEBUG log of everything so far (logs never
    # name a person, so no log line has to be found and cut). The sandbox bank's folder is
    # the partner's own store.
    from lake.traces import scan_objects, scan_tables

    hits = scan_tables(lake, ids)
    hits.merge(scan_objects(lake, ids))
    assert hits.clean, hits.found
    for path in home.rglob("*"):
        if path.is_file() and "sandbox_bank" not in path.parts \
                and "/lake/tables/" not in str(path):
            assert not _tokens(path.read_bytes()) & ids, path
    for token in tokens.values():  # not even sealed tokens: their rows and files are gone
        for path in home.rglob("*"):
            if path.is_file() and "sandbox_bank" not in path.parts:
                assert token.encode() not in path.read_bytes(), path
    # 3. Dagster: the person's own run is gone, the nightly runs are kept.
    instance = prepare_instance(settings)
    runs = instance.get_runs()
    assert {r.run_id for r in runs if r.job_name == "nightly"} == nightly_runs
    assert not any(r.job_name == "on_demand_sync" for r in runs)
    # 4. The partner link is revoked: the old token no longer works at the bank.
    from plaid.model.item_get_request import ItemGetRequest

    from assets.resources import resources_for

    client = resources_for(settings)["partner"].client()
    import plaid

    for token in tokens.values():
        with pytest.raises(plaid.ApiException) as err:
            client.item_get(ItemGetRequest(access_token=token))
        assert "INVALID_ACCESS_TOKEN" in err.value.body
    # 5. Everyone else: every row identical, and silver still equals the bank's truth.
    assert _others(lake) == before
    assert commands.reconcile(settings) == 0
    # 6. The certificate is in the append-only audit log; the pseudonym leads nowhere.
    audit = lake.delta(AUDIT_LOG)
    assert audit.metadata().configuration.get("delta.appendOnly") == "true"
    rows = audit.to_pyarrow_table().to_pylist()
    forgets = [r for r in rows if r["action"] == "forget_user"]
    assert len(forgets) == 1 and forgets[0]["subject"] == subject
    assert any(r["action"] == "set_budget" and r["subject"] == subject for r in rows)
    assert subject not in {r["subject"] for r in
                           lake.delta(AUDIT_SUBJECTS).to_pyarrow_table().to_pylist()}
    with pytest.raises(Exception, match="append-only"):
        audit.delete(f"subject = '{subject}'")
    # 7. The next nightly works on the rewritten history and does not bring the person back.
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert commands.nightly(settings, yesterday, replay=False) == 0
    users = {r["user_id"] for r in lake.delta(TRANSACTIONS).to_pyarrow_table(
        columns=["user_id"]).to_pylist()}
    assert TARGET not in users and users
    assert commands.reconcile(settings) == 0


def test_forget_an_unknown_user_changes_nothing_and_does_not_log_the_id(home, capsys) -> None:
    from finlake.commands.forget import forget_user
    from finlake.runner import prepare_instance

    settings = load_settings()
    lake = Lake(settings.lake_root)
    if not lake.tables():
        assert commands.demo(settings, users=3, days=2) == 0
    versions = {t.name: lake.delta(t).version() for t in lake.tables()}
    capsys.readouterr()
    instance = prepare_instance(settings)
    runs = len(instance.get_runs())
    assert forget_user(settings, "user_9999", yes=True) == 2
    err = capsys.readouterr().err
    assert "no user 'user_9999' in this lake" in err and "nothing was changed" in err
    assert {t.name: lake.delta(t).version() for t in lake.tables()} == versions
    assert len(instance.get_runs()) == runs  # refused before any run could store the id
    assert not lake.store.list("requests/forget/")  # no request written


def test_forget_needs_confirmation_without_a_terminal(home, capsys, monkeypatch) -> None:
    import io

    from finlake.commands.forget import forget_user
    from lake.people import has_user

    settings = load_settings()
    known = [u for u in ("user_0001", "user_0002", "user_0003")
             if has_user(Lake(settings.lake_root), u)]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert forget_user(settings, known[0], yes=False) == 2
    assert "--yes" in capsys.readouterr().err
    assert has_user(Lake(settings.lake_root), known[0])  # not confirmed: nothing deleted
