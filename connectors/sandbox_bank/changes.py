"""What a client sees: state diffs between two days, cursors, balances and Plaid JSON shapes."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from connectors.sandbox_bank.generator import MAX_SPAN, Generator
from connectors.sandbox_bank.ids import digest
from connectors.sandbox_bank.stories import Span, Story, content, live, spans
from connectors.sandbox_bank.world import KINDS, Account, Institution, Item

TRUTH_FIELDS = ("account_id", "transaction_id", "amount", "iso_currency_code", "date",
                "authorized_date", "name", "merchant_name", "pending", "pending_transaction_id",
                "category_detailed", "mcc")
_NULL_LOCATION = ("address", "city", "region", "postal_code", "country", "lat", "lon",
                  "store_number")
_NULL_META = ("reference_number", "ppd_id", "payee", "by_order_of", "payer", "payment_method",
              "payment_processor", "reason")

Change = tuple[str, dict]  # ("added" | "modified" | "removed", payload)


def _scan(gen: Generator, item: Item, first: date, last: date) -> Iterator[tuple[Story, Span]]:
    for acct in item.accounts:
        day = first
        while day <= last:
            for story in gen.stories(acct.account_id, day):
                for span in spans(story):
                    yield story, span
            day += timedelta(days=1)


def diff(gen: Generator, item: Item, since: date | None, until: date,
         history_start: date) -> list[Change]:
    """Every instance whose state differs between the end of ``since`` and of ``until``.

    ``since`` None means "nothing seen yet". Instances created after ``since`` that are gone
    by ``until`` are reported as removed too, so replaying an older update leaves no ghost.
    """
    first = history_start if since is None else max(history_start,
                                                    since - timedelta(days=MAX_SPAN))
    keyed: list[tuple[tuple[str, str, str, int], Change]] = []
    order = {"removed": 0, "added": 1, "modified": 2}
    for story, span in _scan(gen, item, first, until):
        txn_id = span[0]
        was = since is not None and live(span, since)
        if live(span, until):
            now = content(story, txn_id, until)
            if not was:
                change: Change | None = ("added", to_plaid(now))
            elif content(story, txn_id, since) != now:  # type: ignore[arg-type]
                change = ("modified", to_plaid(now))
            else:
                change = None
        elif was or ((since is None or span[1] > since) and span[1] <= until):
            change = ("removed", {"transaction_id": txn_id, "account_id": story.account_id})
        else:
            change = None
        if change:
            key = (story.auth_day.isoformat(), story.account_id, txn_id, order[change[0]])
            keyed.append((key, change))
    keyed.sort(key=lambda kc: kc[0])
    return [c for _, c in keyed]


def live_at(gen: Generator, item: Item, day: date | None, history_start: date) -> list[dict]:
    """Ground truth: the instances live at the end of ``day`` (none if ``day`` is None)."""
    if day is None:
        return []
    rows = [content(story, span[0], day) for story, span in _scan(gen, item, history_start, day)
            if live(span, day)]
    rows.sort(key=lambda r: (r["account_id"], r["authorized_date"], r["transaction_id"]))
    return [{k: r[k] for k in TRUTH_FIELDS} for r in rows]


def balances(gen: Generator, acct: Account, day: date, history_start: date,
             amounts: Mapping[str, float] | None = None) -> dict:
    """Plaid ``AccountBalance`` as of the end of ``day``; ``amounts`` overrides the amounts of
    some transaction instances (bank-side corrections)."""
    posted = pending = 0.0
    amounts = amounts or {}
    for story, span in _scan(gen, Item("", "", "", "", (acct,)), history_start, day):
        if live(span, day):
            if span[0] == story.pending_id:
                pending += amounts.get(span[0], story.pending_amount)
            else:
                posted += amounts.get(span[0], story.amount)
    available: float | None
    if acct.type == "depository":
        current = acct.opening - posted
        available = current - pending
    elif acct.type == "credit":
        current = acct.opening + posted
        available = (acct.limit or 0.0) - current - pending
    elif acct.type == "loan":
        current, available = acct.opening + posted, None
    else:
        current = acct.opening - posted
        available = current
    return {"available": None if available is None else round(available, 2),
            "current": round(current, 2), "limit": acct.limit, "iso_currency_code": "USD",
            "unofficial_currency_code": None}


def account_json(acct: Account, balance: dict, ins: Institution) -> dict:
    name = KINDS[acct.kind][2]
    return {"account_id": acct.account_id, "balances": balance, "mask": acct.mask, "name": name,
            "official_name": f"{ins.name} {name}", "type": acct.type, "subtype": acct.subtype}


def item_json(item: Item, ins: Institution) -> dict:
    return {"item_id": item.item_id, "institution_id": item.institution_id,
            "institution_name": ins.name,
            "webhook": None, "error": None, "available_products": ["balance"],
            "billed_products": ["transactions"], "products": ["transactions"],
            "consented_products": ["transactions"], "consent_expiration_time": None,
            "update_type": "background"}


def institution_json(ins: Institution) -> dict:
    return {"institution_id": ins.institution_id, "name": ins.name,
            "products": ["transactions", "balance"], "country_codes": ["US"],
            "routing_numbers": [], "oauth": False, "connection_availability": "SUPPORTED",
            "url": None, "primary_color": None, "logo": None}


def to_plaid(c: dict) -> dict:
    """A Plaid ``Transaction`` JSON object (no category, no MCC: finlake must find those)."""
    return {
        "account_id": c["account_id"], "account_owner": None, "amount": c["amount"],
        "iso_currency_code": c["iso_currency_code"], "unofficial_currency_code": None,
        "category": None, "category_id": None, "check_number": None, "counterparties": [],
        "date": c["date"], "datetime": None, "authorized_date": c["authorized_date"],
        "authorized_datetime": None, "location": dict.fromkeys(_NULL_LOCATION),
        "logo_url": None, "merchant_entity_id": c["merchant_entity_id"],
        "merchant_name": c["merchant_name"], "name": c["name"], "original_description": None,
        "payment_channel": c["payment_channel"], "payment_meta": dict.fromkeys(_NULL_META),
        "pending": c["pending"], "pending_transaction_id": c["pending_transaction_id"],
        "personal_finance_category": None, "transaction_code": None,
        "transaction_id": c["transaction_id"], "website": None,
    }


# -- cursors ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """A completed position (``offset`` None) or a page inside the update since->until.

    Generations count the item's overlay entries (bank-side corrections, see
    :mod:`overlay`): a position includes those numbered <= ``gen``. In a page cursor ``gen``
    is the update's target generation, ``since_gen`` the one of its start and ``seen`` the
    highest correction delivered so far in the update (>= ``gen``). All are 0 without
    corrections, and then omitted from the encoded cursor.
    """

    since: date | None
    until: date
    offset: int | None = None
    gen: int = 0
    since_gen: int = 0
    seen: int = 0


def _tag(item: Item) -> str:
    return digest("cursor", item.item_id).hex()[:8]


def encode_cursor(item: Item, cur: Cursor) -> str:
    payload: dict = {"v": 1, "i": _tag(item), "t": cur.until.isoformat()}
    if cur.offset is not None:
        payload.update(f=cur.since.isoformat() if cur.since else None, o=cur.offset)
        payload.update({k: v for k, v in (("fg", cur.since_gen),
                                                 ("h", cur.seen * (cur.seen != cur.gen))) if v})
    if cur.gen:
        payload["g"] = cur.gen
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _gen(payload: dict, key: str) -> int:
    value = payload.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"bad generation {key}")
    return value


def decode_cursor(item: Item, text: str) -> Cursor:
    """Parse a cursor issued for ``item``; raises ValueError with the reason otherwise."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw)
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise ValueError("unknown cursor version")
        if payload.get("i") != _tag(item):
            raise ValueError("cursor belongs to another item")
        until = date.fromisoformat(payload["t"])
        gen = _gen(payload, "g")
        if "o" not in payload:
            return Cursor(until, until, gen=gen)
        since = date.fromisoformat(payload["f"]) if payload["f"] else None
        offset = payload["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("bad offset")
        return Cursor(since, until, offset, gen, _gen(payload, "fg"),
                      max(gen, _gen(payload, "h")))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"malformed cursor ({type(e).__name__})") from e
