"""Build partner pages by hand and land them through the real raw layout."""

from __future__ import annotations

from datetime import date
from typing import Any

from lake.objectstore import ObjectStore
from lake.raw import UpdateRef, complete_update, land_page

USER, ITEM, ACCOUNT, INSTITUTION = "user_0001", "item_a", "acc_1", "ins_1"


def txn(tid: str, amount: float, day: str, name: str = "STARBUCKS 123", *,
        merchant: str | None = "Starbucks", pending: bool = False, pending_id: str | None = None,
        account: str = ACCOUNT, currency: Any = "USD") -> dict[str, Any]:
    return {
        "transaction_id": tid, "account_id": account, "amount": amount,
        "iso_currency_code": currency, "date": day, "authorized_date": day, "name": name,
        "merchant_name": merchant, "pending": pending, "pending_transaction_id": pending_id,
        "payment_channel": "in store",
    }


def page(added=(), modified=(), removed=(), *, has_more: bool = False,
         balance: float = 100.0) -> dict[str, Any]:
    return {
        "added": list(added), "modified": list(modified),
        "removed": [{"transaction_id": t, "account_id": ACCOUNT} for t in removed],
        "accounts": [{"account_id": ACCOUNT, "name": "Checking", "mask": "0000",
                      "type": "depository", "subtype": "checking",
                      "balances": {"current": balance, "available": balance,
                                   "iso_currency_code": "USD"}}],
        "next_cursor": "c", "has_more": has_more,
    }


def land(store: ObjectStore, sync_date: str, update_seq: int, pages: list[dict], *,
         attempt: str | None = None, complete: bool = True) -> list[str]:
    day = date.fromisoformat(sync_date)
    attempt = attempt or f"{day:%Y%m%d}T020000000000Z"
    ref = UpdateRef(day, USER, ITEM, update_seq, attempt)
    landed_at = f"{sync_date}T02:00:00+00:00"
    keys = [land_page(store, ref, i, body, INSTITUTION, landed_at)
            for i, body in enumerate(pages, 1)]
    if complete:
        complete_update(store, ref, keys, landed_at, {"added": 0, "modified": 0, "removed": 0})
    return keys
