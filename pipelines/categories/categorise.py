"""Categorisation, map side: four layers in order, each recorded in ``category_source``.

1. the user's own override for the merchant (``category_overrides``: user x merchant key);
2. the user's own rules (``user_rules``, source ``user_rule``: see
   :mod:`pipelines.categories.user_rules`), skipped when nobody has one;
3. global rules (``merchant_rules``: curated seed rules and k-anonymous crowd rules);
4. the model (trained on aggregated, de-identified pairs) for the rest; below the
   confidence threshold the row stays uncategorised (source ``none``) for review.

Rules and the model depend on the merchant key and description only, so they run once per
distinct pair (:func:`global_layers`) and are joined back to the rows; only the override
join is per row (:func:`apply_layers`).

A manual category on one transaction (``user_category``) is a separate column this never
writes: what people see is ``coalesce(user_category, category)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_CONFIDENCE = {"seed": 0.95, "crowd": 0.9, "pattern": 0.85, "fallback": 0.6}
DEFAULT_THRESHOLD = 0.6
CATEGORY_COLUMNS = ("category", "category_source", "category_confidence")
LAYER_COLUMNS = ("_r_category", "_r_source", "_model_category", "_model_confidence",
                 "_f_category")
USER_LAYER_COLUMNS = ("_u_category", "_u_merchant", "_u_hidden")  # user_rules.LAYER_COLUMNS


def model_scores(keys: DataFrame, model: dict[str, Any], threshold: float) -> DataFrame:
    """The model's guess per row of ``keys`` (distinct merchant keys): ``merchant_key``,
    ``_model_category`` (None below ``threshold``) and ``_model_confidence``."""
    schema = T.StructType([T.StructField("merchant_key", T.StringType()),
                           T.StructField("_model_category", T.StringType()),
                           T.StructField("_model_confidence", T.DoubleType())])

    from pipelines.categories.model import Packed

    packed = Packed.of(model)

    def predict(batches):  # runs on the executors, batch by batch
        from pipelines.categories.model import predict_frame

        for pdf in batches:
            pred = predict_frame(pdf[["merchant_key"]], packed, threshold)
            yield pred.rename(columns={"model_category": "_model_category",
                                       "model_confidence": "_model_confidence"})

    # One task: the keys no rule decided are few, and each task would load the model (a
    # knowledge-base model is a few MiB) in its Python worker.
    return keys.select("merchant_key").coalesce(1).mapInPandas(predict, schema)


def key_rule_matches(keys: DataFrame, rules: DataFrame) -> DataFrame:
    """Per distinct merchant key, the rule whose key equals it or is its longest word-prefix
    ("shell" matches "shell oil"): (merchant_key, _r_category, _r_source).

    An equi-join: each key's word prefixes (up to :data:`MAX_PREFIX_WORDS`) against the
    rules' keys, so the cost follows keys x words, not keys x rules."""
    from pipelines.categories.merchants import exact_only_keys

    r = rules.select(F.col("merchant_key").alias("_r_key"),
                     F.col("category").alias("_r_category"),
                     F.col("source").alias("_r_source"))
    k = keys.select("merchant_key").distinct().filter(F.col("merchant_key") != "")
    words = F.split(F.col("merchant_key"), " ")
    n_words = F.size(words)
    # the first MAX_PREFIX_WORDS prefixes, and the whole key however long (its exact rule)
    prefixes = k.select("merchant_key", n_words.alias("_words"), F.explode(F.array_union(
        F.sequence(F.lit(1), F.least(n_words, F.lit(MAX_PREFIX_WORDS))),
        F.array(n_words))).alias("_n"))
    prefixes = prefixes.withColumn("_r_key", F.array_join(F.slice(
        F.split(F.col("merchant_key"), " "), F.lit(1), F.col("_n")), " "))
    # as merchants.prefix_ok: a one-word article, region code, city or generic word matches
    # only itself
    prefix_ok = (F.col("_n") > 1) | (
        (F.length("_r_key") >= 2) & ~F.col("_r_key").isin(*exact_only_keys()))
    best = Window.partitionBy("merchant_key").orderBy(F.col("_n").desc())
    return (prefixes.join(r, "_r_key")
            .filter((F.col("_n") == F.col("_words")) | prefix_ok)
            .withColumn("_rank", F.row_number().over(best))
            .filter("_rank = 1").select("merchant_key", "_r_category", "_r_source"))


MAX_PREFIX_WORDS = 8


def pattern_matches(rows: DataFrame, patterns: DataFrame) -> DataFrame:
    """Per distinct description, the first pattern rule (by priority) it matches:
    (description, _p_category, _p_stage); the stage says when it decides (``first``: before
    key rules, ``after``: when no key rule does, ``fallback``: when the model does not
    either; see :func:`pipelines.categories.reference.pattern_rules`)."""
    d = rows.select("description").distinct().filter(F.col("description").isNotNull())
    # Most descriptions match no pattern: one pass with all patterns as one alternation keeps
    # only those that match some, and only they are joined with each pattern (on 54k sandbox
    # descriptions the one pass took 0.3 s, the join of all of them with 55 patterns 1.3 s).
    texts = sorted({r[0] for r in patterns.select("pattern").collect() if r[0] is not None})
    if texts and "" not in texts:
        d = d.filter(F.col("description").rlike("|".join(f"(?:{t})" for t in texts)))
    stage = (F.col("stage") if "stage" in patterns.columns else F.lit("after")).alias("_p_stage")
    p = patterns.select(F.col("priority").alias("_p_priority"),
                        F.col("pattern").alias("_p_pattern"),
                        F.col("category").alias("_p_category"), stage)
    first = Window.partitionBy("description").orderBy("_p_priority")
    return (d.join(F.broadcast(p), F.expr("description RLIKE _p_pattern"))
            .withColumn("_n", F.row_number().over(first)).filter("_n = 1")
            .select("description", "_p_category", "_p_stage"))


def global_layers(rows: DataFrame, rules: DataFrame, model: dict[str, Any] | None = None,
                  threshold: float = DEFAULT_THRESHOLD,
                  patterns: DataFrame | None = None) -> DataFrame:
    """What rules and the model say, once per distinct (``merchant_key``, ``description``) of
    ``rows`` (neither depends on the person): those columns plus ``_r_category``,
    ``_r_source``, ``_model_category`` and ``_model_confidence``.

    Merchant-key rules first (exact or word-prefix), description patterns by stage (see
    :func:`pattern_matches`). The model scores each distinct key no key rule decided, once (a
    person's override may still win: see :func:`apply_layers`)."""
    use_patterns = patterns is not None and "description" in rows.columns
    on = ["merchant_key", "description"] if "description" in rows.columns else ["merchant_key"]
    matched = key_rule_matches(rows, rules)
    d = rows.select(*on).distinct().join(matched, "merchant_key", "left")
    if use_patterns:
        stage = F.coalesce(F.col("_p_stage"), F.lit("after"))
        # a ``first`` pattern overrules the merchant's rule unless both name the same primary
        # (LOAN PMT to a student-loan servicer stays a student-loan payment)
        overrules = (stage == "first") & (_primary(F.col("_p_category"))
                                          != _primary(F.col("_r_category")))
        pattern_wins = F.col("_p_category").isNotNull() & (stage != "fallback") & (
            F.col("_r_category").isNull() | overrules)
        fallback = F.col("_p_category").isNotNull() & (stage == "fallback") \
            & F.col("_r_category").isNull()
        d = d.join(pattern_matches(rows, patterns), "description", "left").withColumn(
            "_r_source", F.when(pattern_wins, F.lit("pattern")).otherwise(F.col("_r_source"))
        ).withColumn("_f_category", F.when(fallback, F.col("_p_category"))
        ).withColumn("_r_category", F.when(pattern_wins, F.col("_p_category"))
                     .otherwise(F.col("_r_category"))).drop("_p_category", "_p_stage")
    else:
        d = d.withColumn("_f_category", F.lit(None).cast("string"))
    if model is None:
        return d.withColumn("_model_category", F.lit(None).cast("string")) \
                .withColumn("_model_confidence", F.lit(None).cast("double"))
    # Every key no key rule decides (a pattern may still decide some of its descriptions:
    # the model's answer is then unused). Not from ``d``: that would run the pattern join twice.
    todo = rows.select("merchant_key").distinct().filter(F.col("merchant_key").isNotNull()) \
        .join(matched.select("merchant_key"), "merchant_key", "left_anti")
    return d.join(model_scores(todo, model, threshold), "merchant_key", "left")


def _primary(category: Column) -> Column:
    """:func:`pipelines.categories.reference.primary_of` as a column expression: the longest
    taxonomy primary the code is or starts with (then "_"), else the code. One regular
    expression: a map of every code to its primary was built again for each row, and cost
    more than the rest of the layers together (0.9 s of 2.2 s on 55k descriptions)."""
    from pipelines.categories.reference import categories

    primaries = sorted({c["category_primary"] for c in categories()}, key=len, reverse=True)
    found = F.regexp_extract(category, "^(" + "|".join(primaries) + ")(?:_|$)", 1)
    return F.when(found != "", found).otherwise(category)


def pair_layers(pairs: DataFrame, rules: DataFrame, model: dict[str, Any] | None = None,
                threshold: float = DEFAULT_THRESHOLD,
                patterns: DataFrame | None = None) -> DataFrame:
    """``pairs`` (distinct (``description``, ``merchant``) pairs with their ``merchant_key``)
    with the columns of :func:`global_layers` attached: one row per pair, looked up by the
    day's rows (:func:`apply_layers` after the lookup)."""
    from pipelines.categories.distinct import attach

    layers = global_layers(pairs.select("merchant_key", "description"), rules, model,
                           threshold, patterns)
    return attach(pairs.select("description", "merchant", "merchant_key"), layers,
                  ["merchant_key", "description"])


def apply_layers(rows: DataFrame, overrides: DataFrame,
                 user_rules: DataFrame | None = None) -> DataFrame:
    """Rows carrying :func:`global_layers`' columns -> ``category``, ``category_source`` and
    ``category_confidence`` (appended), a person's override first, then their rules
    (``user_rules``: compiled, see :func:`pipelines.categories.user_rules.attach_rules`),
    then rule, then model."""
    from pipelines.categories.user_rules import attach_rules

    rows = attach_rules(rows, user_rules)
    o = overrides.select(F.col("user_id").alias("_o_user"),
                         F.col("merchant_key").alias("_o_key"),
                         F.col("category").alias("_o_category"))
    j = rows.join(o, (rows["user_id"] == o["_o_user"])
                  & (rows["merchant_key"] == o["_o_key"]), "left")
    return decide(j).drop("_o_user", "_o_key")


def decide(j: DataFrame) -> DataFrame:
    """``_o_category`` (a person's override), the rule and the model columns -> the three
    category columns (appended; the layer columns dropped)."""
    if "_f_category" not in j.columns:
        j = j.withColumn("_f_category", F.lit(None).cast("string"))
    override, rule = F.col("_o_category").isNotNull(), F.col("_r_category").isNotNull()
    modelled = F.col("_model_category").isNotNull()
    fallback = F.col("_f_category").isNotNull()
    rule_source = F.when(F.col("_r_source") == "crowd", "crowd").otherwise("rule")
    user = F.col("_u_category").isNotNull() if "_u_category" in j.columns else F.lit(False)
    rule_conf = F.when(F.col("_r_source") == "crowd", RULE_CONFIDENCE["crowd"]) \
        .when(F.col("_r_source") == "pattern", RULE_CONFIDENCE["pattern"]) \
        .otherwise(RULE_CONFIDENCE["seed"])
    found = F.coalesce("_r_category", "_model_category", "_f_category")
    if "amount" in j.columns:  # rules and the model name one direction: follow the sign
        found = _directed(found, F.col("amount"))
    return (
        j.withColumn("category", F.coalesce(F.col("_o_category"), *(
            [F.col("_u_category")] if "_u_category" in j.columns else []), found))
        .withColumn("category_source",
                    F.when(override, "override").when(user, "user_rule").when(rule, rule_source)
                    .when(modelled, "model").when(fallback, "rule").otherwise("none"))
        .withColumn("category_confidence",
                    F.when(override | user, F.lit(1.0)).when(rule, rule_conf)
                    .when(~modelled & fallback, RULE_CONFIDENCE["fallback"])
                    .otherwise(F.col("_model_confidence")).cast("double"))
        .drop("_o_category", *LAYER_COLUMNS, *USER_LAYER_COLUMNS)
    )


def _directed(category: Column, amount: Column) -> Column:
    """:func:`pipelines.categories.reference.directed` as a column expression."""
    from pipelines.categories.reference import MONEY_IN, MONEY_OUT

    def swap(mapping: dict[str, str]) -> Column:
        expr = None
        for a, b in mapping.items():
            expr = (F.when(category == a, F.lit(b)) if expr is None
                    else expr.when(category == a, F.lit(b)))
        return expr.otherwise(category)  # type: ignore[union-attr]

    return (F.when(amount < 0, swap(MONEY_IN)).when(amount > 0, swap(MONEY_OUT))
            .otherwise(category))


def categorise(rows: DataFrame, overrides: DataFrame, rules: DataFrame,
               model: dict[str, Any] | None = None,
               threshold: float = DEFAULT_THRESHOLD,
               patterns: DataFrame | None = None,
               user_rules: DataFrame | None = None) -> DataFrame:
    """Set ``category``/``category_source``/``category_confidence`` on every row.

    ``rows`` needs ``user_id`` and ``merchant_key`` (and ``description`` for pattern
    rules); the three columns are replaced. Rules and the model run per distinct
    (merchant key, description) (:func:`global_layers`), joined back null-safe.
    """
    from pipelines.categories.distinct import attach

    base = rows.drop(*[c for c in CATEGORY_COLUMNS if c in rows.columns])
    layers = global_layers(base, rules, model, threshold, patterns)
    on = [c for c in ("merchant_key", "description") if c in base.columns]
    return apply_layers(attach(base, layers, on), overrides, user_rules)
