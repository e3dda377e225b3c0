"""Evaluating category predictions: metrics, labelled CSV files and a group hold-out split."""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from _csv import Reader

CSV_HEADER = ("description", "amount", "category")
OPTIONAL_COLUMNS = ("merchant",)  # the group a split by merchant keeps together
# The label of a line that names no merchant and no purpose ("POS DEBIT 12345"): the right
# answer is no category.
UNCATEGORISED = "UNCATEGORISED"


def _primary(code: str) -> str:
    from pipelines.categories.reference import primary_of

    return primary_of(code)


def evaluate(y_true: Sequence[str], y_pred: Sequence[str | None]) -> dict[str, Any]:
    """Accuracy over all labelled rows (no prediction counts as wrong), coverage (share
    predicted), accuracy on covered rows, primary-level accuracy, macro-F1 over the true
    classes present, per-category precision/recall/f1/support and the top-20
    ``(true, predicted, count)`` mistakes.

    Rows labelled :data:`UNCATEGORISED` are scored apart: ``abstention`` is the share of them
    left without a category (``None`` when there are none); they are not in the other figures.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    generic = [p for t, p in zip(y_true, y_pred, strict=True) if t == UNCATEGORISED]
    pairs = [(t, p) for t, p in zip(y_true, y_pred, strict=True) if t != UNCATEGORISED]
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    out = _scores(y_true, y_pred)
    out["primary_accuracy"] = (sum(p is not None and _primary(p) == _primary(t)
                                   for t, p in pairs) / len(pairs)) if pairs else 0.0
    out["should_abstain"] = len(generic)
    out["abstention"] = (sum(p is None for p in generic) / len(generic)) if generic else None
    return out


def _scores(y_true: Sequence[str], y_pred: Sequence[str | None]) -> dict[str, Any]:
    n = len(y_true)
    covered = [(t, p) for t, p in zip(y_true, y_pred, strict=True) if p is not None]
    correct = sum(t == p for t, p in covered)
    support = Counter(y_true)
    predicted = Counter(p for _, p in covered)
    hits = Counter(t for t, p in covered if t == p)
    per: dict[str, dict[str, float]] = {}
    for c in sorted(set(support) | set(predicted)):
        prec = hits[c] / predicted[c] if predicted[c] else 0.0
        rec = hits[c] / support[c] if support[c] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[c] = {"precision": prec, "recall": rec, "f1": f1, "support": support[c]}
    mistakes = Counter((t, p) for t, p in covered if t != p)
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "coverage": len(covered) / n if n else 0.0,
        "accuracy_on_covered": correct / len(covered) if covered else 0.0,
        "macro_f1": (sum(per[c]["f1"] for c in support) / len(support)) if support else 0.0,
        "per_category": per,
        "confusion": [(t, p, k) for (t, p), k in
                      sorted(mistakes.items(), key=lambda kv: (-kv[1], kv[0]))[:20]],
    }


def read_labelled_csv(path: str | Path) -> pd.DataFrame:
    """Read ``description,amount,category`` rows (optionally a fourth column ``merchant``,
    the group a split keeps together); ValueError naming the file line of the first bad row
    (missing field, non-numeric amount, category neither a PFC v2 detailed code nor
    :data:`UNCATEGORISED`). The frame has the file's columns."""
    from pipelines.categories.reference import categories

    valid = {c["category"] for c in categories()} | {UNCATEGORISED}
    path = Path(path)
    if not path.is_file():  # a device such as /dev/zero has no line end to stop at
        raise ValueError(f"{path}: not a file")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header, rows = _labelled_rows(path, reader, valid)
        except csv.Error as exc:  # a field over csv's limit (128 KB), a NUL byte...
            raise ValueError(f"{path}: line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:  # decoded in blocks, ahead of the lines: no line number
            raise ValueError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    return pd.DataFrame(rows, columns=header).astype({"amount": "float64"})


def _labelled_rows(path: Path, reader: Reader, valid: set[str]
                   ) -> tuple[list[str], list[tuple[Any, ...]]]:
    rows: list[tuple[Any, ...]] = []
    header = next(reader, None)
    got = tuple(h.strip() for h in header or [])
    if got not in (CSV_HEADER, CSV_HEADER + OPTIONAL_COLUMNS):
        raise ValueError(f"{path}: line 1: header must be {','.join(CSV_HEADER)} (optionally "
                         f"followed by ,{','.join(OPTIONAL_COLUMNS)}), "
                         f"got {','.join(header or [])!r}")
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(got):
            raise ValueError(f"{path}: line {line}: expected {len(got)} fields, "
                             f"got {len(fields)}")
        desc, amount_text, cat, *extra = (f.strip() for f in fields)
        for name, value in (("description", desc), ("amount", amount_text),
                            ("category", cat)):
            if not value:
                raise ValueError(f"{path}: line {line}: missing {name}")
        try:
            amount = float(amount_text)
        except ValueError:
            amount = math.nan
        if not math.isfinite(amount):
            raise ValueError(f"{path}: line {line}: amount {amount_text!r} is not a number")
        if cat not in valid:
            raise ValueError(f"{path}: line {line}: unknown category {cat!r} "
                             f"(expected a PFC v2 detailed code or {UNCATEGORISED})")
        rows.append((desc, amount, cat, *extra))
    return list(got), rows


def split_holdout(df: pd.DataFrame, key_col: str, frac: float = 0.2, seed: int = 7
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, held-out) split BY ``key_col``: every key lands wholly on one side. Keys are
    ordered by a seeded hash and the first ``round(frac * keys)`` held out (at least one when
    there are two or more keys), so the split is deterministic and independent of row order."""
    if not 0 < frac < 1:
        raise ValueError(f"frac must be in (0, 1), got {frac}")
    keys = pd.unique(df[key_col].astype(str))

    def rank(k: str) -> bytes:
        return hashlib.blake2b(f"{seed}\x00{k}".encode(), digest_size=8).digest()

    ordered = sorted(keys, key=lambda k: (rank(k), k))
    n_test = round(frac * len(ordered))
    if len(ordered) >= 2:
        n_test = min(max(n_test, 1), len(ordered) - 1)
    held = set(ordered[:n_test])
    mask = df[key_col].astype(str).isin(held)
    return df[~mask], df[mask]
