"""What a split of a transaction may be (pure): its parts, their categories and amounts.

A split shares one transaction's amount between 2 to :data:`MAX_PARTS` categories. Amounts
are in the transaction's currency with at most two decimals (cents) and follow the partner's
sign, as the transaction does: positive is money out. A part may have the other sign (a
refund inside a purchase: ``GROCERIES=60 OTHER_REFUND=-10`` of a 50.00 purchase) as long as
the parts add up to the transaction's amount exactly; a part of zero says nothing and is
refused, as is a category named twice (give it once, with the sum). Anything else is refused
with a :class:`SplitError` that says what is wrong and what to do; nothing is written then.

The lake-facing writes are in pipelines/corrections/splits.py; the table in
lake/tables_splits.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

MIN_PARTS, MAX_PARTS = 2, 20
CENT = Decimal("0.01")
LIMIT = Decimal("9999999999999999.99")  # decimal(18,2)
_AMOUNT = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d*)?|[+-]?\.\d+")
_CATEGORY = re.compile(r"[A-Za-z0-9_]+")


class SplitError(ValueError):
    """A split that is refused, with what to do instead."""


def _shown(text: object, limit: int = 30) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return repr(text if len(text) <= limit else text[:limit] + "…")


def money(value: object) -> str:
    """An amount as people read it back: ``-12.50``."""
    return f"{Decimal(value).quantize(CENT):,.2f}"  # type: ignore[arg-type]


def parse_amount(value: object) -> Decimal:
    """A part's amount as typed (``12.5``, ``-3``, ``1,250.00``) or given (int, Decimal,
    float) -> Decimal with two decimals. Refuses more than two decimals, NaN, infinity,
    exponents and anything that is not a number."""
    if isinstance(value, bool):
        raise SplitError("An amount is a number such as 12.50.")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, Decimal | int):
        value = str(value)
    if not isinstance(value, str):
        raise SplitError("An amount is a number such as 12.50.")
    text = value.strip()
    if not _AMOUNT.fullmatch(text):
        raise SplitError(f"The amount {_shown(value)} is not a number like 12.50 or -3 "
                         "(no currency sign, exponent, NaN or infinity).")
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise SplitError(f"The amount {_shown(value)} is not a number like 12.50.") from None
    if amount != amount.quantize(CENT):
        raise SplitError(f"The amount {_shown(value)} has more than two decimals: give it "
                         "in cents, e.g. 12.35.")
    if abs(amount) > LIMIT:
        raise SplitError(f"The amount {_shown(value)} is too large.")
    return amount.quantize(CENT)


def parse_assignments(texts: Iterable[str]) -> list[tuple[str, Decimal]]:
    """``CATEGORY=AMOUNT`` texts (the CLI's arguments) -> (category, amount) in order."""
    out = []
    for text in texts:
        if not isinstance(text, str) or "=" not in text:
            raise SplitError(f"{_shown(text)} is not CATEGORY=AMOUNT: write each part as e.g. "
                             "FOOD_AND_DRINK_GROCERIES=42.50.")
        category, _, amount = text.partition("=")
        out.append((category, parse_amount(amount)))
    return out


def normalise_category(text: object) -> str:
    """A category code as stored: trimmed, upper-case (codes are ``FOOD_AND_DRINK_GROCERIES``
    or the person's own)."""
    if not isinstance(text, str) or not _CATEGORY.fullmatch(text.strip()):
        raise SplitError(f"The category {_shown(text)} is not a category code such as "
                         "FOOD_AND_DRINK_GROCERIES (finlake sql \"SELECT category FROM "
                         "categories\").")
    return text.strip().upper()


def check_parts(parts: Sequence[tuple[object, object]], txn_amount: Decimal,
                known: Iterable[str]) -> list[tuple[str, Decimal]]:
    """The parts of a split of a transaction of ``txn_amount``, checked: (category, amount)
    in order. ``known`` are the categories the person may use (the taxonomy's detailed codes
    and their own). Raises :class:`SplitError` for too few or too many parts, an unknown or
    repeated category, a bad or zero amount, or parts that do not add up to the amount."""
    if len(parts) < MIN_PARTS:
        raise SplitError(f"A split needs at least {MIN_PARTS} parts (one category is no "
                         "split: change the transaction's category instead).")
    if len(parts) > MAX_PARTS:
        raise SplitError(f"A split has at most {MAX_PARTS} parts; this one has {len(parts)}.")
    allowed = set(known)
    out: list[tuple[str, Decimal]] = []
    for category, amount in parts:
        code = normalise_category(category)
        if code not in allowed:
            raise SplitError(f"Unknown category {_shown(code)}: use a detailed code of the "
                             "taxonomy or one of your own (finlake category add).")
        if any(code == c for c, _ in out):
            raise SplitError(f"{code} is named twice: give each category once, with the sum "
                             "of its amounts.")
        value = parse_amount(amount)
        if value == 0:
            raise SplitError(f"The part {code} is 0.00: leave it out.")
        out.append((code, value))
    total = sum((a for _, a in out), Decimal(0))
    if total != txn_amount:
        gap = txn_amount - total
        raise SplitError(f"The parts add up to {money(total)} but the transaction is "
                         f"{money(txn_amount)} (a difference of {money(abs(gap))}): make them "
                         "add up exactly. Nothing was changed.")
    return out
