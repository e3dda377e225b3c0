"""Train, evaluate and (maybe) publish the category model; pure apart from the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from lake import models
from lake.objectstore import ObjectStore


def score(model_json: dict[str, Any] | None, holdout: pd.DataFrame, threshold: float
          ) -> dict[str, Any]:
    """Metrics of a model on held-out pairs (each key weighted once)."""
    from pipelines.categories.evaluation import evaluate
    from pipelines.categories.model import CategoryModel

    if model_json is None or holdout.empty:
        return evaluate(list(holdout["category"]), [None] * len(holdout))
    model = CategoryModel.from_json(model_json)
    preds = [c if conf >= threshold else None
             for c, conf in model.predict(list(holdout["merchant_key"]))]
    return evaluate(list(holdout["category"]), preds)


KB_USERS = 5  # the weight of one knowledge-base spelling, as if that many people agreed
CUE_USERS = 3  # of one trade word


MIN_CHECK_ACCURACY = 0.5  # a model below this on the check set is never published


def reference_pairs() -> pd.DataFrame:
    """Training pairs from reference data only: every seed-rule key (curated seed and the
    merchant knowledge base) and every trade word, as (merchant_key, category, users)."""
    from pipelines.categories.reference import keyword_cues, merchant_rules

    rows = {(str(r["merchant_key"]), str(r["category"])): KB_USERS for r in merchant_rules()}
    for word, cat in keyword_cues().items():
        rows.setdefault((word, cat), CUE_USERS)
    return pd.DataFrame([(k, c, u) for (k, c), u in sorted(rows.items())],
                        columns=["merchant_key", "category", "users"]).astype({"users": "int64"})


def fit_model(crowd: pd.DataFrame | None = None, k: int = 1) -> dict[str, Any]:
    """A model artifact trained on the reference pairs plus the ``crowd`` pairs with at
    least ``k`` users (k-anonymous, from :func:`pipelines.categories.crowd.training_pairs`;
    a key in both counts its users added), with the trade-word cues."""
    from pipelines.categories.model import CategoryModel
    from pipelines.categories.reference import keyword_cues

    pairs = reference_pairs()
    if crowd is not None and not crowd.empty:
        crowd = crowd[crowd["users"] >= max(k, 1)][list(pairs.columns)]
        pairs = (pd.concat([pairs, crowd])
                 .groupby(["merchant_key", "category"], as_index=False)["users"].sum())
    return CategoryModel.fit(pairs, k_min=1, cues=keyword_cues()).to_json()


def _reference_digest() -> str:
    """What the reference model is made of: reference data and the code that reads it."""
    import hashlib
    from pathlib import Path

    from pipelines.categories import merchants, model
    from pipelines.categories.reference import REFERENCE_DIR

    h = hashlib.sha256()
    files = sorted(REFERENCE_DIR.rglob("*.csv")) + sorted(REFERENCE_DIR.rglob("*.txt"))
    for path in [*files, Path(merchants.__file__), Path(model.__file__), Path(__file__)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


_MEMO: dict[str, Any] = {}


def _cached(name: str, compute: Any) -> Any:
    """``compute()``, kept as JSON in the user's cache directory under ``name`` (which must
    name everything the value depends on); recomputed when the file is missing or bad. Kept
    in the process too: callers treat the value as read-only."""
    import json
    import os
    import tempfile
    from pathlib import Path

    if name in _MEMO:
        return _MEMO[name]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "finlake" / f"{name}.json"
    try:
        _MEMO[name] = json.loads(path.read_text())
        return _MEMO[name]
    except (OSError, ValueError):
        pass
    value = _MEMO[name] = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(value, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # no cache: computed again next time
    return value


def reference_model() -> dict[str, Any]:
    """:func:`fit_model` on reference data only: what a new lake publishes. Deterministic, so
    cached by the digest of its inputs (training takes ~10 s)."""
    return _cached(f"reference-model-{_reference_digest()}", fit_model)


def check_report(model_json: dict[str, Any] | None, threshold: float) -> dict[str, Any]:
    """The categorisation layers (seed rules, patterns, this model) on the check set: the
    dev part of the statement corpus shipped as reference data (the test part is not)."""
    from pipelines.categories.evaluation import evaluate, read_labelled_csv
    from pipelines.categories.local import LocalCategoriser
    from pipelines.categories.reference import CHECK_SET

    df = read_labelled_csv(CHECK_SET)
    out = LocalCategoriser.seeded(model_json, threshold).decide(
        df["description"].tolist(), None, df["amount"].tolist())
    m = evaluate(df["category"].tolist(), [d.category for d in out])
    keep = ("n", "accuracy", "coverage", "accuracy_on_covered", "primary_accuracy",
            "abstention", "should_abstain", "macro_f1")
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items() if k in keep}


def ensure_model(store: ObjectStore, threshold: float) -> str | None:
    """Publish the reference model when the lake has none (a new lake categorises with it
    from its first night); the version published, or None when one already was."""
    if models.current_version(store) is not None:
        return None
    art = reference_model()
    check = _cached(f"reference-check-{_reference_digest()}-{threshold}",
                    lambda: check_report(art, threshold))
    publish = check["accuracy"] >= MIN_CHECK_ACCURACY
    report = {"version": art["version"], "trained_at": datetime.now(UTC).isoformat(),
              "kind": "reference", "threshold": threshold, "check": check,
              "stats": art.get("stats"), "published": publish}
    models.save(store, art["version"], art, report)
    if publish:
        models.publish(store, art["version"])
    return art["version"] if publish else None


def train_and_publish(pairs: pd.DataFrame, store: ObjectStore, *, threshold: float,
                      k: int, seed: int = 7) -> dict[str, Any]:
    """Fit on a split of the pairs, compare with the published model on the held-out keys,
    publish only if not worse. Returns the report (also stored beside the artifact)."""
    from pipelines.categories.evaluation import split_holdout

    train, holdout = split_holdout(pairs, "merchant_key", frac=0.2, seed=seed)
    # One row per key in the held-out set: its majority category.
    holdout = holdout.sort_values("users", ascending=False).drop_duplicates("merchant_key")
    artifact = fit_model(train, k)
    version = artifact["version"]
    current_version = models.current_version(store)
    current = models.current_model(store) if current_version else None
    new = score(artifact, holdout, threshold)
    new_check = check_report(artifact, threshold)
    old = score(current, holdout, threshold) if current_version else None
    old_check = check_report(current, threshold) if current_version else None
    # Never a model that does badly on the check set; else not worse than the published one
    # on the held-out merchants nor (beyond noise) on the check set.
    publish = new_check["accuracy"] >= MIN_CHECK_ACCURACY and (
        old is None or old_check is None
        or (new["accuracy"] >= old["accuracy"]
            and new_check["accuracy"] >= old_check["accuracy"] - 0.005))
    report = {
        "version": version, "trained_at": datetime.now(UTC).isoformat(),
        "kind": "crowd", "k": k, "threshold": threshold, "train_pairs": len(train),
        "holdout_keys": len(holdout), "candidate": new, "check": new_check,
        "current_version": current_version, "current": old, "current_check": old_check,
        "published": publish,
    }
    models.save(store, version, artifact, report)
    if publish:
        models.publish(store, version)
    return report
