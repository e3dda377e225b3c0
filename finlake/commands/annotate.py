"""``finlake tag add|remove|list`` and ``finlake note set|clear``: a person's tags and note on
one of their transactions (the dashboard's Transactions page sets the same)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake

SOURCE = "cli"


def _lake(settings: Settings) -> Lake:
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def _change(settings: Settings, command: str, user_id: str, txn_id: str,
            write: Callable[[Lake, str, str], dict]) -> int:
    """Check the person and that the transaction is theirs, then ``write(lake, actor, id)``
    under the writer lease (a nightly carrying tags to a posting never runs beside it);
    print what it returns, with the transaction's id, as JSON. A refused change prints one
    line and writes nothing."""
    from assets.runs import writing
    from finlake.preflight import refuse_unknown_user
    from lake.audit_log import cli_actor
    from pipelines.corrections.annotate import AnnotationError, resolve

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, command):
        return 2
    try:
        with writing(settings, "annotate", lake):
            target = resolve(lake, user_id, txn_id)
            done = write(lake, cli_actor(), target)
    except AnnotationError as exc:
        print(f"finlake {command}: {exc}", file=sys.stderr)
        return 2
    out = {"user_id": user_id, "txn_id": target, **done}
    if target != txn_id:
        out["pending_txn_id"] = txn_id  # the pending transaction has posted as txn_id
    print(json.dumps(out))
    return 0


def tag_change(settings: Settings, user_id: str, txn_id: str, tags: list[str],
               remove: bool = False) -> int:
    from pipelines.corrections.annotate import change_tags

    def write(lake: Lake, actor: str, target: str) -> dict:
        key = "remove" if remove else "add"
        after = change_tags(lake, user_id, target, actor=actor, source=SOURCE, **{key: tags})
        return {"tags": after}

    return _change(settings, f"tag {'remove' if remove else 'add'}", user_id, txn_id, write)


def note_set(settings: Settings, user_id: str, txn_id: str, text: str) -> int:
    from pipelines.corrections.annotate import set_note

    if text == "-":
        text = sys.stdin.read()

    def write(lake: Lake, actor: str, target: str) -> dict:
        note = set_note(lake, user_id, target, text, actor=actor, source=SOURCE)
        return {"note_chars": len(note)}

    return _change(settings, "note set", user_id, txn_id, write)


def note_clear(settings: Settings, user_id: str, txn_id: str) -> int:
    from pipelines.corrections.annotate import clear_note

    def write(lake: Lake, actor: str, target: str) -> dict:
        return {"note_cleared": clear_note(lake, user_id, target, actor=actor)}

    return _change(settings, "note clear", user_id, txn_id, write)


def tag_list(settings: Settings, user_id: str, txn_id: str | None, tag: str | None) -> int:
    """One transaction's tags and note; the transactions with ``tag``; or every tag of the
    person with how many transactions have it."""
    import pyarrow.dataset as ds

    from finlake.preflight import refuse_unknown_user
    from lake.small_tables import read_rows
    from lake.tables import TRANSACTION_TAGS, TRANSACTIONS
    from pipelines.corrections.annotate import AnnotationError, annotations_of, resolve
    from pipelines.corrections.annotations import normalise_tag

    lake = _lake(settings)
    if refuse_unknown_user(lake, user_id, "tag list"):
        return 2
    try:
        if txn_id is not None:
            target = resolve(lake, user_id, txn_id)
            found = annotations_of(lake, user_id, [target])[target]
            print(json.dumps({"user_id": user_id, "txn_id": target, "tags": found.tags,
                              "note": found.note}))
            return 0
        wanted = None if tag is None else normalise_tag(tag)
    except AnnotationError as exc:
        print(f"finlake tag list: {exc}", file=sys.stderr)
        return 2
    rows = read_rows(lake, TRANSACTION_TAGS, ds.field("user_id") == user_id)
    if wanted is None:
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["tag"]] = counts.get(r["tag"], 0) + 1
        print(json.dumps({"user_id": user_id, "tags": dict(sorted(counts.items()))}))
        return 0
    ids = sorted({r["txn_id"] for r in rows if r["tag"] == wanted})
    txns = read_rows(lake, TRANSACTIONS, (ds.field("user_id") == user_id)
                     & ds.field("txn_id").isin(ids)) if ids else []
    listed = sorted(({"txn_id": t["txn_id"], "date": str(t["posted_date"] or
                                                          t["authorized_date"]),
                      "description": t["description"], "amount": str(t["amount"])}
                     for t in txns if t["status"] == "live"),
                    key=lambda t: (t["date"], t["txn_id"]), reverse=True)
    print(json.dumps({"user_id": user_id, "tag": wanted, "transactions": listed}))
    return 0


def register(sub: Subparsers) -> None:
    tag = sub.add_parser("tag", help="a person's tags on their transactions")
    tag_sub = tag.add_subparsers(dest="tag_command", required=True)
    for verb, what in (("add", "add tags to a transaction"),
                       ("remove", "remove tags from a transaction")):
        p = tag_sub.add_parser(verb, help=what)
        p.add_argument("--user", required=True)
        p.add_argument("--transaction", required=True, metavar="TXN_ID")
        p.add_argument("tags", nargs="+", metavar="TAG",
                       help="e.g. holiday-2026 business (lower-cased; spaces become -, a "
                            "comma separates tags; at most 20 tags of 40 characters)")
        p.set_defaults(handler=lambda settings, args, verb=verb: tag_change(
            settings, args.user, args.transaction, args.tags, remove=verb == "remove"))
    ls = tag_sub.add_parser("list", help="a transaction's tags and note, the transactions "
                                         "with a tag, or all of a person's tags")
    ls.add_argument("--user", required=True)
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--transaction", metavar="TXN_ID")
    which.add_argument("--tag")
    ls.set_defaults(handler=lambda settings, args: tag_list(
        settings, args.user, args.transaction, args.tag))

    note = sub.add_parser("note", help="a person's note on one of their transactions")
    note_sub = note.add_subparsers(dest="note_command", required=True)
    st = note_sub.add_parser("set", help="set (replace) a transaction's note")
    st.add_argument("--user", required=True)
    st.add_argument("--transaction", required=True, metavar="TXN_ID")
    st.add_argument("text", metavar="TEXT", help="the note (at most 2,000 characters; - reads "
                                                 "it from standard input)")
    st.set_defaults(handler=lambda settings, args: note_set(
        settings, args.user, args.transaction, args.text))
    cl = note_sub.add_parser("clear", help="remove a transaction's note")
    cl.add_argument("--user", required=True)
    cl.add_argument("--transaction", required=True, metavar="TXN_ID")
    cl.set_defaults(handler=lambda settings, args: note_clear(
        settings, args.user, args.transaction))
