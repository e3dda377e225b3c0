"""``finlake quarantine``: see what the raw contract held back, and release fixed records."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from finlake.commands.args import iso_date, positive

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers


def _lake(settings: Settings):
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def quarantine_list(settings: Settings, day: date | None, status: str, limit: int) -> int:
    """One line per quarantined record: id, day, section, status and reason."""
    import pyarrow.dataset as ds

    from lake.small_tables import read_rows
    from lake.tables import QUARANTINE

    lake = _lake(settings)
    if not lake.exists(QUARANTINE):
        print("nothing quarantined yet")
        return 0
    where = None
    if day:
        where = ds.field("sync_date") == day
    rows = [r for r in read_rows(lake, QUARANTINE, where)
            if status == "all" or r["status"] == status]
    rows.sort(key=lambda r: (str(r["sync_date"]), r["raw_ref"], r["source_seq"] or ""))
    for r in rows[:limit]:
        print(f"{r['record_id']}  {r['sync_date']}  {r['change_kind'] or 'page':<8}  "
              f"{r['status']:<11}  {r['reason'][:100]}")
    more = f" (showing {limit}; use --limit)" if len(rows) > limit else ""
    print(f"{len(rows)} record(s){more}")
    return 0


def quarantine_show(settings: Settings, record_id: str) -> int:
    from pipelines.corrections.release import ReleaseError, original_record, quarantined

    try:
        row = quarantined(_lake(settings), record_id)
    except ReleaseError as exc:
        print(f"finlake quarantine: {exc}", file=sys.stderr)
        return 2
    shown = {k: str(v) if v is not None and not isinstance(v, str) else v
             for k, v in row.items() if k != "record"}
    shown["record"] = original_record(row)
    print(json.dumps(shown, indent=2, ensure_ascii=False, default=str))
    return 0


def _json(text: str, what: str) -> Any:
    from pipelines.corrections.release import ReleaseError

    try:
        return json.loads(text)
    except RecursionError:
        raise ReleaseError(f"{what} is JSON nested too deeply; a transaction is nested 3 "
                           "levels") from None


def _record_file(record_file: str) -> Any:
    """The JSON record in ``record_file``, read no further than a record may be long (the
    file may be a device or a pipe that never ends)."""
    from pipelines.corrections.release import MAX_RECORD_BYTES, ReleaseError

    try:
        with open(record_file, "rb") as fh:
            body = fh.read(MAX_RECORD_BYTES + 1)
        if len(body) > MAX_RECORD_BYTES:
            raise ReleaseError(f"{record_file} holds more than {MAX_RECORD_BYTES:,} bytes; give "
                               "one fixed transaction record as JSON")
        return _json(body.decode("utf-8"), record_file)
    except ReleaseError:
        raise
    except (OSError, ValueError) as exc:  # not there, a folder, not UTF-8, not JSON
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
        raise ReleaseError(f"cannot read the fixed record from {record_file}: {why}") from None


def _fixed(settings: Settings, record_id: str, record_file: str | None,
           sets: list[str]) -> Any:
    from pipelines.corrections.release import ReleaseError, original_record, quarantined

    if record_file:
        return _record_file(record_file)
    record = original_record(quarantined(_lake(settings), record_id))
    if not isinstance(record, dict):
        raise ReleaseError("the quarantined record is not an object; give the whole fixed "
                           "record with --record FILE")
    for item in sets:
        field, sep, text = item.partition("=")
        if not sep or not field:
            shown = item if len(item) <= 60 else item[:60] + "..."
            raise ReleaseError(f"--set {shown!r}: use FIELD=VALUE, e.g. --set amount=12.50 or "
                               "--set iso_currency_code=USD")
        try:  # a JSON value (number, true, null, "text"), else the text as it is
            record[field] = _json(text, f"--set {field[:60]}")
        except ReleaseError:
            raise
        except ValueError:
            record[field] = text
    return record


def quarantine_release(settings: Settings, record_id: str, record_file: str | None,
                       sets: list[str]) -> int:
    """Validate the fixed record, land it, re-merge its item's day and refresh gold."""
    from assets.resources import spark_resource
    from pipelines.corrections.release import ReleaseError, land_release, remerge

    if not record_file and not sets:
        print("finlake quarantine release: say what the fix is: --set FIELD=VALUE (repeat) "
              "or --record FILE with the whole fixed record", file=sys.stderr)
        return 2
    try:
        fixed = _fixed(settings, record_id, record_file, sets)
        lake = _lake(settings)
        out = land_release(lake, record_id, fixed)  # checked before an engine starts
    except ReleaseError as exc:
        print(f"finlake quarantine release: {exc}", file=sys.stderr)
        return 2
    from assets.runs import writing

    with writing(settings, "quarantine_release", lake):
        out = remerge(spark_resource(settings).session(), lake, out)
    print(f"released {out.record_id} as {out.release_ref}: {out.silver_changes} silver "
          f"change(s) for {out.sync_date}, {out.gold_cells} gold cell(s) refreshed")
    return 0


def register(sub: Subparsers) -> None:
    q = sub.add_parser("quarantine", help="records the raw contract held back; release fixes")
    q_sub = q.add_subparsers(dest="quarantine_command", required=True)
    qlist = q_sub.add_parser("list", help="quarantined records, one per line")
    qlist.add_argument("--date", type=iso_date, help="only this sync day, YYYY-MM-DD")
    qlist.add_argument("--status", choices=("quarantined", "released", "all"),
                       default="quarantined")
    qlist.add_argument("--limit", type=positive, default=50)
    qlist.set_defaults(handler=lambda settings, args: quarantine_list(
        settings, args.date, args.status, args.limit))
    qshow = q_sub.add_parser("show", help="one record in full, with its reason and raw object")
    qshow.add_argument("record_id")
    qshow.set_defaults(handler=lambda settings, args: quarantine_show(settings, args.record_id))
    qrel = q_sub.add_parser("release", help="release a fixed record (it must pass the contract)")
    qrel.add_argument("record_id")
    qrel.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                      help="fix one field of the quarantined record (repeatable)")
    qrel.add_argument("--record", dest="record_file", metavar="FILE",
                      help="a JSON file holding the whole fixed record")
    qrel.set_defaults(handler=lambda settings, args: quarantine_release(
        settings, args.record_id, args.record_file, args.sets))
