"""Secret key files: created whole or not at all, and destroyed on purpose.

A key file is written to a hidden temporary file in the same directory (mode 0600), synced,
then linked under its final name, and the directory is synced. ``os.link`` fails if the name
exists, so a file another process made first is never replaced. A failure at any step (a
full disk, an I/O error) removes what was written and leaves no file under the final name,
so readers only ever see a complete key. A process killed mid-write leaves at most a hidden
``.<name>.tmp-*`` file, which no reader takes for a key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from core.crashpoints import crash_point


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def create_key_file(path: Path, data: bytes) -> bool:
    """Create ``path`` (mode 0600) holding exactly ``data``; False if it exists already.
    Raises OSError if it could not be written, with no file left under ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    linked = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        crash_point("keys.key_file_written")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        linked = True
        tmp.unlink()
        _fsync_dir(path.parent)
    except BaseException:
        if linked:  # not known to be durable: the previous key stays the current one
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return True


def destroy_key_file(path: Path) -> bool:
    """Overwrite a key file with random bytes, then delete it; True if there was one.
    (Overwriting helps on simple file systems; copy-on-write ones and backups keep copies.)"""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        _write_all(fd, secrets.token_bytes(max(os.fstat(fd).st_size, 1)))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    _fsync_dir(path.parent)
    return True
