"""Re-release a quarantined record once it is fixed.

The fixed record must pass the same raw contract. It is landed in raw storage as a
one-record release page beside the original update (raw stays write-once; the original bad
record stays too) and keeps the original's place in the change stream, so a later partner
change still wins and replaying the day gives the same silver. The record's item is then
re-merged for that day (idempotent) and its gold cells refreshed.

Every text of the release is masked like a landed page's free text, wherever it sits in the
record (a ``note`` the operator added, a nested object, a field's name): account, routing and
card numbers keep their last 4 digits. Only the partner's ids are kept as they came. A fix is
refused, with nothing landed, if a string it brings is longer than :data:`MAX_TEXT`
characters, what it brings is nested deeper than :data:`MAX_DEPTH`, the record is larger than
:data:`MAX_RECORD_BYTES` as JSON, an id or a number it brings looks like an account or card
number (masking would change what it means), or it still breaks the raw contract.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from core.redaction import redact
from lake import raw
from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import QUARANTINE
from pipelines.categories.reference import currencies
from pipelines.raw.contract import MAX_ID, MAX_TEXT, transaction_violations

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


MAX_DEPTH = 8  # a partner transaction nests 3 deep (counterparties -> [ -> {)
MAX_RECORD_BYTES = 256 * 1024  # a partner transaction is a few KB of JSON
IDS = frozenset({"transaction_id", "account_id", "pending_transaction_id"})


class ReleaseError(ValueError):
    """The record cannot be released; the message says why and what to do."""


@dataclass
class Released:
    record_id: str
    release_ref: str
    sync_date: date
    user_id: str
    item_id: str
    silver_changes: int = 0
    gold_cells: int = 0


def quarantined(lake: Lake, record_id: str) -> dict[str, Any]:
    import pyarrow.dataset as ds

    rows = read_rows(lake, QUARANTINE, ds.field("record_id") == record_id) \
        if lake.exists(QUARANTINE) else []
    if not rows:
        raise ReleaseError(f"no quarantined record {record_id!r}; list them with "
                           "`finlake quarantine list`")
    return rows[0]


def original_record(row: dict[str, Any]) -> Any:
    """The record as quarantined (JSON), to start a fix from."""
    try:
        return json.loads(row["record"])
    except ValueError:
        return row["record"]


def _masked_number(value: int | float, where: str) -> int | float:
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) < 1e20):
        return value  # no account number; the contract judges an amount like this
    whole = str(int(value))
    if redact(whole, registered=False) != whole:
        raise ReleaseError(f"{where} is a number that looks like an account, routing or card "
                           "number; a fix must not bring one in. Nothing was released")
    return value


def _masked_fix(value: Any, original: Any, where: str, depth: int = 1) -> Any:
    """``value`` with its text masked; limits checked on what the operator changed or added
    (``original`` is the record as quarantined). Partner ids stay as the partner sent them."""
    changed = not (value == original and type(value) is type(original))
    if isinstance(value, str):
        is_id = where.rsplit(".", 1)[-1] in IDS
        if not changed and is_id:
            return value
        if changed and len(value) > MAX_TEXT:
            raise ReleaseError(f"{where} is {len(value):,} characters long; a fixed field holds "
                               f"at most {MAX_TEXT:,}. Nothing was released")
        masked = redact(value, registered=False)
        if masked != value and is_id:
            raise ReleaseError(f"{where} looks like an account or card number; an id cannot "
                               "be masked. Nothing was released")
        return masked
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return _masked_number(value, where) if changed else value
    if changed and depth >= MAX_DEPTH:
        raise ReleaseError(f"the fixed record is nested more than {MAX_DEPTH} levels deep (at "
                           f"{where}); a transaction is nested 3. Nothing was released")
    if isinstance(value, list):
        items = original if isinstance(original, list) else []
        return [_masked_fix(v, items[i] if i < len(items) else None, f"{where}[{i}]", depth + 1)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        was: dict[str, Any] = original if isinstance(original, dict) else {}
        out = {}
        for name, v in value.items():
            if name not in was:
                if len(name) > MAX_ID:
                    raise ReleaseError(f"a field name in {where} is {len(name):,} characters "
                                       f"long (at most {MAX_ID}). Nothing was released")
                name = redact(name, registered=False)
            out[name] = _masked_fix(v, was.get(name), f"{where}.{name}", depth + 1)
        return out
    return value


def checked_fix(row: dict[str, Any], fixed: Any) -> Any:
    """The fixed record as it would land (what the operator brought in masked), or
    ReleaseError saying why it cannot be released."""
    try:
        record = _masked_fix(fixed, original_record(row), "record")
    except RecursionError:  # a partner's own nesting, kept as it came: deeper than Python goes
        raise ReleaseError("the record is nested too deeply to check; it cannot be released "
                           "record by record") from None
    try:
        size = len(json.dumps(record, ensure_ascii=False).encode())
    except (ValueError, RecursionError) as exc:  # e.g. text that is not valid Unicode
        raise ReleaseError(f"the fixed record cannot be stored as JSON text ({exc})") from None
    if size > MAX_RECORD_BYTES:
        raise ReleaseError(f"the fixed record is {size:,} bytes as JSON; a record holds at most "
                           f"{MAX_RECORD_BYTES:,}. Nothing was released")
    reasons = transaction_violations(record, row["change_kind"] != "removed", row["sync_date"],
                                     frozenset(currencies()))
    if reasons:
        raise ReleaseError("the fixed record still breaks the raw contract: "
                           + "; ".join(reasons) + ". Nothing was released")
    return record


def land_release(lake: Lake, record_id: str, fixed: Any, now: datetime | None = None
                 ) -> Released:
    """Check the fixed record and land it as a release page; mark the quarantine row."""
    row = quarantined(lake, record_id)
    if row["status"] == "released":
        raise ReleaseError(f"record {record_id} was already released at {row['released_at']} "
                           f"({row['released_ref']})")
    if row["source"] != "transactions_sync":
        raise ReleaseError(
            f"record {record_id} is a whole {row['source'].rsplit('_', 1)[-1]} that could not "
            "be read; it cannot be fixed record by record. Its raw object is "
            f"{row['raw_ref']}; the partner re-sends its records on the item's next sync")
    section = row["change_kind"]
    record = checked_fix(row, fixed)
    envelope = json.loads(lake.store.get(row["raw_ref"]))
    now = now or datetime.now(UTC)
    key = raw.release_key(row["sync_date"], row["user_id"], row["item_id"], record_id)
    meta = dict(envelope["meta"], raw_ref=key, release={
        "record_id": record_id, "source_seq": row["source_seq"],
        "original_ref": row["raw_ref"], "released_at": now.isoformat()})
    # Masked like every landed page too: its free text, also where the partner sent it.
    body = {"meta": meta, "response": raw.masked_response(
        {section: [record], "next_cursor": None, "has_more": False})}
    lake.store.put_once(key, json.dumps(body, ensure_ascii=False).encode())
    upsert_rows(lake, QUARANTINE, [dict(row, status="released", released_at=now,
                                        released_ref=key)])
    return Released(record_id, key, row["sync_date"], row["user_id"], row["item_id"])


def release(spark: SparkSession, lake: Lake, record_id: str, fixed: Any) -> Released:
    """Land the fix, re-merge its item's day and refresh the gold cells it changed."""
    return remerge(spark, lake, land_release(lake, record_id, fixed))


def remerge(spark: SparkSession, lake: Lake, out: Released) -> Released:
    """Re-merge a landed release's item and day, and refresh the gold cells it changed."""
    from pipelines.gold.refresh import refresh_gold
    from pipelines.silver.changes import changed_cells
    from pipelines.silver.refresh import latest_sync_day, merge_partition

    silver = merge_partition(spark, lake, out.sync_date, only=(out.user_id, out.item_id))
    out.silver_changes = silver.changes
    gold = refresh_gold(spark, lake, changed_cells(spark, lake, out.sync_date, out.user_id),
                        max(latest_sync_day(spark, lake), out.sync_date))
    out.gold_cells = gold.cells
    return out
