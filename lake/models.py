"""Versioned category-model artifacts in the lake: ``models/category/<version>/``.

Each version holds ``model.json`` (the artifact, written once: the version is the digest of
its content), ``report.json`` (its latest evaluation) and ``reports/<trained_at>.json`` (every
evaluation, written once). Training on unchanged data gives the same version again, so a
version can be evaluated more than once (a later ``weekly`` against another published
model). ``models/category/CURRENT`` names the published version.
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


# Artifacts are written once under a version that is the digest of their content: the last
# ones this process read or wrote are kept (by version) and not decoded or encoded again.
# Callers treat the artifact as read-only.
_DECODED: dict[str, dict[str, Any]] = {}
_ENCODED: dict[str, bytes] = {}


def _keep(cache: dict, version: str, value: Any) -> None:
    while len(cache) >= 2:
        cache.pop(next(iter(cache)))
    cache[version] = value


def current_model(store: ObjectStore) -> dict[str, Any] | None:
    version = current_version(store)
    if not version:
        return None
    model = _DECODED.get(version)
    if model is None or model.get("version") != version:
        model = load(store, version)
        if model.get("version") == version:
            _keep(_DECODED, version, model)
    return model


def save(store: ObjectStore, version: str, model: dict[str, Any], report: dict[str, Any]
         ) -> None:
    encoded = _ENCODED.get(version)
    if encoded is None:
        encoded = json.dumps(model, sort_keys=True).encode()
        if model.get("version") == version:
            _keep(_ENCODED, version, encoded)
    # The same version trained again (in a later process) differs only in ``trained_at``: the
    # artifact first stored stays, as its version says nothing else changed.
    if not store.exists(f"{PREFIX}/{version}/model.json"):
        store.put_once(f"{PREFIX}/{version}/model.json", encoded)
    body = json.dumps(report, sort_keys=True, indent=1, default=str).encode()
    stamp = str(report.get("trained_at", "")).replace(":", "").replace("+", "_")
    if stamp:
        store.put_once(f"{PREFIX}/{version}/reports/{stamp}.json", body)
    store.put(f"{PREFIX}/{version}/report.json", body)


def publish(store: ObjectStore, version: str) -> None:
    store.put(f"{PREFIX}/CURRENT", version.encode())
