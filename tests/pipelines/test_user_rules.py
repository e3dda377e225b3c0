"""A person's rules: checked before they are stored (hostile input refused), applied between
their merchant overrides and the global rules (never over a manual category), first matching
rule first per action, by the nightly and again on past rows when they change, and a dry-run
that lists exactly what the re-categorisation then writes."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from lake.small_tables import read_rows
from lake.tables import TRANSACTIONS, USER_RULES
from pipelines.categories.categorise import categorise
from pipelines.categories.rule_book import compiled_rules, live_rules
from pipelines.categories.rule_checks import RuleError, checked_rule
from pipelines.categories.user_rules import (
    TRANSFER_IN,
    TRANSFER_OUT,
    decided,
    like,
    like_pattern,
    rule_matches,
)
from pipelines.corrections import rules as edits
from pipelines.corrections.recategorise import refresh_categories

CATS = {"FOOD_AND_DRINK_COFFEE", "FOOD_AND_DRINK_RESTAURANT", "ENTERTAINMENT_TV_AND_MOVIES",
        "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE"}
ACCOUNTS = {"acc_1"}


@pytest.mark.parametrize(("conditions", "actions", "says"), [
    ({"description": {"op": "matches", "value": "(a+)+$"}}, {"category": "FOOD_AND_DRINK_COFFEE"},
     "looks like a regular expression"),
    ({"description": {"op": "contains", "value": "x" * 10_240}},
     {"category": "FOOD_AND_DRINK_COFFEE"}, "10,240 characters"),
    ({"merchant": {"op": "matches", "value": "*a*b*c*d"}}, {"transfer": True}, "at most 3 *"),
    ({"description": {"op": "contains", "value": "uber"}}, {"category": "NOT_A_CODE"},
     "unknown code"),
    ({"account_id": "someone-elses"}, {"category": "FOOD_AND_DRINK_COFFEE"},
     "not one of this person's accounts"),
    ({"amount_min": "50", "amount_max": "10"}, {"hide_from_budgets": True},
     "minimum 50.00 is above the maximum 10.00"),
    ({"amount_min": "lots"}, {"hide_from_budgets": True}, "no amount"),
    ({"direction": "sideways"}, {"hide_from_budgets": True}, "use in"),
    ({}, {"category": "FOOD_AND_DRINK_COFFEE"}, "at least one condition"),
    ({"direction": "in"}, {}, "needs an action"),
    ({"direction": "in"}, {"category": "FOOD_AND_DRINK_COFFEE", "transfer": True}, "not both"),
])
def test_hostile_rules_are_refused_with_a_clear_message(conditions, actions, says) -> None:
    with pytest.raises(RuleError, match=says.replace("*", r"\*")) as err:
        checked_rule(conditions, actions, categories=CATS, accounts=ACCOUNTS)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_patterns_become_escaped_like_patterns() -> None:
    assert like_pattern("contains", "Blue Bottle") == "%blue bottle%"
    assert like_pattern("starts_with", "100%_OK") == "100\\%\\_ok%"
    assert like_pattern("matches", "UBER **TRIP?") == "uber %trip_"
    cond, act = checked_rule({"description": {"op": "contains", "value": "(a+)+$"}},
                             {"transfer": True}, categories=CATS, accounts=ACCOUNTS)
    assert cond["description"]["value"] == "(a+)+$"  # literal text to look for: harmless


@pytest.mark.parametrize(("text", "pattern", "hit"), [
    ("uber trip 123", "uber %trip%", True), ("uber eats", "uber %trip%", False),
    ("100% ok", "100\\%%", True), ("1000 ok", "100\\%%", False), ("ab", "a_", True),
    ("a", "a_", False), ("abcabc", "%abc", True), ("xaxbx", "%a%b%", True),
    ("ba", "%a%b%", False), ("", "%", True), ("aaa", "%aa%aa%", False),
    ("a" * 1000 + "b", "%a%a%a%c", False),  # no backtracking blow-up: one pass per part
])
def test_like_without_regular_expressions(text: str, pattern: str, hit: bool) -> None:
    assert like(text, pattern) is hit


def _rule(user: str, pos: int, cond: dict, act: dict) -> dict:
    return {"user_id": user, "rule_id": f"r{pos}", "position": pos, "deleted": False,
            "conditions": json.dumps(cond), "actions": json.dumps(act), "version": 1}


ROWS = [  # user, account, merchant key, description, merchant, amount
    ("u1", "acc_1", "starbucks", "STARBUCKS 12", "Starbucks", "4.50"),
    ("u1", "acc_1", "netflix", "NETFLIX.COM", "Netflix", "15.99"),
    ("u1", "acc_2", "netflix", "NETFLIX.COM", "Netflix", "15.99"),
    ("u1", "acc_1", "acme", "ACME PAYROLL 100%", None, "-2000.00"),
    ("u1", "acc_1", "acme", "ACME PAYROLL 100%", None, "300.00"),
    ("u1", "acc_1", "zzqx", "ZZQX 9", "Zzqx", "80.00"),
    ("u2", "acc_9", "netflix", "NETFLIX.COM", "Netflix", "15.99"),
]


def test_rules_sit_between_merchant_overrides_and_global_rules(spark) -> None:
    rows = spark.createDataFrame(
        [(*r[:5], float(r[5])) for r in ROWS],
        "user_id string, account_id string, merchant_key string, description string, "
        "merchant string, amount double").withColumn("amount", __import__(
            "pyspark.sql.functions", fromlist=["col"]).col("amount").cast("decimal(18,2)"))
    overrides = spark.createDataFrame([("u1", "starbucks", "FOOD_AND_DRINK_RESTAURANT")],
                                      "user_id string, merchant_key string, category string")
    rules = spark.createDataFrame([("netflix", "ENTERTAINMENT_TV_AND_MOVIES", "seed"),
                                   ("starbucks", "FOOD_AND_DRINK_COFFEE", "seed")],
                                  "merchant_key string, category string, source string")
    mine = compiled_rules(spark, [
        _rule("u1", 1, {"merchant": {"op": "starts_with", "value": "star"}},
              {"category": "FOOD_AND_DRINK_COFFEE"}),
        _rule("u1", 2, {"description": {"op": "matches", "value": "netflix.*"},
                        "account_id": "acc_2"}, {"merchant_name": "Family TV"}),
        _rule("u1", 3, {"merchant": {"op": "contains", "value": "flix"}},
              {"category": "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
               "merchant_name": "Streaming"}),
        _rule("u1", 4, {"description": {"op": "contains", "value": "100%"}}, {"transfer": True}),
        _rule("u1", 5, {"amount_min": "50", "amount_max": "100", "direction": "out"},
              {"hide_from_budgets": True, "category": "FOOD_AND_DRINK_RESTAURANT"}),
    ])
    out = {(r["account_id"], r["merchant_key"], str(r["amount"])):
           (r["category"], r["category_source"], r["category_confidence"])
           for r in categorise(rows, overrides, rules, user_rules=mine).collect()}
    # the person's merchant override wins over their rule
    assert out[("acc_1", "starbucks", "4.50")][:2] == ("FOOD_AND_DRINK_RESTAURANT", "override")
    # their rule wins over the global rule; the other person keeps the global rule
    assert out[("acc_1", "netflix", "15.99")] == (
        "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", "user_rule", 1.0)
    assert out[("acc_9", "netflix", "15.99")][:2] == ("ENTERTAINMENT_TV_AND_MOVIES", "rule")
    # a transfer follows the direction of the money
    assert out[("acc_1", "acme", "-2000.00")][:2] == (TRANSFER_IN, "user_rule")
    assert out[("acc_1", "acme", "300.00")][:2] == (TRANSFER_OUT, "user_rule")
    assert out[("acc_1", "zzqx", "80.00")][:2] == ("FOOD_AND_DRINK_RESTAURANT", "user_rule")
    # first matching rule per action: rule 2 names acc_2's Netflix, rule 3 its category
    acts = {(r["account_id"], str(r["amount"])): (r["_u_category"], r["_u_merchant"],
                                                  r["_u_hidden"])
            for r in rule_matches(rows, mine).collect()}
    assert acts[("acc_2", "15.99")] == ("GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
                                        "Family TV", None)
    assert acts[("acc_1", "15.99")][1] == "Streaming"
    assert acts[("acc_1", "80.00")][2] is True and acts[("acc_1", "300.00")][2] is None
    assert not any(k[0] == "acc_9" for k in acts)  # u2 has no rules: not even looked at
    # the dashboard's plain-Python preview decides the same, row for row
    compiled = [tuple(r) for r in mine.collect()]
    for r in ROWS:
        row = dict(zip(("user_id", "account_id", "merchant_key", "description", "merchant"),
                       r[:5], strict=True), amount=Decimal(r[5]))
        mine_only = [c for c in compiled if c[0] == r[0]]
        cat, name, hidden = decided(mine_only, row)
        assert (cat, name, hidden or None) == acts.get((r[1], r[5]), (None, None, None)), r


# --- the nightly, the re-categorisation and the dry-run, on a lake -------------------------

D1 = date(2026, 1, 10)


@pytest.fixture
def merged(spark, lake):
    from pipelines.categories.refresh import seed_reference
    from pipelines.silver.refresh import merge_partition
    from tests.support.raw_builder import land, page, txn

    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("a", 4.0, "2026-01-10", "STARBUCKS 1"),
        txn("b", 15.99, "2025-12-03", "NETFLIX.COM", merchant="Netflix"),
        txn("c", 15.99, "2026-01-03", "NETFLIX.COM", merchant="Netflix"),
        txn("d", -500.0, "2026-01-05", "TRANSFER FROM SAVINGS", merchant=None),
        txn("e", 30.0, "2026-01-06", "SHELL 22", merchant="Shell")])])
    seed_reference(spark, lake)
    # a rule stored before the night: the nightly's own categorisation applies it
    _edit_add(lake, {"description": {"op": "starts_with", "value": "shell"}},
              {"category": "FOOD_AND_DRINK_RESTAURANT"})
    merge_partition(spark, lake, D1)
    refresh_categories(spark, lake)
    return lake


def _edit_add(lake, cond: dict, act: dict, position: int | None = None) -> list[dict]:
    before = live_rules(lake, "user_0001")
    after = edits.placed(before, edits.new_rule(lake, "user_0001", cond, act, position))
    edits.store(lake, edits.changed_rows(before, after))
    return after


def _silver(lake) -> dict[str, tuple]:
    return {r["partner_txn_id"]: (r["category"], r["category_source"],
                                  r["category_confidence"], r["user_category"])
            for r in read_rows(lake, TRANSACTIONS)}


def _applied(spark, lake, planned: list[dict]) -> None:
    """Re-categorise and hold the dry-run to what it wrote."""
    before = _silver(lake)
    refresh_categories(spark, lake)
    after = _silver(lake)
    written = {k: after[k][:2] for k in after if after[k] != before[k]}
    assert written == {p["txn_id"]: (p["category_after"], p["source_after"]) for p in planned}
    for p in planned:
        assert (p["category_before"], p["source_before"]) == before[p["txn_id"]][:2]


def test_dry_run_lists_exactly_what_the_recategorisation_then_writes(spark, merged) -> None:
    lake = merged
    silver = _silver(lake)
    assert silver["e"][:3] == ("FOOD_AND_DRINK_RESTAURANT", "user_rule", 1.0)  # the nightly
    global_netflix = silver["b"][:2]
    assert global_netflix[1] != "user_rule"
    lake.delta(TRANSACTIONS).update(predicate="partner_txn_id = 'c'",
                                    updates={"user_category": "'FOOD_AND_DRINK_COFFEE'"})
    # a new rule first in the order: previewed, then applied by the next refresh
    before = live_rules(lake, "user_0001")
    rule = edits.new_rule(lake, "user_0001", {"merchant": {"op": "contains", "value": "flix"}},
                          {"category": "ENTERTAINMENT_TV_AND_MOVIES"}, position=1)
    after = edits.placed(before, rule)
    versions = (lake.delta(USER_RULES).version(), lake.delta(TRANSACTIONS).version())
    planned = [{**p, "txn_id": _partner(lake, p["txn_id"])}
               for p in edits.dry_run(spark, lake, "user_0001", after)]
    assert (lake.delta(USER_RULES).version(), lake.delta(TRANSACTIONS).version()) == versions
    # a row with a manual category is recategorised underneath too (the manual one stays)
    assert {p["txn_id"] for p in planned} == {"b", "c"}
    assert next(p for p in planned if p["txn_id"] == "c")["user_category"] \
        == "FOOD_AND_DRINK_COFFEE"
    edits.store(lake, edits.changed_rows(before, after))
    _applied(spark, lake, planned)
    silver = _silver(lake)
    assert silver["c"][3] == "FOOD_AND_DRINK_COFFEE"  # the manual category never changes
    assert silver["b"][:2] == ("ENTERTAINMENT_TV_AND_MOVIES", "user_rule")
    assert [r["position"] for r in live_rules(lake, "user_0001")] == [1, 2]
    # removing it: previewed, then the global layers decide again
    now = live_rules(lake, "user_0001")
    gone = edits.find_rule(now, rule["rule_id"])
    rest = edits.placed(now, remove=gone["rule_id"])
    planned = [{**p, "txn_id": _partner(lake, p["txn_id"])}
               for p in edits.dry_run(spark, lake, "user_0001", rest)]
    assert {p["txn_id"] for p in planned} == {"b", "c"}
    assert all(p["source_after"] != "user_rule" for p in planned)
    edits.store(lake, edits.changed_rows(now, rest, removed=gone))
    _applied(spark, lake, planned)
    assert _silver(lake)["b"][:2] == global_netflix
    assert refresh_categories(spark, lake) == ([], 0)  # applied once
    stored = {r["rule_id"]: r for r in read_rows(lake, USER_RULES)}
    assert stored[rule["rule_id"]]["deleted"] and stored[rule["rule_id"]]["version"] == 2
    shell = next(r for r in stored.values() if r["rule_id"] != rule["rule_id"])
    assert (shell["position"], shell["version"]) == (1, 3)  # 1, moved to 2, back to 1


def _partner(lake, txn_id: str) -> str:
    return next(r["partner_txn_id"] for r in read_rows(lake, TRANSACTIONS)
                if r["txn_id"] == txn_id)


def test_a_lake_without_rules_skips_the_layer(spark, lake) -> None:
    from pipelines.categories.rule_book import user_rules_input
    from pipelines.categories.user_rules import attach_rules

    rows = spark.createDataFrame([("u1", "x")], "user_id string, merchant_key string")
    assert user_rules_input(spark, lake) is None
    assert attach_rules(rows, None) is rows


def test_only_people_whose_rules_changed_are_recategorised(lake) -> None:
    from pipelines.categories.rule_book import changed_rule_users, rules_version

    edits.store(lake, [_rule(u, 1, {"direction": "in"}, {"transfer": True})
                       for u in ("u1", "u2", "u3")])
    v0 = rules_version(lake)
    assert changed_rule_users(lake, None, v0) == ["u1", "u2", "u3"]
    u2 = live_rules(lake, "u2")
    edits.store(lake, edits.changed_rows(u2, edits.placed(u2, remove="r1"), removed=u2[0]))
    u3 = live_rules(lake, "u3")  # stored again unchanged: nothing to redo
    edits.store(lake, [{**u3[0], "updated_at": None}])
    assert changed_rule_users(lake, v0, rules_version(lake)) == ["u2"]
    assert changed_rule_users(lake, v0, v0) == []
    # a version whose files are gone: everyone with a row, never fewer than changed
    assert changed_rule_users(lake, v0 + 99, rules_version(lake)) == ["u1", "u2", "u3"]
