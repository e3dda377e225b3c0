"""The secret key behind analysts' pseudonyms (lake/analyst_tables.py).

Production passes it as a secret (``FINLAKE_PSEUDONYM_KEY``); the embedded default keeps it
in the key directory beside the key-encryption keys (created on first use, mode 0600, never
in the lake). Whoever holds it can re-identify a pseudonym by hashing candidate ids, so
analysts never get it; changing it gives every person a new, unlinkable pseudonym.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE = "pseudonym.key"


def pseudonym_key(key_dir: Path, from_env: str | None = None) -> str:
    if from_env:
        return from_env
    path = key_dir / FILE
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(key_dir, 0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()
