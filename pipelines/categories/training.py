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


def train_and_publish(pairs: pd.DataFrame, store: ObjectStore, *, threshold: float,
                      k: int, seed: int = 7) -> dict[str, Any]:
    """Fit on a split of the pairs, compare with the published model on the held-out keys,
    publish only if not worse. Returns the report (also stored beside the artifact)."""
    from pipelines.categories.evaluation import split_holdout
    from pipelines.categories.model import CategoryModel

    train, holdout = split_holdout(pairs, "merchant_key", frac=0.2, seed=seed)
    # One row per key in the held-out set: its majority category.
    holdout = holdout.sort_values("users", ascending=False).drop_duplicates("merchant_key")
    candidate = CategoryModel.fit(train, k_min=k)
    artifact = candidate.to_json()
    current_version = models.current_version(store)
    new = score(artifact, holdout, threshold)
    old = score(models.current_model(store), holdout, threshold) if current_version else None
    publish = old is None or new["accuracy"] >= old["accuracy"]
    report = {
        "version": candidate.version, "trained_at": datetime.now(UTC).isoformat(),
        "k": k, "threshold": threshold, "train_pairs": len(train),
        "holdout_keys": len(holdout), "candidate": new, "current_version": current_version,
        "current": old, "published": publish,
    }
    models.save(store, candidate.version, artifact, report)
    if publish:
        models.publish(store, candidate.version)
    return report
