"""A person's rules: add, change, move, remove (all checked first: a refused edit writes
nothing), and the dry-run of an edit on their past transactions.

Every edit is one commit to ``user_rules``: the edited rule and every rule whose place it
moves, each with ``version`` one higher; a removed rule stays, ``deleted``. The next
re-categorisation (:func:`pipelines.corrections.recategorise.refresh_categories`, run by the
nightly) finds the people whose rules changed and rewrites only the rows whose category
changes; :func:`dry_run` computes the same thing for one person without writing, through the
same function (:func:`pipelines.categories.rule_book.categorised_again`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.ids import new_id
from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import ACCOUNTS, CUSTOM_CATEGORIES, TRANSACTIONS, USER_RULES
from pipelines.categories.rule_book import live_rules
from pipelines.categories.rule_checks import RuleError, checked_rule
from pipelines.categories.user_rules import MAX_RULES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def known_categories(lake: Lake, user_id: str) -> set[str]:
    """The taxonomy's codes and the person's own categories."""
    import pyarrow.dataset as ds

    from pipelines.categories.reference import categories

    return {c["category"] for c in categories()} | {
        c["category"] for c in read_rows(lake, CUSTOM_CATEGORIES, ds.field("user_id") == user_id)}


def accounts_of(lake: Lake, user_id: str) -> set[str]:
    import pyarrow.dataset as ds

    return {a["account_id"] for a in read_rows(lake, ACCOUNTS, ds.field("user_id") == user_id)}


def new_rule(lake: Lake, user_id: str, conditions: dict[str, Any], actions: dict[str, Any],
             position: int | None = None, source: str = "cli",
             rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A checked rule row for ``user_id`` (not stored; :class:`RuleError` if it cannot be)."""
    rules = live_rules(lake, user_id) if rules is None else rules
    if len(rules) >= MAX_RULES:
        raise RuleError(f"this person has {len(rules)} rules, the most one may have; remove "
                        "one first")
    cond, act = checked_rule(conditions, actions, categories=known_categories(lake, user_id),
                             accounts=accounts_of(lake, user_id))
    if position is not None and not 1 <= position <= len(rules) + 1:
        raise RuleError(f"position: give 1 to {len(rules) + 1}")
    now = datetime.now(UTC)
    return {"user_id": user_id, "rule_id": new_id(10, "r"), "position": position or
            len(rules) + 1, "conditions": json.dumps(cond, sort_keys=True),
            "actions": json.dumps(act, sort_keys=True), "version": 1, "source": source,
            "created_at": now, "updated_at": now, "deleted": False}


def placed(rules: list[dict[str, Any]], rule: dict[str, Any] | None = None,
           remove: str | None = None, move: tuple[str, int] | None = None
           ) -> list[dict[str, Any]]:
    """The person's live rules after an edit (``rule`` inserted at its position, ``remove``
    taken out, ``move`` = (rule id, new position)), numbered 1..n (rows not yet stored)."""
    order = [dict(r) for r in rules if r["rule_id"] != remove]
    if move is not None:
        found = [r for r in order if r["rule_id"] == move[0]]
        if not found:
            raise RuleError(f"no rule {move[0]!r}; list them with `finlake rule list`")
        if not 1 <= move[1] <= len(order):
            raise RuleError(f"position: give 1 to {len(order)}")
        order.remove(found[0])
        order.insert(move[1] - 1, found[0])
    if rule is not None:
        order.insert(rule["position"] - 1, dict(rule))
    for i, r in enumerate(order, start=1):
        r["position"] = i
    return order


def changed_rows(before: list[dict[str, Any]], after: list[dict[str, Any]],
                 removed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows to store for an edit: each rule whose place changed (version + 1), new ones,
    and ``removed`` marked deleted."""
    now = datetime.now(UTC)
    was = {r["rule_id"]: r for r in before}
    out = []
    for r in after:
        old = was.get(r["rule_id"])
        if old is None:
            out.append(r)
        elif old["position"] != r["position"]:
            out.append({**r, "version": old["version"] + 1, "updated_at": now})
    if removed is not None:
        out.append({**removed, "deleted": True, "version": removed["version"] + 1,
                    "updated_at": now})
    return out


def find_rule(rules: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    for r in rules:
        if r["rule_id"] == rule_id:
            return r
    raise RuleError(f"no rule {rule_id!r} for this person; list them with `finlake rule list`")


def store(lake: Lake, rows: list[dict[str, Any]]) -> None:
    """One commit (a MERGE on user x rule id): all of an edit or none of it."""
    upsert_rows(lake, USER_RULES, rows)


def dry_run(spark: SparkSession, lake: Lake, user_id: str, rules: list[dict[str, Any]]
            ) -> list[dict[str, Any]]:
    """The person's past transactions whose category the edit would change, if their live
    rules became ``rules``: txn_id, posted_date, description, amount, status, the category
    and source before (as silver holds them) and after, and ``user_category`` (a manual
    category, which still wins over both). Nothing is written.

    Only rows for which the person's rules say something else than now are categorised
    again (a change elsewhere, a new model say, is not this edit's), the same way the
    re-categorisation does it, so after a nightly the two agree row for row."""
    from pyspark.sql import functions as F

    from lake import delta
    from pipelines.categories.rule_book import AGAIN, categorised_again, compiled_rules
    from pipelines.categories.user_rules import attach_rules

    mine = delta.read_table(spark, lake, TRANSACTIONS).filter(F.col("user_id") == user_id)
    shown = ("txn_id", "posted_date", "status", "user_category", "category", "category_source",
             "category_confidence")
    rows = mine.select(*AGAIN, *shown)

    def says(df: Any, rules: list[dict[str, Any]], name: str) -> Any:
        compiled = compiled_rules(spark, rules)
        if compiled is None:
            return df.withColumn(name, F.lit(None).cast("string"))
        return attach_rules(df, compiled).withColumnRenamed("_u_category", name).drop(
            "_u_merchant", "_u_hidden")

    both = says(says(rows, live_rules(lake, user_id), "_now"), rules, "_then")
    touched = both.filter("NOT (_now <=> _then)").drop("_now", "_then")
    new = categorised_again(spark, lake, touched, compiled_rules(spark, rules)).select(
        *TRANSACTIONS.keys, F.col("category").alias("category_after"),
        F.col("category_source").alias("source_after"),
        F.col("category_confidence").alias("_conf_after"))
    old = touched.select(*TRANSACTIONS.keys, "description", "amount", *shown)
    diff = old.join(new, list(TRANSACTIONS.keys)).filter(
        "NOT (category <=> category_after) OR NOT (category_source <=> source_after) "
        "OR NOT (category_confidence <=> _conf_after)")
    return [{"txn_id": r["txn_id"], "posted_date": r["posted_date"],
             "description": r["description"], "amount": r["amount"], "status": r["status"],
             "category_before": r["category"], "source_before": r["category_source"],
             "category_after": r["category_after"], "source_after": r["source_after"],
             "user_category": r["user_category"]}
            for r in diff.orderBy(F.col("posted_date").desc_nulls_last(), "txn_id").collect()]
