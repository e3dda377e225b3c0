"""``finlake rule add|list|test|remove|move``: a person's categorisation rules.

Edits are checked before anything is written (a refused one writes nothing), hold the writer
lease and leave an audit row; the nightly (or ``finlake nightly --replay``) applies them to
past transactions. ``rule test`` is the dry-run: the past transactions a rule would change.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake

APPLIED = "on the next nightly run (or finlake nightly --replay)"
# Stored, listed and previewed, but nothing shows them yet (the transaction list and gold).
NOT_YET = ("merchant_name", "hide_from_budgets")


def _lake(settings: Settings) -> Lake:
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def _say(command: str, problem: str) -> int:
    print(f"finlake rule {command}: {problem}; nothing was changed", file=sys.stderr)
    return 2


def _rule_args(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    conditions: dict[str, Any] = {}
    for field in ("description", "merchant"):
        for op in ("contains", "starts_with", "matches"):
            value = getattr(args, f"{field}_{op}")
            if value is not None:
                conditions[field] = {"op": op, "value": value}
    conditions.update({k: v for k, v in (
        ("amount_min", args.amount_min), ("amount_max", args.amount_max),
        ("account_id", args.account), ("direction", args.direction)) if v is not None})
    actions = {"category": args.category, "transfer": args.transfer,
               "merchant_name": args.merchant_name, "hide_from_budgets": args.hide_from_budgets}
    return conditions, actions


def _proposed(lake: Lake, args: argparse.Namespace, source: str = "cli"
              ) -> tuple[list[dict], dict, list[dict]]:
    """(rules now, the new rule, rules after adding it); RuleError when it cannot be."""
    from pipelines.categories.rule_book import live_rules
    from pipelines.corrections.rules import new_rule, placed

    before = live_rules(lake, args.user)
    rule = new_rule(lake, args.user, *_rule_args(args), args.position, source, before)
    return before, rule, placed(before, rule)


def add(settings: Settings, args: argparse.Namespace) -> int:
    from assets.runs import writing
    from finlake.preflight import refuse_unknown_user
    from lake.audit_log import audit, cli_actor
    from pipelines.categories.rule_checks import RuleError
    from pipelines.corrections.rules import changed_rows, store

    lake = _lake(settings)
    if refuse_unknown_user(lake, args.user, "rule add"):
        return 2
    try:
        with writing(settings, "rule", lake):
            before, rule, after = _proposed(lake, args)
            store(lake, changed_rows(before, after))
            audit(lake, cli_actor(), "add_rule", args.user, position=rule["position"],
                  actions=sorted(json.loads(rule["actions"])), rules=len(after))
    except RuleError as exc:
        return _say("add", str(exc))
    placed_rule = next(r for r in after if r["rule_id"] == rule["rule_id"])
    actions = json.loads(rule["actions"])
    out = {"user_id": args.user, "rule_id": rule["rule_id"],
           "position": placed_rule["position"], "conditions": json.loads(rule["conditions"]),
           "actions": actions, "applied": APPLIED}
    later = [a for a in NOT_YET if a in actions]
    if later:
        out["not_applied_yet"] = later  # kept with the rule; shown nowhere yet
    print(json.dumps(out))
    return 0


def list_rules(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.categories.rule_book import live_rules
    from pipelines.categories.rule_checks import describe

    rules = live_rules(_lake(settings), args.user)
    if args.json:
        for r in rules:
            print(json.dumps({"rule_id": r["rule_id"], "position": r["position"],
                              "conditions": json.loads(r["conditions"]),
                              "actions": json.loads(r["actions"]), "version": r["version"]}))
        return 0
    if not rules:
        print(f"no rules for {args.user}; add one with `finlake rule add`")
    for r in rules:
        print(f"{r['position']:>3}  {r['rule_id']}  "
              f"{describe(json.loads(r['conditions']), json.loads(r['actions']))}")
    return 0


def test(settings: Settings, args: argparse.Namespace) -> int:
    """The dry-run: what adding the rule would change in the person's past transactions."""
    from assets.resources import spark_resource
    from finlake.preflight import refuse_unknown_user
    from pipelines.categories.rule_checks import RuleError
    from pipelines.corrections.rules import dry_run

    lake = _lake(settings)
    if refuse_unknown_user(lake, args.user, "rule test"):
        return 2
    try:
        _, _, after = _proposed(lake, args)
    except RuleError as exc:
        return _say("test", str(exc))
    changes = dry_run(spark_resource(settings).session(), lake, args.user, after)
    if args.json:
        for c in changes:
            print(json.dumps(c, default=str))
        return 0
    print(f"{len(changes)} past transaction(s) would change (nothing was written):")
    for c in changes:
        manual = (f"  (manual category {c['user_category']} stays)" if c["user_category"]
                  else "")
        status = "" if c["status"] == "live" else f"  [{c['status']}]"
        print(f"{str(c['posted_date'] or '-'):<10}  {str(c['description'])[:32]:<32}  "
              f"{str(c['amount']):>10}  {c['category_before'] or '-'} ({c['source_before']}) "
              f"-> {c['category_after'] or '-'} ({c['source_after']}){manual}{status}")
    return 0


def remove(settings: Settings, args: argparse.Namespace) -> int:
    return _edit(settings, args, "remove")


def move(settings: Settings, args: argparse.Namespace) -> int:
    return _edit(settings, args, "move")


def _edit(settings: Settings, args: argparse.Namespace, what: str) -> int:
    from assets.runs import writing
    from lake.audit_log import audit, cli_actor
    from pipelines.categories.rule_book import live_rules
    from pipelines.categories.rule_checks import RuleError
    from pipelines.corrections.rules import changed_rows, find_rule, placed, store

    lake = _lake(settings)
    try:
        with writing(settings, "rule", lake):
            before = live_rules(lake, args.user)
            rule = find_rule(before, args.rule)
            if what == "remove":
                after = placed(before, remove=rule["rule_id"])
                store(lake, changed_rows(before, after, removed=rule))
            else:
                after = placed(before, move=(rule["rule_id"], args.to))
                store(lake, changed_rows(before, after))
            audit(lake, cli_actor(), f"{what}_rule", args.user, rules=len(after))
    except RuleError as exc:
        return _say(what, str(exc))
    print(json.dumps({"user_id": args.user, "rule_id": args.rule, what: True,
                      "order": [r["rule_id"] for r in after], "applied": APPLIED}))
    return 0


def _add_rule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", required=True)
    for field in ("description", "merchant"):
        g = p.add_mutually_exclusive_group()
        g.add_argument(f"--{field}-contains", metavar="TEXT")
        g.add_argument(f"--{field}-starts-with", dest=f"{field}_starts_with", metavar="TEXT")
        g.add_argument(f"--{field}-matches", metavar="PATTERN",
                       help="wildcards: * any run of characters, ? one (no regular expressions)")
    p.add_argument("--amount-min", metavar="AMOUNT", help="size of the amount, at least")
    p.add_argument("--amount-max", metavar="AMOUNT", help="size of the amount, at most")
    p.add_argument("--account", metavar="ACCOUNT_ID", help="one of the person's accounts")
    p.add_argument("--direction", choices=("in", "out"), help="money coming in or going out")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--category", help="PFC v2 detailed code or one of the person's own")
    what.add_argument("--transfer", action="store_true", help="mark as a transfer")
    p.add_argument("--merchant-name", metavar="NAME", help="show the merchant under this name")
    p.add_argument("--hide-from-budgets", action="store_true")
    p.add_argument("--position", type=int, default=None,
                   help="where in the person's order (1 = checked first; default last)")


def register(sub: Subparsers) -> None:
    from finlake.commands.args import positive

    rule = sub.add_parser("rule", help="a person's categorisation rules (first match wins)")
    rule_sub = rule.add_subparsers(dest="rule_command", required=True)
    a = rule_sub.add_parser("add", help="add a rule (applied to past rows on the next nightly)")
    _add_rule_args(a)
    a.set_defaults(handler=add)
    t = rule_sub.add_parser("test", help="dry-run: the past transactions a rule would change")
    _add_rule_args(t)
    t.add_argument("--json", action="store_true", help="one JSON object per transaction")
    t.set_defaults(handler=test)
    ls = rule_sub.add_parser("list", help="a person's rules in order")
    ls.add_argument("--user", required=True)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_rules)
    rm = rule_sub.add_parser("remove", help="remove a rule")
    rm.add_argument("--user", required=True)
    rm.add_argument("--rule", required=True, metavar="RULE_ID")
    rm.set_defaults(handler=remove)
    mv = rule_sub.add_parser("move", help="move a rule to another place in the order")
    mv.add_argument("--user", required=True)
    mv.add_argument("--rule", required=True, metavar="RULE_ID")
    mv.add_argument("--to", required=True, type=positive, metavar="POSITION")
    mv.set_defaults(handler=move)
