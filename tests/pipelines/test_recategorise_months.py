"""Re-categorisation writes only the months its changed rows live in, and leaves silver and
gold exactly as the previous implementation (one MERGE of every changed row) left them:
overrides added, changed and removed, rules added, changed and removed, a new model, manual
categories, tombstones, unicode, empty and null merchant keys, several people and months."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F

import pipelines.corrections.recategorise as recat
from lake import delta, models
from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import (
    CATEGORY_OVERRIDES,
    GOLD_CHANGES,
    MERCHANT_RULES,
    MONTHLY_SPEND,
    TRANSACTIONS,
)
from pipelines.categories.categorise import CATEGORY_COLUMNS, categorise
from pipelines.categories.refresh import engine_inputs, seed_reference
from pipelines.gold.refresh import refresh_gold
from pipelines.silver.changes import changed_cells
from tests.support.lake_fixtures import txn, write_table

pytestmark = pytest.mark.integration
DAY = date(2026, 3, 2)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
UNTOUCHED = ("2025-10", "2025-12")  # no row of these months is affected by step 1
# (description, merchant key, the months each person has it in)
MERCHANTS = {
    "u1": [("STARBUCKS 12", "starbucks", ("2025-11", "2026-02")),
           ("NETFLIX.COM", "netflix", ("2025-09", "2026-01")),
           ("SPOTIFY", "spotify", ("2025-10", "2025-12", "2026-01"))],
    "u2": [("STARBUCKS 99", "starbucks", ("2026-01",)),
           ("NETFLIX.COM", "netflix", ("2026-01",)),
           ("KROGER #4", "kroger", ("2025-11",)),
           ("JOES COFFEE", "joes coffee", ("2025-11", "2026-02"))],
    "u3": [("SHELL OIL 5", "shell oil", ("2025-09", "2026-02")),
           ("ATM FEE", "", ("2025-11",)),
           ("MISC", None, ("2025-09", "2025-10")),
           ("ZZQX 9", "zzqx", ("2026-02",))],
    "ü4-ñ": [("CAFÉ ÑANDÚ", "café ñandú", ("2025-11",)),
             ("SPOTIFY", "spotify", ("2025-12",)),
             ("QUICK GAS", "quick gas", ("2025-09",))],
}
STALE = ("FOOD_AND_DRINK_RESTAURANT", "rule", 0.95)  # what silver holds before the changes


def silver_rows() -> list[dict]:
    rows, n = [], 0
    for user, merchants in MERCHANTS.items():
        for desc, key, months in merchants:
            for month in months:
                for day in (3, 17):
                    n += 1
                    extra = {"merchant_key": key,
                             "category_source": "none" if "coffee" in desc.lower()
                             or "gas" in desc.lower() else STALE[1],
                             "category_confidence": STALE[2]}
                    if n % 5 == 0:
                        extra["user_category"] = "GENERAL_SERVICES_OTHER_GENERAL_SERVICES"
                    if n % 7 == 0:
                        extra.update(status="removed", removed_at=T0)
                    if n % 11 == 0:
                        extra["pending"] = True
                    rows.append(txn(user, n, date.fromisoformat(f"{month}-{day:02d}"), "12.50",
                                    desc, STALE[0], **extra))
    gone = txn("u1", 999, DAY, "0.00", "GONE", None, merchant_key=None, merchant=None,
               posted_date=None, posted_month="unseen", status="removed", category_source="none")
    rows.append({**gone, "description": None})  # a removal silver never saw
    return rows


def _override(user: str, key: str, category: str, at: datetime) -> dict:
    return {"user_id": user, "merchant_key": key, "category": category, "source": "cli",
            "created_at": at}


def build_lake(spark, root: Path) -> Lake:
    """A lake after its last nightly: silver, overrides, rules, and the refresh's state."""
    lake = Lake(str(root))
    seed_reference(spark, lake)
    write_table(lake, TRANSACTIONS, silver_rows())
    upsert_rows(lake, CATEGORY_OVERRIDES, [
        _override("u1", "netflix", "ENTERTAINMENT_VIDEO_GAMES", T0),
        _override("u2", "starbucks", "FOOD_AND_DRINK_FAST_FOOD", T0),
        _override("u3", "shell oil", "TRANSPORTATION_TOLLS", T0)])
    lake.store.put(recat.STATE_KEY, json.dumps({
        "overrides_at": T0.isoformat(), "rules_version": lake.delta(MERCHANT_RULES).version(),
        "model_version": models.current_version(lake.store)}).encode())
    return lake


def change_overrides_and_rules(lake: Lake) -> None:
    later = datetime.now(UTC)
    upsert_rows(lake, CATEGORY_OVERRIDES, [
        _override("u1", "starbucks", "FOOD_AND_DRINK_RESTAURANT_NEW", later),  # added
        _override("u2", "starbucks", "GENERAL_MERCHANDISE_SUPERSTORES", later),  # changed
        _override("ü4-ñ", "café ñandú", "FOOD_AND_DRINK_COFFEE", later),  # added, unicode
        _override("u3", "", "BANK_FEES_ATM_FEES", later)])  # an empty merchant key
    lake.delta(CATEGORY_OVERRIDES).delete("user_id = 'u3' AND merchant_key = 'shell oil'")
    upsert_rows(lake, MERCHANT_RULES, [
        {"merchant_key": "netflix", "category": "ENTERTAINMENT_MUSIC_AND_AUDIO",
         "source": "seed", "version": 2},  # changed
        {"merchant_key": "starbucks", "category": "FOOD_AND_DRINK_OTHER_FOOD_AND_DRINK",
         "source": "seed", "version": 2},  # changed, and overridden by u1 and u2 (both parts)
        {"merchant_key": "zzqx", "category": "GENERAL_SERVICES_STORAGE", "source": "crowd",
         "version": 2, "votes": 4}])  # added
    lake.delta(MERCHANT_RULES).delete("merchant_key = 'kroger'")  # removed


def publish_model(lake: Lake) -> None:
    import pandas as pd

    from pipelines.categories.model import CategoryModel

    pairs = pd.DataFrame({
        "merchant_key": ["joes coffee", "coffee corner", "bean coffee bar", "gas n go",
                         "quick gas", "fuel stop gas"],
        "category": ["FOOD_AND_DRINK_COFFEE"] * 3 + ["TRANSPORTATION_GAS"] * 3,
        "users": [5] * 6})
    models.save(lake.store, "m2", CategoryModel.fit(pairs).to_json(), {})
    models.publish(lake.store, "m2")


def previous_refresh(spark, lake: Lake, sync_date: date) -> tuple[list[str], int]:
    """The implementation this replaced (ea5e8ca), verbatim but for the per-transaction step
    (unchanged): every changed row in one MERGE over all the months they live in."""
    state = recat._load_state(lake)
    overrides = delta.read_table(spark, lake, CATEGORY_OVERRIDES)
    rules_version = lake.delta(MERCHANT_RULES).version()
    model_version = models.current_version(lake.store)
    silver = delta.read_table(spark, lake, TRANSACTIONS)
    parts = []
    since = state.get("overrides_at", recat.EPOCH)
    new_overrides = overrides.filter(F.col("created_at") > F.lit(since).cast("timestamp"))
    newest = new_overrides.agg(F.max("created_at")).collect()[0][0]
    if newest is not None:
        keys = new_overrides.select("user_id", "merchant_key")
        parts.append(silver.join(keys, ["user_id", "merchant_key"], "left_semi"))
    if state.get("rules_version") != rules_version:
        before = recat._rules_at(lake, state.get("rules_version"))
        now = recat._rules_at(lake, rules_version)
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            parts.append(silver.filter(F.col("merchant_key").isin(changed)))
    if state.get("model_version") != model_version:
        parts.append(silver.filter(F.col("category_source").isin("model", "none")))
    months, written = [], 0
    if parts:
        affected = parts[0]
        for p in parts[1:]:
            affected = affected.unionByName(p)
        affected = affected.dropDuplicates(list(TRANSACTIONS.keys))
        old = affected.select(*TRANSACTIONS.keys, "posted_month",
                              *[F.col(c).alias(f"_old_{c}") for c in CATEGORY_COLUMNS])
        new = categorise(affected.select(*TRANSACTIONS.keys, "user_id", "merchant_key",
                                         "description"), **engine_inputs(spark, lake))
        diff = new.join(old, list(TRANSACTIONS.keys)).filter(" OR ".join(
            f"NOT ({c} <=> _old_{c})" for c in CATEGORY_COLUMNS))
        cols = [*TRANSACTIONS.keys, "user_id", "posted_month", *CATEGORY_COLUMNS]
        rows = diff.select(*cols).collect()
        if rows:
            pinned = spark.createDataFrame(rows, schema=diff.select(*cols).schema)
            months = sorted({r["posted_month"] for r in rows})
            from pipelines.silver.changes import log_changes

            log_changes(spark, lake, sync_date, pinned.select(
                "user_id", F.col("posted_month").alias("month")))
            sets = ", ".join(f"t.{c} = s.{c}" for c in CATEGORY_COLUMNS)
            delta.run_merge(spark, lake, TRANSACTIONS, pinned,
                            [f"WHEN MATCHED THEN UPDATE SET {sets}"], partitions=months)
            written = len(rows)
    lake.store.put(recat.STATE_KEY, json.dumps({
        "overrides_at": newest.isoformat() if newest is not None else since,
        "rules_version": rules_version, "model_version": model_version}).encode())
    txn_months, txn_rows = recat.apply_transaction_overrides(spark, lake, sync_date)
    months = sorted(set(months) | set(txn_months))
    return [m for m in months if m != "unseen"], written + txn_rows


def silver(lake: Lake) -> dict[tuple[str, str], dict]:
    return {(r["account_id"], r["partner_txn_id"]): r for r in read_rows(lake, TRANSACTIONS)}


def added_months(lake: Lake, since: int) -> list[str]:
    """The partitions of every data file the commits after version ``since`` added."""
    log = Path(lake.uri(TRANSACTIONS).removeprefix("file://")) / "_delta_log"
    out = []
    for v in range(since + 1, lake.delta(TRANSACTIONS).version() + 1):
        for line in (log / f"{v:020d}.json").read_text().splitlines():
            add = json.loads(line).get("add")
            if add:
                out.append(add["partitionValues"]["posted_month"])
    return sorted(out)


def gold_cells(lake: Lake) -> list[tuple]:
    return sorted((r["user_id"], r["month"]) for r in read_rows(lake, GOLD_CHANGES)
                  if r["sync_date"] == DAY)


def test_recategorise_writes_only_changed_months_and_equals_previous(
        spark, tmp_path: Path, monkeypatch) -> None:
    base = build_lake(spark, tmp_path / "base")
    change_overrides_and_rules(base)
    lakes = {}
    for name in ("previous", "one_merge", "merge_per_month"):
        shutil.copytree(base.root, tmp_path / name)
        lakes[name] = Lake(str(tmp_path / name))
    before = silver(base)
    step_results: dict[str, list] = {name: [] for name in lakes}
    for step in ("overrides and rules", "new model"):
        if step == "new model":
            for lake in lakes.values():
                publish_model(lake)
        for name, lake in lakes.items():
            v0 = lake.delta(TRANSACTIONS).version()
            monkeypatch.setattr(recat, "MERGE_ROWS", 1 if name == "merge_per_month" else 10**9)
            run = previous_refresh if name == "previous" else recat.refresh_categories
            result = run(spark, lake, DAY)
            commits = lake.delta(TRANSACTIONS).version() - v0
            step_results[name].append((result, added_months(lake, v0), commits))
        prev = silver(lakes["previous"])
        changed = {k for k in prev if any(prev[k][c] != before[k][c] for c in CATEGORY_COLUMNS)}
        changed_months = sorted({prev[k]["posted_month"] for k in changed})
        assert changed and step_results["previous"][-1][0] == (changed_months, len(changed))
        for name in ("one_merge", "merge_per_month"):
            assert silver(lakes[name]) == prev, (step, name)
            assert step_results[name][-1][0] == step_results["previous"][-1][0], (step, name)
            assert gold_cells(lakes[name]) == gold_cells(lakes["previous"]), (step, name)
            # Files only in the months a row changed in (none in the unseen partition)...
            assert set(step_results[name][-1][1]) == set(changed_months), (step, name)
        if step == "overrides and rules":
            assert not set(UNTOUCHED) & set(changed_months)  # ...and none in these
        assert step_results["one_merge"][-1][2] == 1
        assert step_results["merge_per_month"][-1][2] == len(changed_months)
        before = prev
    manual = {k: r["user_category"] for k, r in silver(base).items()}
    assert {k: r["user_category"] for k, r in silver(lakes["one_merge"]).items()} == manual
    assert any(manual.values())
    for lake in lakes.values():  # gold from the logged cells: the same in every lake
        refresh_gold(spark, lake, changed_cells(spark, lake, DAY), DAY)
    spend = {n: sorted(tuple(sorted(r.items())) for r in read_rows(lake, MONTHLY_SPEND))
             for n, lake in lakes.items()}
    assert spend["previous"] and spend["one_merge"] == spend["previous"] \
        == spend["merge_per_month"]
    for lake in lakes.values():  # applied once: a second run writes nothing
        v = lake.delta(TRANSACTIONS).version()
        assert recat.refresh_categories(spark, lake, DAY) == ([], 0)
        assert lake.delta(TRANSACTIONS).version() == v


def test_month_groups_bound_the_rows_of_one_merge(spark, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_table(lake, TRANSACTIONS, silver_rows())
    per_month = {}
    for r in silver_rows():
        per_month[r["posted_month"]] = per_month.get(r["posted_month"], 0) + 1
    months = sorted(per_month)
    assert recat.month_groups(lake, months, limit=10**9) == [months]
    assert recat.month_groups(lake, months, limit=1) == [[m] for m in months]
    groups = recat.month_groups(lake, months, limit=max(per_month.values()) * 2)
    assert [m for g in groups for m in g] == months and 1 < len(groups) < len(months)
    assert all(sum(per_month[m] for m in g) <= max(per_month.values()) * 2 for g in groups)
    assert recat.month_groups(lake, ["2031-01"]) == [["2031-01"]]  # a month with no file
