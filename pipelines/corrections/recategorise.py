"""Re-categorise only what a change affects: new overrides, changed rules, a new model.

A small state object remembers what was applied last (override watermark, rules table
version, model version). Each run finds the silver rows the changes since then can affect,
runs the categorisation layers on just those rows, and MERGEs back only rows whose category
actually changed. History is read (filtered), never rewritten wholesale.

A person's category for one transaction (``transaction_overrides``, written by the
dashboard) goes to silver's ``user_category``, which wins over ``category`` downstream.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from lake import delta, models
from lake.lake import Lake
from lake.objectstore import ObjectNotFound
from lake.tables import (
    CATEGORY_OVERRIDES,
    CUSTOM_CATEGORIES,
    MERCHANT_RULES,
    TRANSACTION_OVERRIDES,
    TRANSACTIONS,
)
from pipelines.categories import rule_book
from pipelines.categories.categorise import CATEGORY_COLUMNS
from pipelines.categories.refresh import EPOCH, REFRESH_STATE_KEY
from pipelines.silver.merge import UNSEEN_MONTH, neighbour_months

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
STATE_KEY = REFRESH_STATE_KEY  # started by seed_reference on a new lake
TXN_STATE_KEY = "state/transaction_overrides.json"


def _load_state(lake: Lake, key: str = STATE_KEY) -> dict[str, Any]:
    try:
        return json.loads(lake.store.get(key))
    except ObjectNotFound:
        return {}


def _rules_at(lake: Lake, version: int | None) -> dict[str, tuple[str, str]]:
    from deltalake import DeltaTable

    if version is None or version < 0:
        return {}
    dt = DeltaTable(lake.uri(MERCHANT_RULES), version=version,
                    storage_options=lake.storage_options() or None)
    return {r["merchant_key"]: (r["category"], r["source"])
            for r in dt.to_pyarrow_table().to_pylist()}


def refresh_categories(spark: SparkSession, lake: Lake, sync_date: date | None = None
                       ) -> tuple[list[str], int]:
    """Apply overrides/rules/model changes since the last refresh, then the per-transaction
    overrides (:func:`apply_transaction_overrides`); (months touched, rows).
    With ``sync_date`` the changed (user, month) cells are logged for that day's gold."""
    state = _load_state(lake)
    rules_version = lake.delta(MERCHANT_RULES).version()  # type: ignore[union-attr]
    model_version = models.current_version(lake.store)
    user_rules = rule_book.rules_version(lake)
    since = state.get("overrides_at", EPOCH)
    newest, affected = _affected(spark, lake, state, since, rules_version, model_version,
                                 user_rules)
    months: list[str] = []
    written = 0
    if affected is not None:
        months, written = _rewrite_changed(spark, lake, affected, sync_date)
    new_state = {"overrides_at": newest.isoformat() if newest is not None else since,
                 "rules_version": rules_version, "model_version": model_version,
                 "user_rules_version": user_rules,
                 "refreshed_at": datetime.now().astimezone().isoformat()}
    lake.store.put(STATE_KEY, json.dumps(new_state).encode())
    txn_months, txn_rows = apply_transaction_overrides(spark, lake, sync_date)
    from pipelines.corrections.splits import log_split_cells  # people's splits: gold's cells

    months = sorted(set(months) | set(txn_months) | set(log_split_cells(spark, lake, sync_date)))
    return [m for m in months if m != UNSEEN_MONTH], written + txn_rows


# What the categorisation layers read of a silver row, and where the row lives.
READ = (*rule_book.AGAIN, "posted_month", *CATEGORY_COLUMNS)


def _affected(spark: SparkSession, lake: Lake, state: dict[str, Any], since: str,
              rules_version: int, model_version: Any, user_rules: int | None = None
              ) -> tuple[datetime | None, DataFrame | None]:
    """(newest new override, the silver rows the changes since ``state`` can recategorise:
    ``READ``'s columns only, or None when nothing changed). The rows of a new or changed
    override's (user, merchant key), of a merchant key whose rule changed, and, after a new
    model, those the model decided (or left uncategorised), and every row of a person whose
    own rules changed."""
    silver = delta.read_table(spark, lake, TRANSACTIONS).select(*READ)
    new_overrides = delta.read_table(spark, lake, CATEGORY_OVERRIDES).filter(
        F.col("created_at") > F.lit(since).cast("timestamp"))
    newest = new_overrides.agg(F.max("created_at")).collect()[0][0]
    parts: list[DataFrame] = []
    if newest is not None:
        keys = new_overrides.select("user_id", "merchant_key").distinct()
        parts.append(silver.join(keys, ["user_id", "merchant_key"], "left_semi"))
    if state.get("rules_version") != rules_version:
        before = _rules_at(lake, state.get("rules_version"))
        now = _rules_at(lake, rules_version)
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            parts.append(silver.filter(F.col("merchant_key").isin(changed)))
    people = rule_book.changed_rule_users(lake, state.get("user_rules_version"), user_rules)
    if people:
        parts.append(silver.filter(F.col("user_id").isin(people)))
    if state.get("model_version") != model_version:
        parts.append(silver.filter(F.col("category_source").isin("model", "none")))
    if not parts:
        return newest, None
    affected = parts[0]
    for p in parts[1:]:
        affected = affected.unionByName(p)
    return newest, affected.dropDuplicates(list(TRANSACTIONS.keys))


MERGE_ROWS = 2_000_000  # silver rows one re-categorising MERGE may rewrite (about 2 GiB)


def month_groups(lake: Lake, months: list[str], limit: int | None = None) -> list[list[str]]:
    """``months`` in order, grouped so that each group's silver rows (the Delta log's row
    counts) stay within ``limit`` (default ``MERGE_ROWS``); a month over it is a group of its
    own. A MERGE rewrites every file holding a matched row, so a group bounds what one MERGE
    holds."""
    limit = MERGE_ROWS if limit is None else limit
    rows: dict[str, int] = dict.fromkeys(months, 0)
    dt = lake.delta(TRANSACTIONS)
    if dt is not None:
        adds = dt.get_add_actions(flatten=True)
        for m, n in zip(adds.column("partition.posted_month").to_pylist(),
                        adds.column("num_records").to_pylist(), strict=True):
            if m in rows:
                rows[m] += limit if n is None else int(n)
    groups: list[list[str]] = []
    total = 0
    for m in months:
        if groups and total + rows[m] <= limit:
            groups[-1].append(m)
            total += rows[m]
        else:
            groups.append([m])
            total = rows[m]
    return groups


def _rewrite_changed(spark: SparkSession, lake: Lake, affected: DataFrame,
                     sync_date: date | None) -> tuple[list[str], int]:
    """Categorise ``affected`` again and write the rows whose category changed, MERGEd into
    only the months they live in, a few months at a time (:func:`month_groups`: each MERGE
    pruned to its months, so no other month's files are read or rewritten, and no MERGE
    rewrites much more than ``MERGE_ROWS`` rows, however long the history); (months, rows).

    The changed rows are staged once (Parquet), their (user, month) cells logged for gold
    before any MERGE, so a crash between two months loses no cell, and the next run finds
    the months not yet written (their rows still differ) and writes them."""
    from lake.staging import discard, new_run, stage_frame

    old = affected.select(*TRANSACTIONS.keys, "user_id", "posted_month",
                          *[F.col(c).alias(f"_old_{c}") for c in CATEGORY_COLUMNS])
    new = rule_book.categorised_again(spark, lake, affected,
                                      rule_book.user_rules_input(spark, lake))
    diff = new.drop("user_id", "merchant_key", "description", "merchant", "amount").join(
        old, list(TRANSACTIONS.keys)).filter(" OR ".join(
            f"NOT ({c} <=> _old_{c})" for c in CATEGORY_COLUMNS))
    prefix = new_run("recategorise", sync_date)
    try:
        staged = stage_frame(spark, lake, diff.select(
            *TRANSACTIONS.keys, "user_id", "posted_month", *CATEGORY_COLUMNS), prefix)
        cells = [(r["user_id"], r["posted_month"], r["n"]) for r in staged.groupBy(
            "user_id", "posted_month").agg(F.count(F.lit(1)).alias("n")).collect()]
        if not cells:
            return [], 0
        if sync_date is not None:
            from pipelines.silver.changes import log_changes

            log_changes(spark, lake, sync_date, spark.createDataFrame(
                [(u, m) for u, m, _ in cells], schema="user_id string, month string"))
        months = sorted({m for _, m, _ in cells})
        sets = ", ".join(f"t.{c} = s.{c}" for c in CATEGORY_COLUMNS)
        for group in month_groups(lake, months):
            delta.run_merge(spark, lake, TRANSACTIONS,
                            staged.filter(F.col("posted_month").isin(group)),
                            [f"WHEN MATCHED AND ({delta.differs(CATEGORY_COLUMNS)}) "
                             f"THEN UPDATE SET {sets}"], partitions=group)
        return months, sum(n for _, _, n in cells)
    finally:
        discard(lake, prefix)


def apply_transaction_overrides(spark: SparkSession, lake: Lake, sync_date: date | None = None
                                ) -> tuple[list[str], int]:
    """Copy each new ``transaction_overrides`` row's category to its silver row's
    ``user_category``; (months touched, rows). ``sync_date`` logs the cells as above.

    Nothing is read with Spark unless the table has a new Delta version. Only overrides
    written since the last run are read (watermark in ``TXN_STATE_KEY``), and
    only the silver months they name (``posted_month``, recorded by the dashboard; a row
    without it reads every month), so a night's cost follows the night's overrides, not
    history. Only rows that still differ are written: a second run writes nothing. An
    override for a transaction silver does not hold (yet) holds the watermark back, so it
    applies on the first run after the transaction arrives; one for a pending transaction
    that a posting has replaced also applies to the posted row (unless that row has its own
    override), since the posting may have been merged before the override was. A code that
    is neither in the taxonomy nor one of the person's own categories is skipped with a
    warning (and left in the table).
    """
    table = lake.delta(TRANSACTION_OVERRIDES)  # delta-rs: no Spark job when nothing changed
    state = _load_state(lake, TXN_STATE_KEY)
    if table is None or state.get("version") == table.version():
        return [], 0
    since = state.get("since", EPOCH)
    new = [r.asDict() for r in delta.read_table(spark, lake, TRANSACTION_OVERRIDES)
           .filter(F.col("created_at") > F.lit(since).cast("timestamp"))
           .select("user_id", "txn_id", "category", "posted_month", "created_at").collect()]
    if not new:
        lake.store.put(TXN_STATE_KEY, json.dumps({**state, "version": table.version()}).encode())
        return [], 0
    wanted = _known_categories(lake, new)
    months, written, found = [], 0, set()
    if wanted:
        months, written, found = _apply(spark, lake, wanted, sync_date)
    waiting = [o["created_at"] for o in wanted if (o["user_id"], o["txn_id"]) not in found]
    mark = (min(waiting) - timedelta(microseconds=1)) if waiting else max(
        o["created_at"] for o in new)
    # The table's version is remembered only when nothing waits for its transaction.
    version = None if waiting else table.version()
    lake.store.put(TXN_STATE_KEY, json.dumps({"since": mark.isoformat(),
                                              "version": version}).encode())
    return months, written


def _apply(spark: SparkSession, lake: Lake, wanted: list[dict[str, Any]],
           sync_date: date | None) -> tuple[list[str], int, set[tuple[str, str]]]:
    """(months touched, rows written, the (user, txn) overrides silver holds)."""
    overrides = spark.createDataFrame([(r["user_id"], r["txn_id"], r["category"]) for r in wanted],
                                      schema="user_id string, txn_id string, _override string")
    silver = delta.read_table(spark, lake, TRANSACTIONS)
    named = {o["posted_month"] for o in wanted}
    scope = silver if None in named else silver.filter(
        F.col("posted_month").isin(sorted(named | {UNSEEN_MONTH})))
    cols = [*TRANSACTIONS.keys, "user_id", "posted_month", "user_category"]
    hits = scope.join(F.broadcast(overrides), ["user_id", "txn_id"]).select(
        *cols, "txn_id", "superseded_by", "_override").collect()
    found = {(r["user_id"], r["txn_id"]) for r in hits}
    targets = {tuple(r[k] for k in TRANSACTIONS.keys): r for r in hits}
    replaced = {(r["account_id"], r["superseded_by"]): r["_override"] for r in hits
                if r["superseded_by"] is not None}
    replaced = {k: v for k, v in replaced.items() if k not in targets}
    if replaced:
        postings = spark.createDataFrame([(*k, v) for k, v in replaced.items()],
                                         schema="account_id string, partner_txn_id string, "
                                                "_override string")
        around = neighbour_months(sorted({r["posted_month"] for r in hits
                                          if r["superseded_by"] is not None}))
        for r in silver.filter(F.col("posted_month").isin(around)).join(
                F.broadcast(postings), list(TRANSACTIONS.keys)).select(
                *cols, "_override").collect():
            targets.setdefault(tuple(r[k] for k in TRANSACTIONS.keys), r)
    changes = [(*[r[k] for k in TRANSACTIONS.keys], r["user_id"], r["posted_month"],
                r["_override"]) for r in targets.values() if r["user_category"] != r["_override"]]
    if not changes:
        return [], 0, found
    source = spark.createDataFrame(changes, schema="account_id string, partner_txn_id string, "
                                   "user_id string, posted_month string, user_category string")
    months = sorted({c[3] for c in changes})
    if sync_date is not None:
        from pipelines.silver.changes import log_changes

        log_changes(spark, lake, sync_date, source.select(
            "user_id", F.col("posted_month").alias("month")))
    delta.run_merge(spark, lake, TRANSACTIONS, source, [
        "WHEN MATCHED AND NOT (t.user_category <=> s.user_category) "
        "THEN UPDATE SET t.user_category = s.user_category"], partitions=months)
    return [m for m in months if m != UNSEEN_MONTH], len(changes), found


def _known_categories(lake: Lake, overrides: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The overrides whose code is in the taxonomy or among the person's own categories."""
    from lake.small_tables import read_rows
    from pipelines.categories.reference import categories

    taxonomy = {c["category"] for c in categories()}
    custom: set[tuple[str, str]] | None = None
    known = []
    for o in overrides:
        if o["category"] not in taxonomy:
            if custom is None:
                custom = {(c["user_id"], c["category"]) for c in read_rows(lake, CUSTOM_CATEGORIES)}
            if (o["user_id"], o["category"]) not in custom:
                log.warning("a transaction override names unknown category %r: not applied "
                            "(no user or transaction named: logs never name a person)",
                            o["category"])
                continue
        known.append(o)
    return known
