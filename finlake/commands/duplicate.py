"""``finlake duplicate list`` and ``finlake duplicate keep``: transactions a partner re-sent
under a new id (probable duplicates, counted once), and a person's "not a duplicate"."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake

TXN_ID = re.compile(r"[0-9a-f]{32}")  # silver's txn_id: a hash of account and partner id
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _lake(settings: Settings) -> Lake:
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def txn_id(text: str) -> str:
    if not TXN_ID.fullmatch(text):
        shown = text if len(text) <= 40 and text.isprintable() else repr(text[:40]) + "..."
        raise argparse.ArgumentTypeError(
            f"{shown} is not a transaction id (32 hex characters, as `finlake duplicate list` "
            "shows it)")
    return text


def month(text: str) -> str:
    if not MONTH.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a month; use YYYY-MM")
    return text


def _money(value: object) -> str:
    return f"{value:.2f}" if value is not None else ""


def duplicate_list(settings: Settings, user_id: str, months: list[str] | None) -> int:
    """Print (JSON) the person's probable duplicates, each with the transaction it copies,
    and the ones they kept."""
    from finlake.preflight import refuse_unknown_user

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, "duplicate list"):
        return 2
    from assets.resources import spark_resource
    from lake.small_tables import read_rows
    from lake.tables import DUPLICATE_KEEPS
    from pipelines.silver.reissued import duplicate_pairs

    pairs = duplicate_pairs(spark_resource(settings).session(), lake, user_id, months)
    kept = sorted((k for k in read_rows(lake, DUPLICATE_KEEPS) if k["user_id"] == user_id
                   and (not months or k["posted_month"] in months)),
                  key=lambda k: (k["posted_month"], k["txn_id"]))
    print(json.dumps({
        "user_id": user_id,
        "probable_duplicates": [
            {"txn_id": p["txn_id"], "date": str(p["posted_date"]), "amount": _money(p["amount"]),
             "description": p["description"], "duplicate_of": p["duplicate_of_txn_id"]}
            for p in pairs],
        "kept": [{"txn_id": k["txn_id"], "month": k["posted_month"],
                  "kept_at": str(k["created_at"])} for k in kept],
        "hint": "a probable duplicate counts in no total; `finlake duplicate keep --user "
                "USER --transaction TXN_ID` says it is not one, and it counts again"}))
    return 0


def duplicate_keep(settings: Settings, user_id: str, txn: str, actor: str | None = None,
                   as_json: bool = False) -> int:
    """The person says ``txn`` is not a duplicate: it counts again (kept across nights).
    ``actor`` names who asked in the audit log (the dashboard: ``dashboard``); ``as_json``
    prints JSON step lines, as ``finlake link --json`` does."""
    from finlake.preflight import refuse_unknown_user

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, "duplicate keep"):
        if as_json:
            print(json.dumps({"step": "error", "code": "UNKNOWN_USER",
                              "text": f"no user {user_id!r} in this lake"}), flush=True)
        return 2
    from assets.resources import spark_resource
    from assets.runs import writing
    from pipelines.corrections.duplicates import NotFlagged, keep_transaction

    if as_json:
        print(json.dumps({"step": "keeping", "text": "Counting it again"}), flush=True)
    try:
        with writing(settings, "duplicate keep", lake):
            result = keep_transaction(spark_resource(settings).session(), lake, user_id, txn,
                                      source="dashboard" if actor == "dashboard" else "cli")
    except NotFlagged as exc:
        if as_json:
            print(json.dumps({"step": "error", "code": "NOT_FLAGGED",
                              "text": f"{exc}; nothing was changed"}), flush=True)
        print(f"finlake duplicate keep: {exc}; see `finlake duplicate list --user {user_id}`; "
              "nothing was changed", file=sys.stderr)
        return 2
    from lake.audit_log import audit, cli_actor

    audit(lake, actor or cli_actor(), "keep_duplicate", user_id)
    if as_json:
        print(json.dumps({"step": "kept", "text": "Kept: it is not a duplicate and counts "
                          "again", **result}), flush=True)
    else:
        print(json.dumps(result))
    return 0


def register(sub: Subparsers) -> None:
    dup = sub.add_parser("duplicate", help="transactions a bank re-sent under a new id")
    dup_sub = dup.add_subparsers(dest="duplicate_command", required=True)
    ls = dup_sub.add_parser("list", help="a person's probable duplicates (JSON)")
    ls.add_argument("--user", required=True)
    ls.add_argument("--month", type=month, action="append", default=None,
                    help="only this month, YYYY-MM (repeatable)")
    ls.set_defaults(handler=lambda settings, args: duplicate_list(
        settings, args.user, args.month))
    keep = dup_sub.add_parser("keep", help="say a flagged transaction is not a duplicate: "
                                           "it counts again")
    keep.add_argument("--user", required=True)
    keep.add_argument("--transaction", required=True, type=txn_id, metavar="TXN_ID")
    keep.add_argument("--json", action="store_true", help="one JSON object per step")
    keep.add_argument("--actor", help="who asks, for the audit log (default: cli:<os user>)")
    keep.set_defaults(handler=lambda settings, args: duplicate_keep(
        settings, args.user, args.transaction, args.actor, args.json))
