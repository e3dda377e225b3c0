"""``finlake quarantine``: see what the raw contract held back, and release fixed records."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from finlake.settings import Settings


def _lake(settings: Settings):
    from lake.catalog import Lake

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
    from pipelines.release import ReleaseError, original_record, quarantined

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


def _fixed(settings: Settings, record_id: str, record_file: str | None,
           sets: list[str]) -> Any:
    from pipelines.release import ReleaseError, original_record, quarantined

    if record_file:
        try:
            return json.loads(Path(record_file).read_text())
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"cannot read the fixed record from {record_file}: {exc}") \
                from None
    record = original_record(quarantined(_lake(settings), record_id))
    if not isinstance(record, dict):
        raise ReleaseError("the quarantined record is not an object; give the whole fixed "
                           "record with --record FILE")
    for item in sets:
        field, sep, text = item.partition("=")
        if not sep or not field:
            raise ReleaseError(f"--set {item!r}: use FIELD=VALUE, e.g. --set amount=12.50 or "
                               "--set iso_currency_code=USD")
        try:  # a JSON value (number, true, null, "text"), else the text as it is
            record[field] = json.loads(text)
        except ValueError:
            record[field] = text
    return record


def quarantine_release(settings: Settings, record_id: str, record_file: str | None,
                       sets: list[str]) -> int:
    """Validate the fixed record, land it, re-merge its item's day and refresh gold."""
    from finlake.resources import spark_resource
    from pipelines.release import ReleaseError, release

    if not record_file and not sets:
        print("finlake quarantine release: say what the fix is: --set FIELD=VALUE (repeat) "
              "or --record FILE with the whole fixed record", file=sys.stderr)
        return 2
    try:
        fixed = _fixed(settings, record_id, record_file, sets)
        out = release(spark_resource(settings).session(), _lake(settings), record_id, fixed)
    except ReleaseError as exc:
        print(f"finlake quarantine release: {exc}", file=sys.stderr)
        return 2
    print(f"released {out.record_id} as {out.release_ref}: {out.silver_changes} silver "
          f"change(s) for {out.sync_date}, {out.gold_cells} gold cell(s) refreshed")
    return 0
