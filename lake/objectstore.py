"""Object storage behind one interface: a local directory (default) or S3 through boto3.

Raw partner pages are written once (``put_once``): writing the same key again with the same
bytes is a no-op, with different bytes an :class:`ImmutableObjectError`. Mutable state
(sync cursors) uses ``put``.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any


class ImmutableObjectError(RuntimeError):
    """A write-once object already exists with a different body."""


class ObjectNotFound(KeyError):
    """No object at that key."""


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"invalid object key {key!r}: use a relative path without '..'")
    return key


class ObjectStore(ABC):
    """Keys are relative '/'-separated paths under the store's root."""

    root_uri: str

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def put(self, key: str, body: bytes) -> None: ...

    @abstractmethod
    def _create_exclusive(self, key: str, body: bytes) -> bool:
        """Create the object only if absent; True if created."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    def prune(self, prefix: str) -> int:
        """Remove the directories under ``prefix`` that deletes left empty (their names can
        hold ids); returns how many. Object stores have no directories: nothing to do."""
        return 0

    def exists(self, key: str) -> bool:
        try:
            self.get(key)
        except ObjectNotFound:
            return False
        return True

    def put_once(self, key: str, body: bytes) -> bool:
        """Write-once: True if written now, False if the identical body was already there."""
        _check_key(key)
        if self._create_exclusive(key, body):
            return True
        if self.get(key) != body:
            raise ImmutableObjectError(
                f"raw object {key} already exists with a different body; raw objects are "
                "immutable, write the new data under a new key"
            )
        return False

    def uri(self, key: str) -> str:
        """Location of a key for engines that read the store directly (Spark, delta-rs)."""
        return f"{self.root_uri.rstrip('/')}/{_check_key(key)}"


class LocalObjectStore(ObjectStore):
    """A directory on the local file system."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root_uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def _write_tmp(self, path: Path, body: bytes) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        os.replace(self._write_tmp(path, body), path)

    def _create_exclusive(self, key: str, body: bytes) -> bool:
        path = self._path(key)
        tmp = self._write_tmp(path, body)
        try:
            os.link(tmp, path)  # atomic, fails if the target exists
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        start = base if base.is_dir() else base.parent
        if not start.exists():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def prune(self, prefix: str) -> int:
        base = self._path(prefix.rstrip("/"))
        removed = 0
        for dirpath, _dirs, _files in os.walk(base, topdown=False):
            if Path(dirpath) == base:
                continue
            try:
                os.rmdir(dirpath)  # only when empty (its children went first)
                removed += 1
            except OSError:
                pass
        return removed


class S3ObjectStore(ObjectStore):
    """An S3 bucket (AWS, MinIO, moto...) under an optional prefix."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)
        self.root_uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise ObjectNotFound(key) from None

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)

    def _create_exclusive(self, key: str, body: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, IfNoneMatch="*"
            )
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise

    def list(self, prefix: str = "") -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        cut = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=full
        ):
            keys.extend(obj["Key"][cut:] for obj in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_store(root: str, endpoint_url: str | None = None) -> ObjectStore:
    """The store for a lake root: ``s3://bucket/prefix`` or a local directory."""
    if root.startswith("s3://"):
        bucket, _, prefix = root[len("s3://"):].partition("/")
        return S3ObjectStore(bucket, prefix, endpoint_url=endpoint_url)
    return LocalObjectStore(root)
