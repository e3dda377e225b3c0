"""Intake: a partition's landed raw pages through the raw contract into staged Parquet.

Reads every page of the day's complete updates (and released fixes), checks each record
(``pipelines/raw/contract.py``), writes the valid change records and account snapshots as
staged Parquet for Spark, and returns the rejected records for the quarantine table.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from lake import raw
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.staging import new_run, put_arrow
from lake.tables import ACCOUNTS
from pipelines.categories.reference import currencies
from pipelines.raw.contract import ContractStats, foreign_accounts, parse_page, record_id

log = logging.getLogger(__name__)

CHANGE_SCHEMA = pa.schema([
    ("change", pa.string()), ("change_kind", pa.string()),
    ("transaction_id", pa.string()), ("account_id", pa.string()), ("amount", pa.float64()),
    ("iso_currency_code", pa.string()), ("date", pa.string()),
    ("authorized_date", pa.string()), ("name", pa.string()), ("merchant_name", pa.string()),
    ("pending", pa.bool_()), ("pending_transaction_id", pa.string()),
    ("payment_channel", pa.string()), ("user_id", pa.string()), ("item_id", pa.string()),
    ("raw_ref", pa.string()), ("sync_date", pa.date32()),
    ("observed_at", pa.timestamp("us", tz="UTC")), ("source_seq", pa.string()),
])
ACCOUNT_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("user_id", pa.string()), ("item_id", pa.string()),
    ("institution_id", pa.string()), ("name", pa.string()), ("mask", pa.string()),
    ("type", pa.string()), ("subtype", pa.string()), ("balance_current", pa.float64()),
    ("balance_available", pa.float64()), ("currency", pa.string()),
    ("source_seq", pa.string()), ("last_synced_at", pa.timestamp("us", tz="UTC")),
])
FETCH_THREADS = 8


@dataclass
class Intake:
    sync_date: date
    staging: str
    stats: ContractStats = field(default_factory=ContractStats)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    changes_uri: str | None = None
    accounts_uri: str | None = None
    seconds: float = 0.0


def stage_landed_pages(lake: Lake, sync_date: date, only: tuple[str, str] | None = None,
                       progress: Any = None) -> Intake | None:
    """Check the partition's pages; stage what passed. None when nothing has landed."""
    t0 = time.perf_counter()
    keys = raw.partition_pages(lake.store, sync_date, *(only or (None, None)))
    if not keys:
        return None
    out = Intake(sync_date, new_run("intake", sync_date))
    known = frozenset(currencies())
    now = datetime.now(UTC)
    changes: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []

    def check(key: str):
        return parse_page(lake.store.get(key), key, sync_date, known, now)

    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        for i, page in enumerate(pool.map(check, keys), 1):
            out.stats.add(page.stats)
            out.rejected.extend(page.rejected)
            changes.extend(page.changes)
            accounts.extend(page.accounts)
            if progress and (i % 2000 == 0 or i == len(keys)):
                progress(f"raw contract: {i}/{len(keys)} pages, {out.stats.changes} changes, "
                         f"{out.stats.quarantine_rows} quarantined")
    changes, foreign = foreign_accounts(changes, linked_accounts(lake, accounts, changes))
    for c in foreign:
        out.stats.changes -= 1
        out.stats.quarantined += 1
        out.stats.reasons["account not linked to this item"] += 1
        out.rejected.append(_foreign_row(c, now))
    if changes:
        out.changes_uri = put_arrow(lake, f"{out.staging}/changes.parquet",
                                    pa.Table.from_pylist(changes, schema=CHANGE_SCHEMA))
    if accounts:
        out.accounts_uri = put_arrow(lake, f"{out.staging}/accounts.parquet",
                                     pa.Table.from_pylist(accounts, schema=ACCOUNT_SCHEMA))
    out.seconds = time.perf_counter() - t0
    log.info("%s raw contract: %s (%.1fs)", sync_date, out.stats.as_dict(), out.seconds)
    return out


def linked_accounts(lake: Lake, accounts: list[dict[str, Any]],
                    changes: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each item's accounts: those its pages list now, and those it listed before."""
    linked: dict[str, set[str]] = {}
    for a in accounts:
        linked.setdefault(a["item_id"], set()).add(a["account_id"])
    unknown = {c["item_id"] for c in changes
               if c["account_id"] not in linked.get(c["item_id"], ())}
    if unknown and lake.exists(ACCOUNTS):
        import pyarrow.dataset as ds

        for r in read_rows(lake, ACCOUNTS, ds.field("item_id").isin(sorted(unknown))):
            linked.setdefault(r["item_id"], set()).add(r["account_id"])
    return linked


def _foreign_row(c: dict[str, Any], now: datetime) -> dict[str, Any]:
    import json

    record = {k: c[k] for k in ("transaction_id", "account_id", "amount", "iso_currency_code",
                                "date", "name", "pending")}
    return {"record_id": record_id(c["raw_ref"], c["source_seq"]),
            "source": "transactions_sync", "raw_ref": c["raw_ref"], "user_id": c["user_id"],
            "item_id": c["item_id"], "source_seq": c["source_seq"],
            "change_kind": c["change_kind"], "reason": "account not linked to this item",
            "record": json.dumps(record, ensure_ascii=False, default=str),
            "sync_date": c["sync_date"], "quarantined_at": now, "status": "quarantined",
            "released_at": None, "released_ref": None}
