"""Re-release a quarantined record once it is fixed.

The fixed record must pass the same raw contract. It is landed in raw storage as a
one-record release page beside the original update (raw stays write-once; the original bad
record stays too) and keeps the original's place in the change stream, so a later partner
change still wins and replaying the day gives the same silver. The record's item is then
re-merged for that day (idempotent) and its gold cells refreshed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from lake import raw
from lake.catalog import Lake
from lake.reference import currencies
from lake.small_tables import read_rows, upsert_rows
from lake.tables import QUARANTINE
from pipelines.contract import transaction_violations

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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
    reasons = transaction_violations(fixed, section != "removed", row["sync_date"],
                                     frozenset(currencies()))
    if reasons:
        raise ReleaseError("the fixed record still breaks the raw contract: "
                           + "; ".join(reasons) + ". Nothing was released")
    envelope = json.loads(lake.store.get(row["raw_ref"]))
    now = now or datetime.now(UTC)
    key = raw.release_key(row["sync_date"], row["user_id"], row["item_id"], record_id)
    meta = dict(envelope["meta"], raw_ref=key, release={
        "record_id": record_id, "source_seq": row["source_seq"],
        "original_ref": row["raw_ref"], "released_at": now.isoformat()})
    # Masked like every landed page: an operator's fix must not bring a full number in.
    body = {"meta": meta, "response": raw.masked_response(
        {section: [fixed], "next_cursor": None, "has_more": False})}
    lake.store.put_once(key, json.dumps(body, ensure_ascii=False).encode())
    upsert_rows(lake, QUARANTINE, [dict(row, status="released", released_at=now,
                                        released_ref=key)])
    return Released(record_id, key, row["sync_date"], row["user_id"], row["item_id"])


def release(spark: SparkSession, lake: Lake, record_id: str, fixed: Any) -> Released:
    """Land the fix, re-merge its item's day and refresh the gold cells it changed."""
    from pipelines.gold import changed_cells, refresh_gold
    from pipelines.steps import latest_sync_day, merge_partition

    out = land_release(lake, record_id, fixed)
    silver = merge_partition(spark, lake, out.sync_date, only=(out.user_id, out.item_id))
    out.silver_changes = silver.changes
    gold = refresh_gold(spark, lake, changed_cells(spark, lake, out.sync_date, out.user_id),
                        max(latest_sync_day(spark, lake), out.sync_date))
    out.gold_cells = gold.cells
    return out
