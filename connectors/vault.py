"""Envelope encryption of partner access tokens.

Each token gets a fresh 256-bit data key (AES-GCM, the credential's id as associated data);
the data key is wrapped by a key-encryption key (KEK) from a key provider, bound to the
credential's id (an encryption context). Plaintext tokens exist only in memory.

Two providers: :class:`LocalKeyProvider` keeps KEKs in files with mode 0600 in a directory
outside the lake (each written whole or not at all, :mod:`core.key_files`);
:class:`KmsKeyProvider` uses a KMS key, so KEKs never leave KMS. :func:`key_provider` picks
one from the settings. Rotation either re-wraps data keys under a new KEK
(:meth:`Vault.rewrap`: the encrypted token stays as it is, so the old KEK still opens it) or
re-encrypts each token under a fresh data key (:meth:`Vault.reseal`: nothing the old KEK
wrapped opens the new envelope).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.key_files import create_key_file, destroy_key_file

# Wrapped keys written since envelopes carry an encryption context start with this marker;
# older local ones (associated data: the key id alone) have none and stay readable.
_V2 = "v2:"
KEK_BYTES = 32


class VaultError(Exception):
    """A sealed credential cannot be opened or re-wrapped; the message says why."""


class MissingKeyError(VaultError, KeyError):
    """The key-encryption key a credential was wrapped under is not available."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "key-encryption key missing"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(12)
    return _b64(nonce + AESGCM(key).encrypt(nonce, plaintext, aad))


def _open(key: bytes, sealed: str, aad: bytes) -> bytes:
    raw = base64.b64decode(sealed)
    return AESGCM(key).decrypt(raw[:12], raw[12:], aad)


@dataclass(frozen=True)
class Sealed:
    encrypted_token: str
    wrapped_key: str
    key_id: str


class KeyProvider(Protocol):
    """Where key-encryption keys live. ``context`` binds a wrapped key to its credential."""

    def describe(self) -> str: ...

    def current_key_id(self) -> str: ...

    def wrap(self, key_id: str, data_key: bytes, context: Mapping[str, str]) -> str: ...

    def unwrap(self, key_id: str, wrapped: str, context: Mapping[str, str]) -> bytes: ...

    def rewrap(self, old_key_id: str, wrapped: str, context: Mapping[str, str]
               ) -> tuple[str, str]: ...

    def rotate(self) -> str: ...

    def key_ids(self) -> list[str]: ...

    def retire(self, key_id: str) -> bool: ...


class LocalKeyProvider:
    """KEKs as files ``kek-<id>.key`` (mode 0600) in ``key_dir``; the newest is current."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = Path(key_dir)

    def describe(self) -> str:
        return f"local key files in {self.key_dir}"

    def key_ids(self) -> list[str]:
        """Every KEK on disk, oldest first."""
        if not self.key_dir.exists():
            return []
        return sorted(p.stem.removeprefix("kek-") for p in self.key_dir.glob("kek-*.key"))

    def current_key_id(self) -> str:
        keys = self.key_ids()
        return keys[-1] if keys else self.create_key()

    def create_key(self) -> str:
        """Write a new KEK file; it becomes current only once it is complete and synced
        (OSError if it could not be written: the previous key stays current)."""
        self.key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.key_dir, 0o700)
        while True:
            # Number after the highest one left (retired files leave gaps): newest sorts last.
            numbers = [int(m.group(1)) for k in self.key_ids()
                       if (m := re.match(r"(\d+)-", k))]
            key_id = f"{max(numbers, default=0) + 1:04d}-{secrets.token_hex(4)}"
            if create_key_file(self._path(key_id), secrets.token_bytes(KEK_BYTES)):
                return key_id

    def rotate(self) -> str:
        return self.create_key()

    def _path(self, key_id: str) -> Path:
        return self.key_dir / f"kek-{key_id}.key"

    def _kek(self, key_id: str) -> bytes:
        path = self._path(key_id)
        if not path.exists():
            raise MissingKeyError(
                f"key-encryption key {key_id} is missing: expected {path}. Restore that file "
                f"(mode 0600) from the backup of {self.key_dir}; credentials wrapped under it "
                "cannot be opened until then (or re-link them)")
        kek = path.read_bytes()
        if len(kek) != KEK_BYTES:
            raise VaultError(
                f"key-encryption key file {path} holds {len(kek)} bytes, not {KEK_BYTES}: it "
                "was not written completely. If `finlake keys status` shows no credential "
                "under it, delete it; otherwise restore it from the backup of "
                f"{self.key_dir}")
        return kek

    @staticmethod
    def _aad(key_id: str, context: Mapping[str, str]) -> bytes:
        return json.dumps({"key_id": key_id, **context}, sort_keys=True).encode()

    def wrap(self, key_id: str, data_key: bytes, context: Mapping[str, str]) -> str:
        return _V2 + _seal(self._kek(key_id), data_key, self._aad(key_id, context))

    def unwrap(self, key_id: str, wrapped: str, context: Mapping[str, str]) -> bytes:
        kek = self._kek(key_id)
        if wrapped.startswith(_V2):
            return _open(kek, wrapped.removeprefix(_V2), self._aad(key_id, context))
        return _open(kek, wrapped, key_id.encode())  # written before encryption contexts

    def rewrap(self, old_key_id: str, wrapped: str, context: Mapping[str, str]
               ) -> tuple[str, str]:
        new_key_id = self.current_key_id()
        return new_key_id, self.wrap(new_key_id, self.unwrap(old_key_id, wrapped, context),
                                     context)

    def retire(self, key_id: str) -> bool:
        """Destroy a KEK file (never the current one); True if one was destroyed."""
        if key_id == self.current_key_id():
            raise VaultError(f"key-encryption key {key_id} is the current one; not retired")
        return destroy_key_file(self._path(key_id))


def _alias_name(key_ref: str) -> str | None:
    """``alias/name`` if ``key_ref`` names an alias (bare or as an ARN), else None."""
    if key_ref.startswith("alias/"):
        return key_ref
    if key_ref.startswith("arn:") and ":alias/" in key_ref:
        return key_ref.split(":", 5)[5]
    return None


class KmsKeyProvider:
    """The KEK is a KMS key (``key_ref``: key id, ARN or alias); data keys are wrapped by
    ``kms:Encrypt`` with the credential's id as encryption context, and re-wrapped by
    ``kms:ReEncrypt`` so that rotation never sees them in plaintext. Rows store the key's
    ARN as KMS reports it."""

    def __init__(self, key_ref: str, endpoint_url: str | None = None,
                 client: Any = None) -> None:
        self.key_ref = key_ref
        self.endpoint_url = endpoint_url
        self._client = client
        self._current: str | None = None

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"KMS key {self.key_ref}{where}"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            region = self.key_ref.split(":")[3] if self.key_ref.startswith("arn:") else None
            self._client = boto3.client("kms", endpoint_url=self.endpoint_url,
                                        region_name=region or None)
        return self._client

    def _call(self, what: str, fn: Any, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "")
            if code == "InvalidCiphertextException":
                raise VaultError(f"KMS could not {what}: the wrapped key was altered or belongs "
                                 "to another credential") from None
            if code in ("NotFoundException", "DisabledException",
                        "KMSInvalidStateException"):
                raise MissingKeyError(f"KMS could not {what}: {code}: {err.get('Message', '')} "
                                      f"(check FINLAKE_KMS_KEY_ID={self.key_ref})") from None
            raise VaultError(f"KMS could not {what}: {code}: {err.get('Message', '')}") from exc
        except BotoCoreError as exc:
            raise VaultError(f"KMS could not {what}: {exc}") from exc

    def current_key_id(self) -> str:
        """The ARN of the key ``key_ref`` resolves to now (an alias may have moved)."""
        if self._current is None:
            meta = self._call("describe the key", self.client.describe_key,
                              KeyId=self.key_ref)["KeyMetadata"]
            self._current = meta["Arn"]
        return self._current

    def key_ids(self) -> list[str]:
        return [self.current_key_id()]

    def wrap(self, key_id: str, data_key: bytes, context: Mapping[str, str]) -> str:
        out = self._call("wrap a data key", self.client.encrypt, KeyId=key_id,
                         Plaintext=data_key, EncryptionContext=dict(context))
        return _b64(out["CiphertextBlob"])

    def unwrap(self, key_id: str, wrapped: str, context: Mapping[str, str]) -> bytes:
        out = self._call("unwrap a data key", self.client.decrypt, KeyId=key_id,
                         CiphertextBlob=base64.b64decode(wrapped),
                         EncryptionContext=dict(context))
        return out["Plaintext"]

    def rewrap(self, old_key_id: str, wrapped: str, context: Mapping[str, str]
               ) -> tuple[str, str]:
        out = self._call("re-encrypt a data key", self.client.re_encrypt,
                         CiphertextBlob=base64.b64decode(wrapped), SourceKeyId=old_key_id,
                         SourceEncryptionContext=dict(context),
                         DestinationKeyId=self.current_key_id(),
                         DestinationEncryptionContext=dict(context))
        return out["KeyId"], _b64(out["CiphertextBlob"])

    def rotate(self) -> str:
        """Create a new KMS key and point the configured alias at it; returns its ARN."""
        alias = _alias_name(self.key_ref)
        if alias is None:
            raise VaultError(
                f"FINLAKE_KMS_KEY_ID={self.key_ref} names a key, not an alias, so a new key "
                "could not become current: set FINLAKE_KMS_KEY_ID to an alias (alias/...), or "
                "create the new key yourself, set FINLAKE_KMS_KEY_ID to it and run "
                "`finlake keys rotate` without --new-key")
        meta = self._call("create a key", self.client.create_key,
                          Description="finlake credential key-encryption key",
                          KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
        self._call("move the alias", self.client.update_alias, AliasName=alias,
                   TargetKeyId=meta["KeyId"])
        self._current = None
        return self.current_key_id()

    def retire(self, key_id: str) -> bool:
        """KMS keys are disabled or scheduled for deletion in KMS itself, not here."""
        return False


class KeyConfig(Protocol):
    """What :func:`key_provider` reads: :class:`core.settings.Settings` has it."""

    @property
    def key_dir(self) -> Path | str: ...

    @property
    def kms_key_id(self) -> str | None: ...

    @property
    def kms_endpoint(self) -> str | None: ...


def key_provider(settings: KeyConfig) -> KeyProvider:
    """The configured provider: KMS when ``kms_key_id`` is set, else local key files."""
    if settings.kms_key_id:
        return KmsKeyProvider(settings.kms_key_id, endpoint_url=settings.kms_endpoint)
    return LocalKeyProvider(Path(settings.key_dir))


def _context(credentials_id: str) -> dict[str, str]:
    return {"credentials_id": credentials_id}


class Vault:
    """Seal and open partner tokens with per-credential data keys."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider

    def seal(self, credentials_id: str, token: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        key_id = self.provider.current_key_id()
        return Sealed(
            encrypted_token=_seal(data_key, token.encode(), credentials_id.encode()),
            wrapped_key=self.provider.wrap(key_id, data_key, _context(credentials_id)),
            key_id=key_id,
        )

    def open(self, credentials_id: str, sealed: Sealed) -> str:
        try:
            data_key = self.provider.unwrap(sealed.key_id, sealed.wrapped_key,
                                            _context(credentials_id))
            return _open(data_key, sealed.encrypted_token, credentials_id.encode()).decode()
        except (InvalidTag, ValueError) as exc:  # ValueError: not base64 / bad key length
            raise VaultError(f"credential {credentials_id} cannot be opened: its wrapped key "
                             "or token was altered, or belongs to another credential") from exc

    def rewrap(self, credentials_id: str, sealed: Sealed) -> Sealed:
        """The same sealed token with its data key wrapped under the current KEK."""
        try:
            key_id, wrapped = self.provider.rewrap(sealed.key_id, sealed.wrapped_key,
                                                   _context(credentials_id))
        except (InvalidTag, ValueError) as exc:
            raise VaultError(f"credential {credentials_id} cannot be re-wrapped: its wrapped "
                             "key was altered, or belongs to another credential") from exc
        return replace(sealed, wrapped_key=wrapped, key_id=key_id)

    def reseal(self, credentials_id: str, sealed: Sealed) -> Sealed:
        """The same token sealed anew: a fresh data key, wrapped under the current KEK.
        Checked to open before it is returned."""
        token = self.open(credentials_id, sealed)
        fresh = self.seal(credentials_id, token)
        if self.open(credentials_id, fresh) != token:  # never hand back what cannot open
            raise VaultError(f"credential {credentials_id} did not open after re-encryption")
        return fresh
