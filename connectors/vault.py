"""Envelope encryption of partner access tokens.

Each token gets a fresh 256-bit data key (AES-GCM); the data key is wrapped by a
key-encryption key (KEK) from a key provider. The embedded provider keeps KEKs in files
with mode 0600 in a directory outside the lake. Plaintext tokens exist only in memory.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


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


class LocalKeyProvider:
    """KEKs as files ``kek-<id>.key`` (mode 0600) in ``key_dir``; the newest is current."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir

    def current_key_id(self) -> str:
        keys = sorted(self.key_dir.glob("kek-*.key")) if self.key_dir.exists() else []
        if not keys:
            return self.create_key()
        return keys[-1].stem.removeprefix("kek-")

    def create_key(self) -> str:
        self.key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.key_dir, 0o700)
        existing = len(list(self.key_dir.glob("kek-*.key")))
        key_id = f"{existing + 1:04d}-{secrets.token_hex(4)}"
        path = self.key_dir / f"kek-{key_id}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        return key_id

    def _kek(self, key_id: str) -> bytes:
        path = self.key_dir / f"kek-{key_id}.key"
        if not path.exists():
            raise KeyError(f"key-encryption key {key_id} is missing from {self.key_dir}")
        return path.read_bytes()

    def wrap(self, key_id: str, data_key: bytes) -> str:
        return _seal(self._kek(key_id), data_key, key_id.encode())

    def unwrap(self, key_id: str, wrapped: str) -> bytes:
        return _open(self._kek(key_id), wrapped, key_id.encode())


class Vault:
    """Seal and open partner tokens with per-credential data keys."""

    def __init__(self, provider: LocalKeyProvider) -> None:
        self.provider = provider

    def seal(self, credentials_id: str, token: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        key_id = self.provider.current_key_id()
        return Sealed(
            encrypted_token=_seal(data_key, token.encode(), credentials_id.encode()),
            wrapped_key=self.provider.wrap(key_id, data_key),
            key_id=key_id,
        )

    def open(self, credentials_id: str, sealed: Sealed) -> str:
        data_key = self.provider.unwrap(sealed.key_id, sealed.wrapped_key)
        return _open(data_key, sealed.encrypted_token, credentials_id.encode()).decode()
