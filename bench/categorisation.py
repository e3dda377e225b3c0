"""Categorisation quality on the statement corpus, in plain Python (no Spark).

``python -m bench.categorisation [--part dev|test] [--threshold T] [--mistakes N]``

Trains the reference model (knowledge base + trade words: what a new lake publishes), runs
the layers of :class:`pipelines.categories.local.LocalCategoriser` over the part's lines and
prints accuracy, coverage, primary-level accuracy, abstention on lines that should stay
uncategorised, and where the answers came from. ``--mistakes`` lists wrong lines: only for
the dev part, so that nothing is tuned to the test part. The official figure is ``finlake
categorise-eval bench/statements/test.csv`` (the engine itself); a test holds the two equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).parent / "statements"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("dev", "test"), default="dev")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--mistakes", type=int, default=0, help="list N wrong dev lines")
    ap.add_argument("--no-model", action="store_true", help="rules and patterns only")
    ap.add_argument("--calibration", action="store_true",
                    help="also: the model's answers at threshold 0, right share per confidence")
    args = ap.parse_args(argv)
    if args.mistakes and args.part == "test":
        ap.error("--mistakes lists dev lines only: the test part is for reporting")

    from pipelines.categories.categorise import DEFAULT_THRESHOLD
    from pipelines.categories.evaluation import UNCATEGORISED, evaluate, read_labelled_csv
    from pipelines.categories.local import LocalCategoriser
    from pipelines.categories.training import fit_model

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    from pipelines.categories.reference import CHECK_SET

    df = read_labelled_csv(CHECK_SET if args.part == "dev" else HERE / "test.csv")
    t = time.perf_counter()
    model = None if args.no_model else fit_model()
    train_s = time.perf_counter() - t
    cat = LocalCategoriser.seeded(model, threshold)
    t = time.perf_counter()
    out = cat.decide(df["description"].tolist(), None, df["amount"].tolist())
    run_s = time.perf_counter() - t
    m = evaluate(df["category"].tolist(), [d.category for d in out])
    summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()
               if k in ("n", "accuracy", "coverage", "accuracy_on_covered",
                        "primary_accuracy", "abstention", "should_abstain", "macro_f1")}
    summary.update(part=args.part, threshold=threshold,
                   by_source=dict(Counter(d.source for d in out)),
                   model_kib=round(len(json.dumps(model)) / 1024) if model else None,
                   train_s=round(train_s, 2), lines_per_s=round(len(df) / run_s))
    print(json.dumps(summary))
    if args.calibration and model is not None:
        print(json.dumps(calibration(df, model)))
    if args.mistakes:
        def is_wrong(label: str, got: str | None) -> bool:
            return got is not None if label == UNCATEGORISED else got != label

        wrong = [(r.category, d.category, d.source, d.merchant_key, r.description)
                 for r, d in zip(df.itertuples(), out, strict=True)
                 if is_wrong(r.category, d.category)]
        for w in wrong[:args.mistakes]:
            print(" | ".join(str(x) for x in w))
        print(f"{len(wrong)} wrong")
    return 0


def calibration(df, model: dict) -> dict[str, str]:  # noqa: ANN001
    """Confidence band -> "right of answered" for the model's answers at threshold 0 on
    lines no rule decided (labelled lines only)."""
    from pipelines.categories.evaluation import UNCATEGORISED
    from pipelines.categories.local import LocalCategoriser

    out = LocalCategoriser.seeded(model, 0.0).decide(
        df["description"].tolist(), None, df["amount"].tolist())
    bands: dict[str, list[int]] = {}
    for d, label in zip(out, df["category"], strict=True):
        if d.source == "model" and label != UNCATEGORISED and d.confidence is not None:
            lo = min(int(d.confidence * 5), 4) / 5
            band = bands.setdefault(f"{lo:.1f}-{lo + 0.2:.1f}", [0, 0])
            band[0] += 1
            band[1] += d.category == label
    return {k: f"{r} of {n}" for k, (n, r) in sorted(bands.items())}


if __name__ == "__main__":
    sys.exit(main())
