"""Credential envelopes: key providers (local files, KMS), rotation, tampering, audit."""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.credentials import CredentialStore, credentials_id_for
from connectors.vault import (
    KmsKeyProvider,
    LocalKeyProvider,
    MissingKeyError,
    Sealed,
    Vault,
    VaultError,
    _seal,
    key_provider,
)
from core.settings import PRODUCTION_SERVICES, ConfigError, load_settings
from finlake import cli
from finlake.commands import keys as key_commands
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, CREDENTIALS


def _settings(tmp_path, **env: str):
    return load_settings({"FINLAKE_HOME": str(tmp_path), **env})


def _store(settings) -> CredentialStore:
    return CredentialStore(Lake(settings.lake_root), Vault(key_provider(settings)))


def _link(store: CredentialStore, n: int) -> dict[str, str]:
    """n credentials; returns credentials_id -> token."""
    tokens = {}
    for i in range(n):
        token = f"access-sandbox-{secrets.token_hex(8)}"
        cred = store.link(f"user_{i % 2}", f"ins_{i % 3}", f"item_{i}_{secrets.token_hex(2)}",
                          token)
        tokens[cred.credentials_id] = token
    return tokens


def _rows(lake: Lake) -> dict[str, dict]:
    return {r["credentials_id"]: r for r in read_rows(lake, CREDENTIALS)}


def _assert_all_open(settings, tokens: dict[str, str]) -> None:
    store = _store(settings)  # a fresh provider: nothing cached
    opened = {c.credentials_id: store.token(c) for c in store.all()}
    assert opened == tokens


def _key_files(settings) -> list[str]:
    return sorted(p.name for p in settings.key_dir.glob("kek-*.key"))


def test_rotation_keeps_every_credential_decryptable(tmp_path) -> None:
    settings = _settings(tmp_path)
    store = _store(settings)
    tokens = _link(store, 5)
    lake = store.lake
    before = _rows(lake)
    first_key = next(iter(before.values()))["key_id"]
    lines: list[str] = []

    assert key_commands.rotate(settings, progress=lines.append) == 0
    assert any("[5/5]" in line for line in lines), lines
    assert key_commands.rotate(settings, progress=lines.append) == 0
    after = _rows(lake)
    current = LocalKeyProvider(settings.key_dir).current_key_id()
    assert {r["key_id"] for r in after.values()} == {current} and current != first_key
    for cid, row in after.items():  # only the wrapping changed
        assert row["encrypted_token"] == before[cid]["encrypted_token"]
        assert row["wrapped_key"] != before[cid]["wrapped_key"]
        assert {k: v for k, v in row.items() if k not in ("wrapped_key", "key_id")} == {
            k: v for k, v in before[cid].items() if k not in ("wrapped_key", "key_id")}
    assert len(_key_files(settings)) == 3  # old KEKs are kept until retired
    _assert_all_open(settings, tokens)

    # Nothing left to re-wrap: no commit at all.
    version = lake.delta(CREDENTIALS).version()
    result = key_commands.rewrap_credentials(lake, Vault(key_provider(settings)),
                                             progress=lines.append)
    assert (result.todo, result.updated) == (0, 0)
    assert lake.delta(CREDENTIALS).version() == version

    assert key_commands.rotate(settings, retire=True, progress=lines.append) == 0
    newest = LocalKeyProvider(settings.key_dir).current_key_id()
    assert _key_files(settings) == [f"kek-{newest}.key"]
    _assert_all_open(settings, tokens)
    for name in _key_files(settings):
        assert oct((settings.key_dir / name).stat().st_mode)[-3:] == "600"
    assert oct(settings.key_dir.stat().st_mode)[-3:] == "700"

    events = [r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "rotate_keys"]
    assert len(events) == 3
    details = [json.loads(e["detail"]) for e in events]
    assert {d["rewrapped"] for d in details} == {5}
    assert any(d["new_key_id"] == newest and len(d["retired"]) == 3 for d in details)
    assert all(e["subject"] is None and e["actor"].startswith("cli:") for e in events)


def test_retire_removes_only_unused_keys(tmp_path) -> None:
    settings = _settings(tmp_path)
    provider = LocalKeyProvider(settings.key_dir)
    store = CredentialStore(Lake(settings.lake_root), Vault(provider))
    tokens = _link(store, 2)  # under key 1
    provider.rotate()
    tokens |= _link(store, 1)  # under key 2
    provider.rotate()  # key 3: current, no credential under it yet
    orphan = settings.key_dir / "kek-0000-deadbeef.key"
    orphan.write_bytes(os.urandom(32))
    orphan.chmod(0o600)
    kept = [k for k in provider.key_ids() if not k.startswith("0000")]

    retired = key_commands._retire_unused(store.lake, provider, progress=lambda _: None)
    assert retired == ["0000-deadbeef"]
    assert provider.key_ids() == kept
    with pytest.raises(VaultError, match="current"):
        provider.retire(provider.current_key_id())
    _assert_all_open(settings, tokens)


def test_new_local_keys_sort_after_old_ones_despite_retired_gaps(tmp_path) -> None:
    provider = LocalKeyProvider(tmp_path / "keys")
    ids = [provider.rotate() for _ in range(3)]
    for old in ids[:2]:
        provider.retire(old)
    new = provider.rotate()
    assert provider.current_key_id() == new and new > ids[2]


def test_envelopes_from_before_encryption_contexts_still_open(tmp_path) -> None:
    """Rows wrapped with the key id alone as associated data (the first format)."""
    settings = _settings(tmp_path)
    provider = LocalKeyProvider(settings.key_dir)
    key_id = provider.current_key_id()
    kek = (settings.key_dir / f"kek-{key_id}.key").read_bytes()
    cid, data_key = credentials_id_for("item_old"), AESGCM.generate_key(bit_length=256)
    sealed = Sealed(_seal(data_key, b"access-sandbox-old", cid.encode()),
                    _seal(kek, data_key, key_id.encode()), key_id)
    vault = Vault(provider)
    assert vault.open(cid, sealed) == "access-sandbox-old"
    provider.rotate()
    rewrapped = vault.rewrap(cid, sealed)
    assert rewrapped.encrypted_token == sealed.encrypted_token
    assert rewrapped.wrapped_key.startswith("v2:") and rewrapped.key_id != key_id
    assert vault.open(cid, rewrapped) == "access-sandbox-old"


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_envelopes_do_not_open(tmp_path) -> None:
    vault = Vault(LocalKeyProvider(tmp_path / "keys"))
    a, b = credentials_id_for("item_a"), credentials_id_for("item_b")
    sa, sb = vault.seal(a, "access-sandbox-a"), vault.seal(b, "access-sandbox-b")
    assert vault.open(a, sa) == "access-sandbox-a"
    with pytest.raises(VaultError):  # another credential's id as context
        vault.open(b, sa)
    with pytest.raises(VaultError):  # edited wrapped key
        vault.open(a, Sealed(sa.encrypted_token, "v2:" + _flip(sa.wrapped_key[3:]), sa.key_id))
    with pytest.raises(VaultError):  # another credential's wrapped key
        vault.open(a, Sealed(sa.encrypted_token, sb.wrapped_key, sa.key_id))
    with pytest.raises(VaultError):  # downgraded to the format without a context
        vault.open(a, Sealed(sa.encrypted_token, sa.wrapped_key[3:], sa.key_id))
    with pytest.raises(VaultError):  # edited token
        vault.open(a, Sealed(_flip(sa.encrypted_token), sa.wrapped_key, sa.key_id))
    with pytest.raises(VaultError):
        vault.rewrap(b, sa)


def test_missing_key_file_is_a_clear_error(tmp_path) -> None:
    provider = LocalKeyProvider(tmp_path / "keys")
    vault = Vault(provider)
    cid = credentials_id_for("item_a")
    sealed = vault.seal(cid, "access-sandbox-a")
    (tmp_path / "keys" / f"kek-{sealed.key_id}.key").unlink()
    with pytest.raises(MissingKeyError) as err:
        vault.open(cid, sealed)
    message = str(err.value)
    assert sealed.key_id in message and str(tmp_path / "keys") in message
    assert "Restore" in message and not message.startswith("'")


def test_keys_status_local(tmp_path, capsys) -> None:
    settings = _settings(tmp_path)
    assert key_commands.status(settings) == 0
    assert "current key: (none yet" in capsys.readouterr().out
    assert not settings.key_dir.exists()  # status does not create keys
    store = _store(settings)
    _link(store, 3)
    old = store.vault.provider.current_key_id()
    new = store.vault.provider.rotate()
    _link(store, 1)
    assert key_commands.status(settings) == 0
    out = capsys.readouterr().out
    assert f"current key: {new}" in out and "key provider: local key files in" in out
    assert f"  {new}  1  (current)" in out and f"  {old}  3\n" in out
    assert "credentials: 4" in out and "3 credential(s) not under the current key" in out


def test_production_needs_a_kms_key(tmp_path, monkeypatch, capsys) -> None:
    base = {"FINLAKE_HOME": str(tmp_path), "FINLAKE_ENV": "production",
            "FINLAKE_S3_BUCKET": "bucket", "SPARK_REMOTE": "sc://spark:15002",
            **{k: "5432" if k.endswith("PORT") else "x" for k in PRODUCTION_SERVICES
               if k.startswith("DAGSTER_PG")}}
    with pytest.raises(ConfigError, match="set it to the KMS key id, ARN or alias"):
        load_settings(base)
    with pytest.raises(ConfigError, match="FINLAKE_KMS_KEY_ID='my key'"):
        load_settings({**base, "FINLAKE_KMS_KEY_ID": "my key"})
    for ok in ("alias/finlake-credentials", "1234abcd-12ab-34cd-56ef-1234567890ab",
               "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
               "arn:aws:kms:eu-west-1:123456789012:alias/finlake"):
        assert load_settings({**base, "FINLAKE_KMS_KEY_ID": ok}).kms_key_id == ok
    assert load_settings({"FINLAKE_HOME": str(tmp_path)}).kms_key_id is None
    for k, v in base.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("FINLAKE_KMS_KEY_ID", raising=False)
    assert cli.main(["keys", "status"]) == 2
    assert "FINLAKE_KMS_KEY_ID" in capsys.readouterr().err


def test_decryption_during_a_sync_is_audited(tmp_path) -> None:
    import dagster as dg

    from assets.resources import LakeResource, PartnerResource, VaultResource
    from assets.transactions import raw_transaction_pages
    from connectors.linking import link_sandbox
    from connectors.partner import partner_client
    from connectors.sandbox_bank.bank import SandboxBank
    from connectors.sandbox_bank.server import serve

    day = date(2026, 6, 10)
    bank = SandboxBank.open(tmp_path / "bank", users=2, history_start=day - timedelta(5),
                            clock=day)
    running = serve(bank)
    try:
        lake = Lake(str(tmp_path / "lake"))
        vault = VaultResource(key_dir=str(tmp_path / "keys"))
        creds = vault.credentials(lake)  # linked without an audit log
        link_sandbox(partner_client(running.url, "c", "s"), running.url, creds)
        tokens = [creds.token(c) for c in creds.all()]
        users = {c.user_id for c in creds.all()}
        secret_ids = set(tokens) | users | {c.item_id for c in creds.all()}
        result = dg.materialize(
            [raw_transaction_pages], partition_key=day.isoformat(),
            resources={"lake": LakeResource(root=lake.root), "vault": vault,
                       "partner": PartnerResource(
                           host=running.url, client_id="c", secret="s",
                           sandbox_dir=str(tmp_path / "bank"), rate_limiter_url="memory://",
                           retry_base_delay=0.01)})
        assert result.success
    finally:
        running.stop()
    rows = read_rows(lake, AUDIT_LOG)
    decrypts = [r for r in rows if r["action"] == "decrypt_credential"]
    assert len(decrypts) >= len(tokens)
    assert lake.delta(AUDIT_LOG).version() == 0  # the run's events in one commit
    for r in decrypts:
        assert r["actor"].startswith("pipeline:") and r["subject"].startswith("s_")
        detail = json.loads(r["detail"])
        assert set(detail) == {"institution_id", "key_id"}
        text = r["detail"] + r["subject"]
        assert not any(s in text for s in secret_ids)
    assert len({r["subject"] for r in decrypts}) == len(users)


# --- KMS (moto's server) ------------------------------------------------------------------


@pytest.fixture
def kms(moto_s3, tmp_path, monkeypatch):
    """A KMS key behind a fresh alias, and the environment naming it."""
    import boto3

    client = boto3.client("kms", endpoint_url=moto_s3, region_name="us-east-1")
    key = client.create_key(Description="finlake test")["KeyMetadata"]
    alias = f"alias/finlake-test-{secrets.token_hex(4)}"
    client.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    env = {"FINLAKE_HOME": str(tmp_path), "FINLAKE_KMS_KEY_ID": alias,
           "FINLAKE_KMS_ENDPOINT": moto_s3}
    for k in ("FINLAKE_ENV", "FINLAKE_S3_BUCKET", "FINLAKE_PARTNER_HOST"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return client, key, alias, load_settings(env)


@pytest.mark.integration
def test_kms_seal_open_and_wrapped_keys_are_kms_ciphertext(kms, tmp_path) -> None:
    client, key, alias, settings = kms
    provider = key_provider(settings)
    assert isinstance(provider, KmsKeyProvider)
    vault = Vault(provider)
    cid = credentials_id_for("item_kms")
    sealed = vault.seal(cid, "access-sandbox-kms")
    assert sealed.key_id == key["Arn"]
    assert vault.open(cid, sealed) == "access-sandbox-kms"
    # KMS ciphertext: KMS opens it (with the right context), the local provider cannot.
    assert client.decrypt(CiphertextBlob=base64.b64decode(sealed.wrapped_key),
                          EncryptionContext={"credentials_id": cid})["KeyId"] == key["Arn"]
    local = LocalKeyProvider(tmp_path / "keys")
    local_id = local.current_key_id()
    with pytest.raises(Exception):  # noqa: B017 - whatever the local provider raises
        local.unwrap(local_id, sealed.wrapped_key, {"credentials_id": cid})
    with pytest.raises(VaultError):  # wrong encryption context
        vault.open(credentials_id_for("item_other"), sealed)
    with pytest.raises(VaultError):  # edited wrapped key
        vault.open(cid, Sealed(sealed.encrypted_token, _flip(sealed.wrapped_key),
                               sealed.key_id))


@pytest.mark.integration
def test_kms_rotate_with_a_new_key_through_the_cli(kms, capsys) -> None:
    client, key, alias, settings = kms
    store = _store(settings)
    tokens = _link(store, 4)
    lake = store.lake
    before = _rows(lake)

    assert cli.main(["keys", "rotate", "--new-key"]) == 0
    out = capsys.readouterr().out
    assert "4 to re-wrap" in out and "[4/4]" in out
    new_arn = client.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    assert new_arn != key["Arn"]
    after = _rows(lake)
    assert {r["key_id"] for r in after.values()} == {new_arn}
    assert {c: r["encrypted_token"] for c, r in after.items()} == {
        c: r["encrypted_token"] for c, r in before.items()}
    for cid, row in after.items():
        blob = base64.b64decode(row["wrapped_key"])
        assert client.decrypt(CiphertextBlob=blob, EncryptionContext={
            "credentials_id": cid})["KeyId"] == new_arn
    _assert_all_open(settings, tokens)

    version = lake.delta(CREDENTIALS).version()  # nothing left to do: a no-op
    assert cli.main(["keys", "rotate"]) == 0
    assert "0 to re-wrap" in capsys.readouterr().out
    assert lake.delta(CREDENTIALS).version() == version

    assert cli.main(["keys", "status"]) == 0
    out = capsys.readouterr().out
    assert f"current key: {new_arn}" in out and f"  {new_arn}  4  (current)" in out
    assert f"KMS key {alias}" in out

    event = min((r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "rotate_keys"),
                key=lambda r: r["occurred_at"])  # the first of the two rotations
    detail = json.loads(event["detail"])
    assert (detail["rewrapped"], detail["old_key_ids"], detail["new_key_id"]) == (
        4, [key["Arn"]], new_arn)
    assert not any(t in event["detail"] for t in tokens.values())


@pytest.mark.integration
def test_kms_alias_moved_by_an_operator_then_rotate(kms, capsys) -> None:
    client, key, alias, settings = kms
    store = _store(settings)
    tokens = _link(store, 2)
    other = client.create_key(Description="finlake test 2")["KeyMetadata"]
    client.update_alias(AliasName=alias, TargetKeyId=other["KeyId"])
    assert cli.main(["keys", "rotate"]) == 0
    assert "2 to re-wrap" in capsys.readouterr().out
    assert {r["key_id"] for r in _rows(store.lake).values()} == {other["Arn"]}
    _assert_all_open(settings, tokens)


@pytest.mark.integration
def test_kms_new_key_needs_an_alias(kms, monkeypatch, capsys) -> None:
    client, key, alias, settings = kms
    monkeypatch.setenv("FINLAKE_KMS_KEY_ID", key["KeyId"])
    assert cli.main(["keys", "rotate", "--new-key"]) == 2
    assert "not an alias" in capsys.readouterr().err
