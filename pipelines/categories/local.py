"""The categorisation layers in plain Python, for one list of statement lines.

The same decisions as the engine's :func:`pipelines.categories.categorise.global_layers` (key
rule, exact or longest word-prefix; description patterns by stage, a ``first`` one before the
key rule; then the model above the threshold; then a ``fallback`` pattern), without a Spark
session: for evaluating reference data while it is written, and for the model's check-set
report. A test holds both to the same answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.categories.categorise import DEFAULT_THRESHOLD, RULE_CONFIDENCE


@dataclass(frozen=True)
class Decision:
    merchant_key: str
    category: str | None
    source: str  # rule | crowd | model | none (as category_source)
    confidence: float | None


class LocalCategoriser:
    """Rules, patterns and (optionally) a model, ready to categorise lines."""

    def __init__(self, rules: list[dict[str, Any]], patterns: list[dict[str, Any]],
                 model: dict[str, Any] | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        from pipelines.categories.model import CategoryModel

        self.rules = {str(r["merchant_key"]): (str(r["category"]), str(r["source"]))
                      for r in rules}
        self.patterns = [(re.compile(str(p["pattern"])), str(p["category"]),
                          str(p.get("stage") or "after"))
                         for p in sorted(patterns, key=lambda p: int(p["priority"]))]
        self.model = CategoryModel.from_json(model) if model else None
        self.threshold = threshold

    @classmethod
    def seeded(cls, model: dict[str, Any] | None = None,
               threshold: float = DEFAULT_THRESHOLD) -> LocalCategoriser:
        """With the shipped seed rules and pattern rules."""
        from pipelines.categories.reference import merchant_rules, pattern_rules

        return cls(merchant_rules(), pattern_rules(), model, threshold)

    def rule(self, key: str) -> tuple[str, str] | None:
        """The rule whose key equals ``key`` or is its longest word-prefix."""
        from pipelines.categories.categorise import MAX_PREFIX_WORDS
        from pipelines.categories.merchants import prefix_ok

        hit = self.rules.get(key)
        if hit:
            return hit
        words = key.split()
        for n in range(min(len(words) - 1, MAX_PREFIX_WORDS), 0, -1):
            prefix = " ".join(words[:n])
            hit = self.rules.get(prefix)
            if hit and prefix_ok(prefix):
                return hit
        return None

    def pattern(self, description: str) -> tuple[str, str] | None:
        """(category, stage) of the first pattern the description matches."""
        for rx, category, stage in self.patterns:
            if rx.search(description):
                return category, stage
        return None

    def decide(self, descriptions: list[str], merchants: list[str | None] | None = None,
               amounts: list[float | None] | None = None) -> list[Decision]:
        """One decision per line; ``amounts`` (partner sign) turn a one-direction category
        round for money going the other way, as the engine does."""
        from pipelines.categories.reference import directed

        raw = self._decide(descriptions, merchants)
        if amounts is None:
            return raw
        return [Decision(d.merchant_key, directed(d.category, a), d.source, d.confidence)
                for d, a in zip(raw, amounts, strict=True)]

    def _decide(self, descriptions: list[str], merchants: list[str | None] | None
                ) -> list[Decision]:
        from pipelines.categories.merchants import normalise
        from pipelines.categories.reference import primary_of

        names = merchants or [None] * len(descriptions)
        keys = [normalise(d, m).key for d, m in zip(descriptions, names, strict=True)]
        out: list[Decision | None] = []
        ask: list[int] = []
        fallback: dict[int, str] = {}
        for i, (desc, key) in enumerate(zip(descriptions, keys, strict=True)):
            rule = self.rule(key) if key else None
            pat = self.pattern(desc) if desc else None
            overrules = pat is not None and pat[1] == "first" and (
                rule is None or primary_of(pat[0]) != primary_of(rule[0]))
            if pat and pat[1] != "fallback" and (overrules or rule is None):
                out.append(Decision(key, pat[0], "rule", RULE_CONFIDENCE["pattern"]))
            elif rule:
                crowd = rule[1] == "crowd"
                out.append(Decision(key, rule[0], "crowd" if crowd else "rule",
                                    RULE_CONFIDENCE["crowd" if crowd else "seed"]))
            else:
                out.append(None)
                ask.append(i)
                if pat:
                    fallback[i] = pat[0]
        preds = self.model.predict([keys[i] for i in ask]) if self.model and ask else []
        for j, i in enumerate(ask):
            cat, conf = preds[j] if preds else (None, None)
            if cat is not None and conf is not None and conf >= self.threshold:
                out[i] = Decision(keys[i], cat, "model", conf)
            elif i in fallback:
                out[i] = Decision(keys[i], fallback[i], "rule", RULE_CONFIDENCE["fallback"])
            else:
                out[i] = Decision(keys[i], None, "none", conf)
        return [d or Decision(keys[i], None, "none", None) for i, d in enumerate(out)]
