"""A merchant-key -> PFC v2 category model: multinomial Naive Bayes in numpy.

Privacy: the model only ever sees aggregated, de-identified pairs ``(merchant_key, category,
users)`` (how many distinct users had that key in that category); :meth:`CategoryModel.fit`
refuses any other shape, drops pairs seen by fewer than ``k_min`` users and prunes features
seen only once. Nothing per user (ids, amounts) reaches the model or its artifact.

Features of a key: its words, word bigrams and character 3-5-grams of each word with ``<``/``>``
boundary markers. A pair counts with weight ``log1p(users)``; Laplace smoothing. At prediction
the feature counts are scaled to a total mass of ``temperature`` (fitted by 5-fold
cross-validation over the training keys) so the top-class posterior is a usable confidence rather
than the near-certainties plain Naive Bayes gives with correlated n-grams.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

FORMAT = "finlake.category_model/1"
PAIR_COLUMNS = ("merchant_key", "category", "users")
TEMPERATURES = tuple(round(2 ** (i / 2), 3) for i in range(-2, 13))  # 0.5 .. 64
DEFAULT_TEMPERATURE = 4.0  # used when there are too few training keys (< 30) to fit one


def merchant_key_of(description: str | None, merchant_name: str | None = None) -> str:
    """The merchant key of a transaction (``pipelines.categories.merchants.normalise``)."""
    from pipelines.categories.merchants import normalise

    return normalise(description or "", merchant_name).key or ""


def features(key: str, ngram: tuple[int, int] = (3, 5)) -> Counter[str]:
    """Feature counts of a key: ``w:`` words, ``b:`` word bigrams, ``c:`` char n-grams."""
    words = key.lower().split()
    out: Counter[str] = Counter("w:" + w for w in words)
    out.update(f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False))
    lo, hi = ngram
    for w in words:
        padded = f"<{w}>"
        out.update("c:" + padded[i:i + n] for n in range(lo, hi + 1)
                   for i in range(len(padded) - n + 1))
    return out


def make_pairs(df: pd.DataFrame, key_col: str = "merchant_key", category_col: str = "category",
               user_col: str = "user_id") -> pd.DataFrame:
    """Aggregate labelled rows into training pairs: distinct users per (key, category)."""
    d = df[[key_col, category_col, user_col]].dropna()
    d = d[d[key_col].astype(str).str.strip() != ""]
    g = d.groupby([key_col, category_col], sort=True)[user_col].nunique().reset_index()
    g.columns = list(PAIR_COLUMNS)
    return g.astype({"users": "int64"})


def _validate(pairs: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(pairs, pd.DataFrame):
        raise ValueError("training pairs must be a pandas DataFrame")
    cols = list(pairs.columns)
    if sorted(cols) != sorted(PAIR_COLUMNS) or len(cols) != len(PAIR_COLUMNS):
        raise ValueError(f"training pairs must have exactly the columns {list(PAIR_COLUMNS)} "
                         f"(aggregated, de-identified); got {cols}")
    p = pairs[list(PAIR_COLUMNS)]
    if p.isna().any().any():
        raise ValueError("training pairs contain nulls")
    if not pd.api.types.is_integer_dtype(p["users"]) or (p["users"] < 0).any():
        raise ValueError("users must be non-negative integers (distinct-user counts)")
    for c in ("merchant_key", "category"):
        if not all(isinstance(v, str) for v in p[c]):
            raise ValueError(f"{c} must be strings")
    if p.duplicated(["merchant_key", "category"]).any():
        raise ValueError("duplicate (merchant_key, category) pairs: aggregate them first")
    return p


def _hash_frac(text: str, salt: str) -> float:
    h = hashlib.blake2b(f"{salt}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


class CategoryModel:
    """Naive Bayes over merchant-key features; build with :meth:`fit` or :meth:`from_json`."""

    def __init__(self, artifact: dict[str, Any]) -> None:
        if artifact.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} artifact")
        self.artifact = artifact
        self.version: str = artifact["version"]
        self.classes: list[str] = list(artifact["classes"])
        self.temperature = float(artifact["params"]["temperature"])
        self.ngram = tuple(artifact["params"]["ngram"])
        self.vocab = {f: i for i, f in enumerate(artifact["vocabulary"])}
        self.cues: dict[str, str] = dict(artifact.get("cues") or [])
        self.cue_prefixes = cue_prefixes(self.cues)
        self.log_prior = np.asarray(artifact["class_log_prior"], dtype=float)
        flp = artifact["feature_log_prob"]
        # float32: a knowledge-base model has ~100 classes x ~70k features
        self.log_prob = np.repeat(np.asarray(flp["default"], dtype=np.float32)[:, None],
                                  len(self.vocab), axis=1)
        for c, (idx, vals) in enumerate(flp["entries"]):
            self.log_prob[c, idx] = vals

    # -- training -------------------------------------------------------------------------
    @classmethod
    def fit(cls, pairs: pd.DataFrame, k_min: int = 1, alpha: float = 0.03,
            ngram: tuple[int, int] = (3, 5), temperature: float | None = None,
            cues: dict[str, str] | None = None) -> CategoryModel:
        """Train on ``(merchant_key, category, users)`` pairs only (ValueError otherwise);
        pairs with ``users < k_min`` are dropped. ``temperature`` None: fitted. ``cues``:
        trade words (``apotheke`` -> pharmacies) that decide a key containing one before the
        Naive Bayes part is asked (:func:`cue_category`); kept in the artifact."""
        p = _validate(pairs)
        cue_map = _valid_cues(cues or {})
        n_in = len(p)
        p = p[(p["users"] >= max(k_min, 1)) & (p["merchant_key"].str.strip() != "")]
        if p.empty:
            raise ValueError(f"no training pairs left with users >= {k_min}")
        p = p.sort_values(["merchant_key", "category"]).reset_index(drop=True)
        keys, cats = p["merchant_key"].tolist(), p["category"].tolist()
        users = p["users"].to_numpy(dtype=float)
        feats = [features(k, ngram) for k in keys]
        seen: Counter[str] = Counter()  # users per feature
        keys_with: Counter[str] = Counter()  # keys per feature
        for f, u in zip(feats, users, strict=True):
            seen.update(dict.fromkeys(f, u))
            keys_with.update(f.keys())
        # Prune features seen once; with many keys (a knowledge base), features of one key:
        # they name that key, which its rule decides anyway.
        many = len(keys) >= PRUNE_ONE_KEY_FEATURES_FROM
        vocab = sorted(f for f, n in seen.items()
                       if (keys_with[f] >= 2 if many else n >= 2))
        classes = sorted(set(cats))
        rows = _encode(feats, {f: i for i, f in enumerate(vocab)})
        y = np.array([classes.index(c) for c in cats])
        w = np.log1p(users)
        if temperature is None:
            temperature = _fit_temperature(keys, rows, y, w, len(classes), len(vocab), alpha)
        counts, totals = _counts(rows, y, w, len(classes), len(vocab))
        prior = np.log(totals / totals.sum())
        denom = np.log(counts.sum(axis=1) + alpha * max(len(vocab), 1))  # no vocab: no guesses
        entries = []
        for c in range(len(classes)):
            nz = np.flatnonzero(counts[c])
            vals = np.log(counts[c, nz] + alpha) - denom[c]
            entries.append([nz.tolist(), [round(float(v), 5) for v in vals]])
        art: dict[str, Any] = {
            "format": FORMAT,
            "params": {"alpha": alpha, "ngram": list(ngram), "k_min": k_min,
                       "temperature": temperature, "pair_weight": "log1p(users)"},
            "classes": classes,
            "class_log_prior": [round(float(v), 6) for v in prior],
            "vocabulary": vocab,
            "feature_log_prob": {"default": [round(float(v), 5)
                                             for v in np.log(alpha) - denom],
                                 "entries": entries},
            "cues": [[k, cue_map[k]] for k in sorted(cue_map)],
            "stats": {"pairs_in": n_in, "pairs_used": len(p), "pairs_below_k": n_in - len(p),
                      "keys": len(set(keys)), "classes": len(classes),
                      "users_total": int(users.sum()), "features_seen": len(seen),
                      "features_kept": len(vocab)},
        }
        art["version"] = artifact_version(art)
        art["trained_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(art)

    # -- prediction -----------------------------------------------------------------------
    def scores(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(posterior matrix keys x classes, has-known-features mask)."""
        rows = _encode([features(k or "", self.ngram) for k in keys], self.vocab)
        post = np.zeros((len(rows), len(self.classes)))
        known = np.array([v.sum() > 0 for _, v in rows], dtype=bool)
        for r, (idx, vals) in enumerate(rows):
            if known[r]:
                s = self.log_prior + self.log_prob[:, idx] @ (vals * (self.temperature
                                                                      / vals.sum()))
                e = np.exp(s - s.max())
                post[r] = e / e.sum()
        return post, known

    def predict(self, keys: Sequence[str]) -> list[tuple[str | None, float]]:
        """(category, confidence) per key: a generic key (only words that name no merchant:
        ``pos debit``, ``sepa transfer``) gets (None, 0.0); a key with trade-word cues that
        agree gets their category at :data:`CUE_CONFIDENCE`; else the top Naive Bayes class
        and its posterior, (None, 0.0) when no feature is known, unless a cut-off trade word
        (:func:`cue_prefixes`) names another class and that posterior is below
        :data:`CUT_CUE_YIELDS_BELOW`."""
        from pipelines.categories.merchants import is_generic

        out: list[tuple[str | None, float] | None] = []
        ask: list[int] = []
        for i, k in enumerate(keys):
            if not k or is_generic(k):
                out.append((None, 0.0))
                continue
            cue = cue_category(k, self.cues) if self.cues else None
            out.append((cue, CUE_CONFIDENCE) if cue else None)
            if cue is None:
                ask.append(i)
        if ask:
            post, known = self.scores([keys[i] for i in ask])
            top = post.argmax(axis=1)
            for r, (i, t) in enumerate(zip(ask, top, strict=True)):
                got = (self.classes[t], float(post[r, t])) if known[r] else (None, 0.0)
                # a cut-off trade word (``HARRIS AND CO SOLICIT``) decides only where the
                # rest of the name says nothing surer (``ESTACION REPSOL`` is fuel, not
                # ``estacionamiento``)
                cut = cue_category(keys[i], {}, self.cue_prefixes)
                if cut is not None and (got[0] in (None, cut) or got[1] < CUT_CUE_YIELDS_BELOW):
                    got = (cut, CUE_CONFIDENCE)
                out[i] = got
        return out  # type: ignore[return-value]

    def explain(self, key: str, top: int = 5) -> list[tuple[str, float]]:
        """Features that most favour the predicted class over the average class."""
        (cat, _), = self.predict([key])
        if cat is None:
            return []
        idx, vals = _encode([features(key, self.ngram)], self.vocab)[0]
        lp = self.log_prob[:, idx]
        gain = (lp[self.classes.index(cat)] - lp.mean(axis=0)) * vals * (
            self.temperature / vals.sum())
        inv = {i: f for f, i in self.vocab.items()}
        order = np.argsort(-gain)[:top]
        return [(inv[int(idx[o])], round(float(gain[o]), 4)) for o in order]

    # -- artifact -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.artifact))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CategoryModel:
        if artifact_version(d) != d.get("version"):
            raise ValueError("artifact content does not match its version (corrupted?)")
        return cls(d)


CUE_CONFIDENCE = 0.85
CUT_CUE_YIELDS_BELOW = 0.6  # the Naive Bayes confidence a cut-off trade word overrules
PRUNE_ONE_KEY_FEATURES_FROM = 5_000  # training keys


def _valid_cues(cues: dict[str, str]) -> dict[str, str]:
    out = {}
    for word, cat in cues.items():
        w = " ".join(str(word).split())
        if not w or not isinstance(cat, str) or not cat:
            raise ValueError(f"bad cue {word!r} -> {cat!r}")
        out[w] = cat
    return out


TRUNCATED_MIN = 6  # letters of a cut-off trade word still read as the word


def cue_prefixes(cues: dict[str, str]) -> dict[str, str]:
    """Trade words as statement lines cut them off (``SOLICIT``, ``HARDWAR``, ``PHARMAC``:
    card processors keep 20-25 characters of a name): each proper prefix of a one-word cue
    with at least :data:`TRUNCATED_MIN` letters, when it is no cue itself and every cue it
    begins names the same category."""
    cats: dict[str, set[str]] = {}
    for word, cat in cues.items():
        if " " not in word:
            for n in range(TRUNCATED_MIN, len(word)):
                cats.setdefault(word[:n], set()).add(cat)
    return {p: next(iter(cs)) for p, cs in cats.items() if len(cs) == 1 and p not in cues}


def cue_category(key: str, cues: dict[str, str], prefixes: dict[str, str] | None = None
                 ) -> str | None:
    """The category the trade words of ``key`` agree on, or None (no cue, or cues that
    disagree: ``hotel pizzeria``). A cue matches a word, two adjacent words, or the end of a
    compound word when the cue has at least 6 letters (``stadtapotheke`` -> ``apotheke``);
    with ``prefixes`` (:func:`cue_prefixes`), also a cut-off cue."""
    words = key.split()
    hits: set[str] = set()
    for i, w in enumerate(words):
        c = cues.get(w)
        if c is None and i + 1 < len(words):
            c = cues.get(f"{w} {words[i + 1]}")
        if c is None and len(w) > 7:
            for j in range(1, len(w) - 5):
                c = cues.get(w[j:])
                if c is not None:
                    break
        if c is None and prefixes:
            c = prefixes.get(w)
        if c is not None:
            hits.add(c)
    return hits.pop() if len(hits) == 1 else None


def artifact_version(art: dict[str, Any]) -> str:
    """Hash of the artifact's content (everything but ``version`` and ``trained_at``)."""
    body = {k: v for k, v in art.items() if k not in ("version", "trained_at")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode(feats: Sequence[Counter[str]], vocab: dict[str, int]
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for f in feats:
        known = [(vocab[k], v) for k, v in f.items() if k in vocab]
        out.append((np.array([i for i, _ in known], dtype=np.int64),
                    np.array([v for _, v in known], dtype=float)))
    return out


def _counts(rows: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, w: np.ndarray,
            n_classes: int, n_feats: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted class x feature counts and class weights."""
    lens = [len(i) for i, _ in rows]
    idx = np.concatenate([i for i, _ in rows]) if rows else np.array([], dtype=np.int64)
    vals = np.concatenate([v for _, v in rows]) if rows else np.array([])
    flat = np.repeat(y, lens) * n_feats + idx
    counts = np.bincount(flat, weights=vals * np.repeat(w, lens),
                         minlength=n_classes * n_feats).reshape(n_classes, n_feats)
    totals = np.bincount(y, weights=w, minlength=n_classes) + 1e-9
    return counts, totals


def _fit_temperature(keys: list[str], rows: list[tuple[np.ndarray, np.ndarray]],
                     y: np.ndarray, w: np.ndarray, n_classes: int, n_feats: int,
                     alpha: float, folds: int = 5) -> float:
    """The feature-mass scale minimising log-loss on held-out keys (k-fold by key)."""
    fold = np.array([int(_hash_frac(k, "temperature") * folds) for k in keys])
    if len(keys) < 30 or n_feats == 0:
        return DEFAULT_TEMPERATURE
    ev: list[int] = []
    priors, mean_lp = [], []
    for f in range(folds):
        tr = np.flatnonzero(fold != f)
        counts, totals = _counts([rows[i] for i in tr], y[tr], w[tr], n_classes, n_feats)
        logp = np.log(counts + alpha) - np.log(counts.sum(axis=1, keepdims=True)
                                               + alpha * n_feats)
        known = counts.sum(axis=0) > 0  # as at prediction: unseen features are ignored
        for i in np.flatnonzero(fold == f):
            idx, vals = rows[i]
            vals = vals * known[idx]
            if vals.sum() > 0:
                ev.append(int(i))
                priors.append(np.log(totals / totals.sum()))
                mean_lp.append(logp[:, idx] @ (vals / vals.sum()))
    if len(ev) < 30:
        return DEFAULT_TEMPERATURE
    prior, lp = np.stack(priors), np.stack(mean_lp)
    best, best_loss = DEFAULT_TEMPERATURE, math.inf
    for t in TEMPERATURES:
        s = prior + t * lp
        s -= s.max(axis=1, keepdims=True)
        logpost = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        loss = -float((logpost[np.arange(len(ev)), y[ev]] * w[ev]).sum())
        if loss < best_loss:
            best, best_loss = t, loss
    return best


_CACHE: dict[str, CategoryModel] = {}
_PACKED: dict[str, Packed] = {}


class Packed(tuple):
    """(version, the artifact as compressed JSON): what a query's Python function carries
    instead of the artifact's nested lists, so sending it costs a copy of ~1 MiB rather than
    pickling ~100k objects, and a worker that already built this version skips decoding."""

    __slots__ = ()

    @classmethod
    def of(cls, model_json: dict[str, Any]) -> Packed:
        version = model_json["version"]
        packed = _PACKED.get(version)
        if packed is None:
            import zlib

            packed = cls((version, zlib.compress(json.dumps(model_json).encode(), 1)))
            _PACKED.clear()
            _PACKED[version] = packed
        return packed

    def unpack(self) -> dict[str, Any]:
        import zlib

        return json.loads(zlib.decompress(self[1]))


def predict_frame(pdf: pd.DataFrame, model_json: dict[str, Any] | Packed, threshold: float
                  ) -> pd.DataFrame:
    """For ``mapInPandas``: add ``model_category`` (None below ``threshold``) and
    ``model_confidence`` from ``merchant_key`` (or description/merchant_name if absent).
    ``model_json`` may be :class:`Packed`; the model built from it is kept per process."""
    version = model_json[0] if isinstance(model_json, Packed) else model_json["version"]
    model = _CACHE.get(version)
    if model is None:
        model = CategoryModel.from_json(model_json.unpack() if isinstance(model_json, Packed)
                                        else model_json)
        _CACHE.clear()
        _CACHE[model.version] = model
    if "merchant_key" in pdf.columns:
        keys = pdf["merchant_key"].fillna("").astype(str).tolist()
    else:
        names = pdf["merchant_name"] if "merchant_name" in pdf.columns else [None] * len(pdf)
        keys = [merchant_key_of(d, m if isinstance(m, str) else None)
                for d, m in zip(pdf["description"], names, strict=True)]
    preds = model.predict(keys)
    out = pdf.copy()
    out["model_category"] = [c if c is not None and p >= threshold else None for c, p in preds]
    out["model_confidence"] = [float(p) for _, p in preds]
    return out
