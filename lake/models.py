"""Versioned category-model artifacts in the lake: ``models/category/<version>/``.

Each version holds ``model.json`` (the artifact) and ``report.json`` (its evaluation),
written once; ``models/category/CURRENT`` names the published version.
"""

from __future__ import annotations

import json
from typing import Any

from lake.objectstore import ObjectNotFound, ObjectStore

PREFIX = "models/category"


def current_version(store: ObjectStore) -> str | None:
    try:
        return store.get(f"{PREFIX}/CURRENT").decode().strip() or None
    except ObjectNotFound:
        return None


def load(store: ObjectStore, version: str, name: str = "model.json") -> dict[str, Any]:
    return json.loads(store.get(f"{PREFIX}/{version}/{name}"))


def current_model(store: ObjectStore) -> dict[str, Any] | None:
    version = current_version(store)
    return load(store, version) if version else None


def save(store: ObjectStore, version: str, model: dict[str, Any], report: dict[str, Any]
         ) -> None:
    store.put_once(f"{PREFIX}/{version}/model.json", json.dumps(model, sort_keys=True).encode())
    store.put_once(f"{PREFIX}/{version}/report.json",
                   json.dumps(report, sort_keys=True, indent=1, default=str).encode())


def publish(store: ObjectStore, version: str) -> None:
    store.put(f"{PREFIX}/CURRENT", version.encode())
