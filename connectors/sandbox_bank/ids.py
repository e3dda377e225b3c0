"""Deterministic, Plaid-looking identifiers and RNGs derived from hashes."""

from __future__ import annotations

import hashlib
import random
import uuid

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def digest(*parts: object) -> bytes:
    """SHA-256 of the parts joined by an unambiguous separator."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def plaid_id(*parts: object, length: int = 37) -> str:
    """A random-looking base62 id like Plaid's item/account/transaction ids."""
    n = int.from_bytes(digest(*parts) + digest("more", *parts), "big")
    chars = []
    for _ in range(length):
        n, r = divmod(n, 62)
        chars.append(_B62[r])
    return "".join(chars)


def uuid4_from(*parts: object) -> str:
    """A version-4-formatted UUID string derived from the parts."""
    return str(uuid.UUID(bytes=digest(*parts)[:16], version=4))


def rng(*parts: object) -> random.Random:
    """An independent RNG seeded from the parts."""
    return random.Random(int.from_bytes(digest(*parts)[:8], "big"))


def short_hash(secret: str) -> str:
    """A short, non-reversible tag for logging a token without revealing it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:10]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
