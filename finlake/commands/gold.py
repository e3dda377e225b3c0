"""``finlake budget`` and ``finlake gold``: budgets people set, rebuilds, alert delivery."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from finlake.commands.args import iso_date

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers


def _primary(text: str) -> str | None:
    """A primary category from its code or display name (any case)."""
    from pipelines.categories.reference import categories

    wanted = text.strip().lower()
    for c in categories():
        if wanted in (c["category_primary"].lower(), c["primary_display_name"].lower()):
            return c["category_primary"]
    return None


def _primaries() -> str:
    from pipelines.categories.reference import categories

    return ", ".join(sorted({c["category_primary"] for c in categories()}))


def budget_set(settings: Settings, user_id: str, category: str, amount: str | None) -> int:
    """Set (``amount``) or clear (``None``) a user's monthly budget for a primary category,
    then refresh that user's budget progress (and alerts) for the current month."""
    from finlake.preflight import refuse_unknown_user
    from lake.lake import Lake
    from lake.small_tables import upsert_rows
    from lake.tables import BUDGETS

    primary = _primary(category)
    if primary is None:
        print(f"finlake budget: {category!r} is not a primary category; use one of "
              f"{_primaries()} (or its display name)", file=sys.stderr)
        return 2
    value = None
    if amount is not None:
        try:
            value = Decimal(amount).quantize(Decimal("0.01"))
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or value <= 0 or value >= Decimal("1e12"):
            print(f"finlake budget: {amount!r} is not a positive amount, e.g. 400 or 250.50",
                  file=sys.stderr)
            return 2
    lake = Lake(settings.lake_root, settings.s3_endpoint)
    if refuse_unknown_user(lake, user_id, "budget"):
        return 2
    if value is None:
        dt = lake.delta(BUDGETS)
        if dt is not None:
            from lake.delta import sql_literal

            dt.delete(f"user_id = {sql_literal(user_id)} AND "
                      f"category_primary = {sql_literal(primary)}")
    else:
        upsert_rows(lake, BUDGETS, [{"user_id": user_id, "category_primary": primary,
                                     "amount": value, "set_by": "cli",
                                     "set_at": datetime.now(UTC)}])
    from lake.audit_log import audit, cli_actor

    audit(lake, cli_actor(), "clear_budget" if value is None else "set_budget", user_id,
          category_primary=primary, amount=None if value is None else str(value))
    row = _refresh_user(settings, lake, user_id, primary)
    print(json.dumps({"user_id": user_id, "category_primary": primary,
                      "budget": str(value) if value is not None else "cleared", **row}))
    return 0


def _refresh_user(settings: Settings, lake, user_id: str, primary: str) -> dict:  # noqa: ANN001
    from assets.resources import spark_resource
    from assets.runs import writing
    from pipelines.gold.refresh import refresh_budgets
    from pipelines.silver.refresh import latest_sync_day

    with writing(settings, "budget_refresh", lake):
        spark = spark_resource(settings).session()
        as_of = latest_sync_day(spark, lake)
        users = spark.createDataFrame([(user_id,)], "user_id string")
        _, alerts = refresh_budgets(spark, lake, users, as_of, settings.budget_approaching)
    from lake.small_tables import read_rows
    from lake.tables import BUDGET_PROGRESS

    for r in read_rows(lake, BUDGET_PROGRESS):
        if (r["user_id"], r["month"], r["category_primary"]) == (
                user_id, as_of.strftime("%Y-%m"), primary):
            return {"month": r["month"], "effective_budget": str(r["budget"]),
                    "source": r["budget_source"], "spent": str(r["spent"]),
                    "state": r["state"], "new_alerts": len(alerts)}
    return {"month": as_of.strftime("%Y-%m"), "state": "no spend and no budget"}


def budget_show(settings: Settings, user_id: str) -> int:
    """The user's budgets for the newest month: effective budget, source, spent, state."""
    from finlake.preflight import refuse_unknown_user
    from lake.duck import available_tables, connect
    from lake.lake import Lake

    lake = Lake(settings.lake_root, settings.s3_endpoint)
    if refuse_unknown_user(lake, user_id, "budget"):
        return 2
    con = connect(lake)
    rows = con.execute(
        "SELECT month, category_primary, budget, budget_source, spent, state "
        "FROM budget_progress WHERE user_id = ? AND month = (SELECT max(month) FROM "
        "budget_progress WHERE user_id = ?) ORDER BY category_primary",
        [user_id, user_id]).fetchall() if "budget_progress" in available_tables(con) else []
    if not rows:
        print(f"finlake budget: no budget progress for user {user_id!r} yet (run the nightly "
              "job first, or check the user id)", file=sys.stderr)
        return 2
    print(f"{'month':8} {'category':22} {'budget':>10} {'source':9} {'spent':>10} state")
    for month, cat, budget, source, spent, state in rows:
        print(f"{month:8} {cat:22} {budget or '-':>10} {source:9} {spent:>10} {state}")
    return 0


def gold_rebuild(settings: Settings, as_of: date | None) -> int:
    """Recompute every gold spend cell from silver (a repair; the nightly run is incremental)."""
    from assets.resources import spark_resource
    from assets.runs import writing
    from lake.lake import Lake
    from pipelines.categories.refresh import seed_reference
    from pipelines.gold.refresh import rebuild_gold
    from pipelines.silver.refresh import latest_sync_day

    t0 = time.perf_counter()
    lake = Lake(settings.lake_root, settings.s3_endpoint)
    with writing(settings, "gold_rebuild", lake):
        spark = spark_resource(settings).session()
        seed_reference(spark, lake)
        as_of = as_of or latest_sync_day(spark, lake)
        print(f"rebuilding gold as of {as_of} ...", flush=True)
        result = rebuild_gold(spark, lake, as_of)
    print(json.dumps({"as_of": str(as_of), "cells": result.cells,
                      "rows_changed": result.rows_changed, "budget_alerts": len(result.alerts),
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


def alerts_deliver(settings: Settings) -> int:
    from lake.lake import Lake
    from pipelines.health.alerts import deliver

    out = deliver(Lake(settings.lake_root, settings.s3_endpoint), settings.alert_sink)
    print(json.dumps({"delivered": len(out.sent), "not_delivered": len(out.failed),
                      "sink": settings.alert_sink if settings.alert_sink == "log" else "webhook"}))
    return 0 if not out.failed else 1


def register(sub: Subparsers) -> None:
    bud = sub.add_parser("budget", help="set, clear or show a user's monthly budgets")
    bud_sub = bud.add_subparsers(dest="budget_command", required=True)
    bset = bud_sub.add_parser("set", help="set a monthly budget (overrides the recommendation)")
    bset.add_argument("--user", required=True)
    bset.add_argument("--category", required=True,
                      help='primary category code or name, e.g. FOOD_AND_DRINK or "Food & drink"')
    bset.add_argument("--amount", required=True, help="per month, e.g. 400")
    bset.set_defaults(handler=lambda settings, args: budget_set(
        settings, args.user, args.category, args.amount))
    bclear = bud_sub.add_parser("clear", help="drop a budget (back to the recommendation)")
    bclear.add_argument("--user", required=True)
    bclear.add_argument("--category", required=True)
    bclear.set_defaults(handler=lambda settings, args: budget_set(
        settings, args.user, args.category, None))
    bshow = bud_sub.add_parser("show", help="budgets and progress for the newest month")
    bshow.add_argument("--user", required=True)
    bshow.set_defaults(handler=lambda settings, args: budget_show(settings, args.user))

    gold = sub.add_parser("gold", help="gold maintenance: full rebuild, alert delivery")
    gold_sub = gold.add_subparsers(dest="gold_command", required=True)
    rebuild = gold_sub.add_parser("rebuild", help="recompute every gold spend cell from silver")
    rebuild.add_argument("--as-of", type=iso_date, default=None,
                         help="budget day, YYYY-MM-DD (default: newest sync day)")
    rebuild.set_defaults(handler=lambda settings, args: gold_rebuild(settings, args.as_of))
    deliver = gold_sub.add_parser("deliver-alerts",
                                  help="send unsent alerts to FINLAKE_ALERT_SINK")
    deliver.set_defaults(handler=lambda settings, args: alerts_deliver(settings))
