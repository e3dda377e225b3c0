"""``finlake split set|clear|show``: share one of a person's transactions between categories
(the dashboard's Transactions page does the same).

Amounts follow the lake's sign, as ``finlake sql`` shows them: positive is money out. A
50.00 purchase is ``FOOD_AND_DRINK_GROCERIES=30 GENERAL_MERCHANDISE_SUPERSTORES=20``; a part
of the other sign (a refund inside a purchase) is allowed when the parts add up exactly.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake


def _lake(settings: Settings) -> Lake:
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def split_set(settings: Settings, user_id: str, txn_id: str, parts: list[str]) -> int:
    """Split the transaction into ``parts`` (``CATEGORY=AMOUNT``), under the writer lease:
    everything is checked before the one commit; a refusal prints one line."""
    from assets.runs import writing
    from finlake.preflight import refuse_unknown_user
    from lake.audit_log import cli_actor
    from pipelines.corrections.split_parts import SplitError, parse_assignments
    from pipelines.corrections.splits import set_split

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, "split set"):
        return 2
    try:
        wanted = parse_assignments(parts)
        with writing(settings, "split", lake):
            saved = set_split(lake, user_id, txn_id, wanted, actor=cli_actor(), source="cli")
    except SplitError as exc:
        print(f"finlake split set: {exc}", file=sys.stderr)
        return 2
    out = {"user_id": user_id, **saved.as_dict()}
    if saved.txn_id != txn_id:
        out["pending_txn_id"] = txn_id  # the pending transaction has posted as txn_id
    print(json.dumps(out))
    return 0


def split_clear(settings: Settings, user_id: str, txn_id: str) -> int:
    from assets.runs import writing
    from finlake.preflight import refuse_unknown_user
    from lake.audit_log import cli_actor
    from pipelines.corrections.splits import clear_split

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, "split clear"):
        return 2
    with writing(settings, "split", lake):
        cleared = clear_split(lake, user_id, txn_id, actor=cli_actor())
    print(json.dumps({"user_id": user_id, "txn_id": txn_id, "cleared": cleared}))
    return 0


def split_show(settings: Settings, user_id: str, txn_id: str) -> int:
    from finlake.preflight import refuse_unknown_user
    from pipelines.corrections.splits import split_of

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, "split show"):
        return 2
    found = split_of(lake, user_id, txn_id)
    print(json.dumps({"user_id": user_id, "txn_id": txn_id, "split": None} if found is None
                     else {"user_id": user_id, **found.as_dict()}))
    return 0


def register(sub: Subparsers) -> None:
    split = sub.add_parser("split", help="split a person's transaction between categories")
    split_sub = split.add_subparsers(dest="split_command", required=True)
    st = split_sub.add_parser("set", help="split a transaction (replacing any split it has)")
    st.add_argument("--user", required=True)
    st.add_argument("--transaction", required=True, metavar="TXN_ID")
    st.add_argument("parts", nargs="+", metavar="CATEGORY=AMOUNT",
                    help="2 to 20 parts adding up exactly to the transaction's amount "
                         "(positive is money out, at most 2 decimals), e.g. "
                         "FOOD_AND_DRINK_GROCERIES=30.00 GENERAL_MERCHANDISE_SUPERSTORES=20")
    st.set_defaults(handler=lambda settings, args: split_set(
        settings, args.user, args.transaction, args.parts))
    for verb, what, run in (("clear", "remove a transaction's split", split_clear),
                            ("show", "a transaction's split and whether it still counts",
                             split_show)):
        p = split_sub.add_parser(verb, help=what)
        p.add_argument("--user", required=True)
        p.add_argument("--transaction", required=True, metavar="TXN_ID")
        p.set_defaults(handler=lambda settings, args, run=run: run(
            settings, args.user, args.transaction))
