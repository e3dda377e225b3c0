"""Story records and the lifecycle of their transaction instances.

A story is everything that ever happens to one purchase, transfer or fee. It yields up to two
transaction *instances* (pending and posted), each live during ``[start, end)`` in days;
:func:`content` gives an instance's content at the end of a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from connectors.sandbox_bank.ids import plaid_id


@dataclass(frozen=True)
class Draft:
    kind: str
    name: str
    merchant_name: str | None
    amount: float
    category: str
    mcc: str | None
    channel: str
    card: bool = False  # card authorisation: may have a pending phase
    tip: bool = False  # a tip may be added when it posts


@dataclass(frozen=True)
class Story:
    account_id: str
    auth_day: date
    kind: str
    pending_id: str | None  # None: no pending phase
    posted_id: str | None  # None: voided pending that never posts
    post_day: date
    void_day: date | None
    linked: bool  # posted row carries pending_transaction_id
    pending_amount: float
    amount: float
    name: str
    merchant_name: str | None
    clean_name: str | None  # name after the later modification
    clean_merchant: str | None
    modified_day: date | None
    removed_day: date | None
    channel: str
    category: str
    mcc: str | None


Span = tuple[str, date, date | None]


def spans(s: Story) -> list[Span]:
    """(transaction_id, first live day, first day no longer live or None)."""
    out: list[Span] = []
    if s.pending_id:
        out.append((s.pending_id, s.auth_day, s.void_day or s.post_day))
    if s.posted_id:
        out.append((s.posted_id, s.post_day, s.removed_day))
    return out


def live(span: Span, day: date) -> bool:
    return span[1] <= day and (span[2] is None or day < span[2])


def content(s: Story, txn_id: str, day: date) -> dict:
    """The instance as it looks at the end of ``day`` (ground-truth fields included)."""
    pending = txn_id == s.pending_id
    name, merchant = s.name, s.merchant_name
    if not pending and s.modified_day and day >= s.modified_day:
        name, merchant = s.clean_name or name, s.clean_merchant
    return {
        "account_id": s.account_id, "transaction_id": txn_id,
        "amount": s.pending_amount if pending else s.amount, "iso_currency_code": "USD",
        "date": (s.auth_day if pending else s.post_day).isoformat(),
        "authorized_date": s.auth_day.isoformat(), "name": name, "merchant_name": merchant,
        "merchant_entity_id": plaid_id("merchant", merchant) if merchant else None,
        "pending": pending,
        "pending_transaction_id": s.pending_id if not pending and s.linked else None,
        "payment_channel": s.channel, "category_detailed": s.category, "mcc": s.mcc,
    }
