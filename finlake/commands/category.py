"""``finlake override``, ``finlake category add``, ``categorise-eval``, ``sandbox-labelled``."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from finlake.commands.args import MAX_DAYS, MAX_USERS, count, fraction

if TYPE_CHECKING:
    import argparse

    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake


def _lake(settings: Settings) -> Lake:
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def known_categories(lake: Lake, user_id: str | None) -> set[str]:
    from lake.small_tables import read_rows
    from lake.tables import CUSTOM_CATEGORIES
    from pipelines.categories.reference import categories

    codes = {c["category"] for c in categories()}
    codes |= {c["category"] for c in read_rows(lake, CUSTOM_CATEGORIES)
              if c["user_id"] == user_id}
    return codes


def add_category(settings: Settings, user_id: str, name: str, primary: str) -> int:
    from finlake.preflight import refuse_unknown_user
    from lake.small_tables import upsert_rows
    from lake.tables import CUSTOM_CATEGORIES
    from pipelines.categories.reference import categories

    primaries = sorted({c["category_primary"] for c in categories()})
    if primary not in primaries:
        print(f"finlake category add: --primary must be one of: {', '.join(primaries)}",
              file=sys.stderr)
        return 2
    slug = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
    if not slug:
        print("finlake category add: --name needs letters or digits", file=sys.stderr)
        return 2
    code = f"CUSTOM_{slug}"
    if refuse_unknown_user(_lake(settings), user_id, "category add"):
        return 2
    upsert_rows(_lake(settings), CUSTOM_CATEGORIES, [{
        "user_id": user_id, "category": code, "category_primary": primary,
        "display_name": name.strip(), "created_at": datetime.now(UTC)}])
    from lake.audit_log import audit, cli_actor

    audit(_lake(settings), cli_actor(), "add_category", user_id, primary=primary)
    print(json.dumps({"user_id": user_id, "category": code, "primary": primary}))
    return 0


def override(settings: Settings, user_id: str, category: str, merchant: str | None,
             txn_id: str | None) -> int:
    """Always categorise a merchant as ... (per user), or set one transaction's category."""
    from finlake.preflight import refuse_unknown_user

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, "override"):
        return 2
    if category not in known_categories(lake, user_id):
        print(f"finlake override: unknown category {category!r}; use a PFC v2 detailed code "
              "(see `finlake sql \"SELECT category, display_name FROM categories\"`) or add "
              "your own with `finlake category add`", file=sys.stderr)
        return 2
    if merchant is not None:
        from lake.small_tables import upsert_rows
        from lake.tables import CATEGORY_OVERRIDES
        from pipelines.categories.merchants import normalise_key

        key = normalise_key(merchant)
        if not key:
            print(f"finlake override: {merchant!r} has no merchant name in it", file=sys.stderr)
            return 2
        upsert_rows(lake, CATEGORY_OVERRIDES, [{
            "user_id": user_id, "merchant_key": key, "category": category, "source": "cli",
            "created_at": datetime.now(UTC)}])
        from lake.audit_log import audit, cli_actor

        audit(lake, cli_actor(), "override_merchant", user_id, category=category)
        print(json.dumps({"user_id": user_id, "merchant_key": key, "category": category,
                          "applied": "on the next nightly run (or finlake nightly --replay)"}))
        return 0
    from assets.resources import spark_resource
    from assets.runs import writing
    from pipelines.corrections.user_category import set_user_category

    with writing(settings, "override", lake):
        months = set_user_category(spark_resource(settings).session(), lake, user_id,
                                   str(txn_id), category)
    if not months:
        print(f"finlake override: no transaction {txn_id!r} for user {user_id!r}",
              file=sys.stderr)
        return 2
    from lake.small_tables import upsert_rows
    from lake.tables import TRANSACTION_OVERRIDES

    # recorded like the dashboard's, so the nightly apply agrees with it (never reverts it)
    upsert_rows(lake, TRANSACTION_OVERRIDES, [{
        "user_id": user_id, "txn_id": str(txn_id), "category": category, "source": "cli",
        "created_at": datetime.now(UTC), "posted_month": months[0]}])
    from lake.audit_log import audit, cli_actor

    audit(lake, cli_actor(), "override_transaction", user_id, category=category)
    print(json.dumps({"user_id": user_id, "txn_id": txn_id, "user_category": category,
                      "months_refreshed": months}))
    return 0


def categorise_eval(settings: Settings, path: Path, threshold: float,
                    predictions: Path | None = None) -> int:
    """Run the engine (rules -> model) on a labelled CSV; print accuracy, coverage,
    primary-level accuracy, abstention on should-stay-uncategorised lines and macro-F1;
    ``predictions``: write each line's category, source and confidence there (CSV)."""
    from assets.resources import spark_resource
    from lake import models
    from pipelines.categories.categorise import categorise
    from pipelines.categories.evaluation import evaluate, read_labelled_csv
    from pipelines.categories.merchants import normalise
    from pipelines.categories.refresh import engine_inputs, seed_reference

    try:
        labelled = read_labelled_csv(path)
        if predictions is not None:
            _writable(predictions)
    except (OSError, ValueError) as exc:
        print(f"finlake categorise-eval: {exc}", file=sys.stderr)
        return 2
    spark, lake = spark_resource(settings).session(), _lake(settings)
    seed_reference(spark, lake)
    rows = spark.createDataFrame(
        [("eval", str(i), normalise(d).key, d, float(a)) for i, (d, a) in
         enumerate(zip(labelled["description"], labelled["amount"], strict=True))],
        schema="user_id string, row_id string, merchant_key string, description string, "
               "amount double")
    inputs = engine_inputs(spark, lake)
    inputs["overrides"] = inputs["overrides"].limit(0)  # no user of the lake owns these rows
    out = categorise(rows, **inputs, threshold=threshold)
    got = {r["row_id"]: r for r in out.collect()}
    preds = [got[str(i)]["category"] for i in range(len(labelled))]
    sources = [got[str(i)]["category_source"] for i in range(len(labelled))]
    metrics = evaluate(list(labelled["category"]), preds)
    summary = {k: metrics[k] for k in ("accuracy", "coverage", "accuracy_on_covered",
                                       "primary_accuracy", "abstention", "should_abstain",
                                       "macro_f1")}
    summary.update(rows=len(labelled), threshold=threshold,
                   model_version=models.current_version(lake.store),
                   by_source={s: sources.count(s) for s in sorted(set(sources))})
    if predictions is not None:
        _write_predictions(predictions, labelled, [got[str(i)] for i in range(len(labelled))])
        summary["predictions"] = str(predictions)
    print(json.dumps(summary))
    return 0


PREDICTION_HEADER = ("description", "amount", "category", "merchant_key", "predicted",
                     "source", "confidence", "correct")


def _writable(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: not a regular file; give a CSV path for --predictions")
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent}: no such directory for --predictions")


def _write_predictions(path: Path, labelled: object, rows: list) -> None:
    """One line per labelled line: its label, merchant key, what the engine said (category,
    source, confidence) and whether that is right (an abstention is right on UNCATEGORISED).
    Written to a temporary file and renamed, so a failure leaves no half-written file."""
    import csv
    import os
    import tempfile

    from pipelines.categories.evaluation import UNCATEGORISED

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(PREDICTION_HEADER)
            for (desc, amount, label), r in zip(
                    labelled[["description", "amount", "category"]].itertuples(index=False),
                    rows, strict=True):
                pred = r["category"]
                right = pred is None if label == UNCATEGORISED else pred == label
                conf = r["category_confidence"]
                w.writerow((desc, amount, label, r["merchant_key"], pred or "",
                            r["category_source"], "" if conf is None else round(conf, 4),
                            int(right)))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def sandbox_labelled(out: Path, seed: int, users: int, days: int) -> int:
    from datetime import timedelta

    from connectors.sandbox_bank.labelled import labelled_transactions, write_labelled_csv

    end = datetime.now(UTC).date()
    df = labelled_transactions(seed, users, end - timedelta(days=days), end)
    write_labelled_csv(df, out)
    print(f"wrote {len(df)} labelled transactions to {out}")
    return 0


def _categorise_eval(settings: Settings, args: argparse.Namespace) -> int:
    return categorise_eval(settings, args.file, settings.category_threshold
                           if args.threshold is None else args.threshold, args.predictions)


def register(sub: Subparsers) -> None:
    ov = sub.add_parser("override", help="set a category: for a merchant, or one transaction")
    ov.add_argument("--user", required=True)
    target = ov.add_mutually_exclusive_group(required=True)
    target.add_argument("--merchant", help='always categorise this merchant, e.g. "Blue Bottle"')
    target.add_argument("--txn", help="txn_id of one transaction (manual, never auto-changed)")
    ov.add_argument("--category", required=True, help="PFC v2 detailed code or a custom one")
    ov.set_defaults(handler=lambda settings, args: override(
        settings, args.user, args.category, args.merchant, args.txn))

    cat = sub.add_parser("category", help="custom categories")
    cat_sub = cat.add_subparsers(dest="category_command", required=True)
    add = cat_sub.add_parser("add", help="add a custom category for a user")
    add.add_argument("--user", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--primary", required=True, help="taxonomy primary, e.g. FOOD_AND_DRINK")
    add.set_defaults(handler=lambda settings, args: add_category(
        settings, args.user, args.name, args.primary))

    ev = sub.add_parser("categorise-eval", help="evaluate categorisation on a labelled CSV")
    ev.add_argument("file", type=Path, help="CSV with header description,amount,category "
                    "(optionally ,merchant); category UNCATEGORISED marks a line that should "
                    "stay uncategorised")
    ev.add_argument("--predictions", type=Path, default=None, metavar="OUT.csv",
                    help="write each line's predicted category, source and confidence here")
    ev.add_argument("--threshold", type=fraction, default=None,
                    help="model confidence threshold, 0 to 1 (default FINLAKE_CATEGORY_THRESHOLD)")
    ev.set_defaults(handler=_categorise_eval)

    lab = sub.add_parser("sandbox-labelled", help="export a labelled CSV from the sandbox world")
    lab.add_argument("--out", type=Path, required=True)
    lab.add_argument("--seed", type=int, default=99, help="world seed (the demo uses 7)")
    lab.add_argument("--users", type=count(MAX_USERS), default=100)
    lab.add_argument("--days", type=count(MAX_DAYS), default=60)
    lab.set_defaults(handler=lambda settings, args: sandbox_labelled(
        args.out, args.seed, args.users, args.days))
