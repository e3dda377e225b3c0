"""Weekly categorisation assets: crowd rules (k-anonymous) and the category model."""

from collections.abc import Iterator

import dagster as dg

from assets.resources import CategorySettings, LakeResource, SparkResource
from assets.table_assets import materialized, table_spec
from lake.tables import MERCHANT_RULES

# The silver step categorises every transaction with the merchant rules and the model these
# assets publish (their edges to silver_transactions are declared there). The model is trained
# on silver's transactions too, but that edge is left out: it would close a cycle, and the
# training reads only de-identified pairs of merchants people agree on.


@dg.multi_asset(
    specs=[dg.AssetSpec("crowd_rules", group_name="categories", kinds={"spark", "delta"},
                        description="Merchant rules promoted from overrides that at least k "
                                    "distinct users agree on.",
                        deps=["category_overrides"]),
           table_spec(MERCHANT_RULES, group="categories", deps=["crowd_rules"])],
    can_subset=False,
)
def crowd_rules(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource,
                categories: CategorySettings) -> Iterator[dg.MaterializeResult]:
    """Merchant rules promoted from overrides that at least k distinct users agree on."""
    from lake import delta
    from lake.tables import CATEGORY_OVERRIDES
    from pipelines.categories.crowd import crowd_rules as compute

    session, the_lake = spark.session(), lake.lake()
    rules = compute(delta.read_table(session, the_lake, CATEGORY_OVERRIDES), categories.k)
    rules = rules.selectExpr("merchant_key", "category", "'crowd' AS source", "1 AS version",
                             "votes")
    n = delta.run_merge(session, the_lake, MERCHANT_RULES, rules, [
        # Curated seed rules stay; crowd rules follow the crowd.
        "WHEN MATCHED AND t.source = 'crowd' AND (NOT (t.category <=> s.category) "
        "OR NOT (t.votes <=> s.votes)) THEN UPDATE SET t.category = s.category, "
        "t.votes = s.votes",
        "WHEN NOT MATCHED THEN INSERT (merchant_key, category, source, version, votes) "
        "VALUES (s.merchant_key, s.category, s.source, s.version, s.votes)",
    ])
    yield dg.MaterializeResult(asset_key="crowd_rules",
                               metadata={"k": categories.k, "rules_changed": n})
    yield from materialized(the_lake, [MERCHANT_RULES])


@dg.asset(group_name="categories", deps=["merchant_rules"], kinds={"python"})
def category_model(context: dg.AssetExecutionContext, lake: LakeResource,
                   spark: SparkResource, categories: CategorySettings) -> dg.MaterializeResult:
    """Category model trained on the merchant knowledge base plus de-identified (merchant,
    category, users>=k) pairs; published only if not worse than the current one on held-out
    merchants and on the check set (the dev part of the statement corpus)."""
    from lake import delta
    from lake.tables import TRANSACTIONS
    from pipelines.categories.crowd import training_pairs
    from pipelines.categories.training import train_and_publish

    the_lake = lake.lake()
    pairs = training_pairs(delta.read_table(spark.session(), the_lake, TRANSACTIONS),
                           categories.k).toPandas()
    if pairs.empty:
        context.log.warning("no k-anonymous training pairs yet; model not trained")
        return dg.MaterializeResult(metadata={"trained": False})
    report = train_and_publish(pairs, the_lake.store, threshold=categories.threshold,
                               k=categories.k)
    cand, check = report["candidate"], report["check"]
    return dg.MaterializeResult(metadata={
        "version": report["version"], "published": report["published"],
        "train_pairs": report["train_pairs"], "holdout_keys": report["holdout_keys"],
        "accuracy": round(cand["accuracy"], 4), "macro_f1": round(cand["macro_f1"], 4),
        "coverage": round(cand["coverage"], 4),
        "check_accuracy": check["accuracy"], "check_coverage": check["coverage"],
        "check_primary_accuracy": check["primary_accuracy"],
        "check_abstention": check["abstention"],
        "report": dg.MetadataValue.path(f"models/category/{report['version']}/report.json"),
    })
