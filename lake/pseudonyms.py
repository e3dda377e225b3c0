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

from core.key_files import create_key_file

FILE = "pseudonym.key"


def pseudonym_key(key_dir: Path, from_env: str | None = None) -> str:
    if from_env:
        return from_env
    path = key_dir / FILE
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(key_dir, 0o700)
        # Whole or not at all (another process may make it first): never an empty key.
        create_key_file(path, secrets.token_hex(32).encode())
    return path.read_text().strip()
