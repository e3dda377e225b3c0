"""The object store's two backends behave the same: write-once raw, mutable state."""

from __future__ import annotations

import uuid

import boto3
import pytest

from lake import raw
from lake.objectstore import (
    ImmutableObjectError,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    S3ObjectStore,
    open_store,
)
from tests.support.raw_builder import land, page, txn


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    endpoint = request.getfixturevalue("moto_s3")
    bucket = f"finlake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return S3ObjectStore(bucket, "lake", endpoint_url=endpoint)


def test_put_once_is_write_once(store: ObjectStore) -> None:
    assert store.put_once("raw/a/page-1.json", b"one") is True
    assert store.put_once("raw/a/page-1.json", b"one") is False  # identical replay: no-op
    with pytest.raises(ImmutableObjectError, match="immutable"):
        store.put_once("raw/a/page-1.json", b"two")
    assert store.get("raw/a/page-1.json") == b"one"


def test_list_get_delete(store: ObjectStore) -> None:
    for key in ("raw/x/1.json", "raw/x/2.json", "raw/y/1.json", "state/s.json"):
        store.put(key, key.encode())
    assert store.list("raw/x/") == ["raw/x/1.json", "raw/x/2.json"]
    assert store.list("raw/") == ["raw/x/1.json", "raw/x/2.json", "raw/y/1.json"]
    assert store.exists("state/s.json")
    store.delete("state/s.json")
    assert not store.exists("state/s.json")
    with pytest.raises(ObjectNotFound):
        store.get("state/s.json")


def test_keys_cannot_escape_the_root(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        store.put("../outside", b"x")


def test_only_complete_updates_are_visible(store: ObjectStore) -> None:
    body = page(added=[txn("t1", 5.0, "2026-01-02")])
    land(store, "2026-01-02", 1, [body], attempt="A1", complete=False)  # crashed attempt
    assert raw.complete_pages(store, raw_date("2026-01-02")) == []
    keys = land(store, "2026-01-02", 1, [body], attempt="A2")
    assert raw.complete_pages(store, raw_date("2026-01-02")) == keys


def test_cursor_state_round_trip(store: ObjectStore) -> None:
    assert raw.load_cursor(store, "item_a") == (None, 0)
    raw.save_cursor(store, "item_a", "cursor-1", 3)
    assert raw.load_cursor(store, "item_a") == ("cursor-1", 3)


def test_open_store_picks_backend(tmp_path, moto_s3) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalObjectStore)
    s3 = open_store("s3://bucket/prefix", moto_s3)
    assert isinstance(s3, S3ObjectStore)
    assert s3.uri("tables/x") == "s3://bucket/prefix/tables/x"


def raw_date(text: str):
    from datetime import date

    return date.fromisoformat(text)
