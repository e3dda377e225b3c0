"""Tiny Delta lakes for tests that read the lake without Spark (DuckDB, dashboard)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from lake.arrow import arrow_schema
from lake.catalog import Lake
from lake.reference import categories
from lake.tables import CATEGORIES, MONTHLY_SPEND, TRANSACTIONS, Table

REFRESHED_AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
NOT_SPEND = ("TRANSFER_IN", "TRANSFER_OUT")


def write_table(lake: Lake, table: Table, rows: list[dict[str, Any]]) -> None:
    """Overwrite ``table`` in ``lake`` with ``rows`` (missing columns are null)."""
    write_deltalake(
        lake.uri(table),
        pa.Table.from_pylist(rows, schema=arrow_schema(table)),
        mode="overwrite",
        partition_by=list(table.partition_by) or None,
        storage_options=lake.storage_options() or None,
    )


def txn(user: str, n: int, day: date, amount: str, description: str, category: str | None,
        **extra: Any) -> dict[str, Any]:
    """A silver transaction row with sensible defaults; ``extra`` overrides any column."""
    row: dict[str, Any] = {
        "txn_id": f"{user}-t{n}",
        "user_id": user,
        "item_id": f"{user}-item",
        "account_id": f"{user}-checking",
        "partner_txn_id": f"p-{user}-{n}",
        "pending": False,
        "amount": Decimal(amount),
        "currency": "USD",
        "posted_date": day,
        "authorized_date": day,
        "description": description,
        "merchant": description.title(),
        "merchant_key": description.lower(),
        "payment_channel": "online",
        "category": category,
        "category_source": "rule",
        "status": "live",
        "source_seq": f"{n:08d}",
        "sync_date": day,
        "updated_at": REFRESHED_AT,
        "posted_month": day.strftime("%Y-%m"),
    }
    row.update(extra)
    return row


ALICE, BOB = "alice", "bob"


def transactions() -> list[dict[str, Any]]:
    return [
        txn(ALICE, 1, date(2024, 1, 5), "82.40", "WHOLE FOODS", "FOOD_AND_DRINK_GROCERIES"),
        txn(ALICE, 2, date(2024, 1, 15), "-2500.00", "ACME PAYROLL", "INCOME_SALARY"),
        txn(ALICE, 3, date(2024, 2, 3), "4.75", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE",
            user_category="FOOD_AND_DRINK_RESTAURANT"),
        txn(ALICE, 4, date(2024, 2, 10), "1234.56", "AMAZON",
            "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
        txn(ALICE, 5, date(2024, 2, 11), "99.99", "DUPLICATE CHARGE",
            "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", status="removed",
            removed_at=REFRESHED_AT),
        txn(ALICE, 6, date(2024, 2, 20), "18.20", "UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES",
            pending=True),
        txn(BOB, 1, date(2024, 1, 7), "1500.00", "LANDLORD", "RENT_AND_UTILITIES_RENT"),
        txn(BOB, 2, date(2024, 2, 7), "1500.00", "LANDLORD", "RENT_AND_UTILITIES_RENT"),
        txn(BOB, 3, date(2024, 2, 12), "15.49", "NETFLIX", "ENTERTAINMENT_TV_AND_MOVIES"),
        txn(BOB, 4, date(2024, 2, 14), "300.00", "SAVINGS TRANSFER",
            "TRANSFER_OUT_SAVINGS"),
        txn(BOB, 5, date(2024, 2, 16), "-20.00", "NETFLIX REFUND", None),
    ]


def spend_rows(txns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``monthly_spend`` as pipelines/spend.py defines it (live, posted, expenses only)."""
    primary = {c["category"]: c["category_primary"] for c in categories()}
    cells: dict[tuple[str, str, str, str], list[Decimal]] = defaultdict(list)
    for r in txns:
        if r["status"] != "live" or r["pending"]:
            continue
        cat = r.get("user_category") or r["category"] or "UNCATEGORIZED"
        prim = primary.get(cat, "UNCATEGORIZED")
        if prim in NOT_SPEND or prim == "INCOME":
            continue
        cells[(r["user_id"], r["posted_month"], prim, cat)].append(r["amount"])
    return [
        {"user_id": u, "month": m, "category_primary": p, "category": c,
         "amount": sum(v, Decimal("0.00")), "txn_count": len(v)}
        for (u, m, p, c), v in sorted(cells.items())
    ]


def small_lake(home: Path) -> Lake:
    """A lake at ``home/lake`` (where FINLAKE_HOME=home puts it) with two users' data."""
    lake = Lake(str(Path(home) / "lake"))
    rows = transactions()
    write_table(lake, TRANSACTIONS, rows)
    write_table(lake, MONTHLY_SPEND, spend_rows(rows))
    write_table(lake, CATEGORIES, categories())
    return lake
