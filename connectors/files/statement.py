"""What a bank's file says, whatever its format: statement lines in the partner's convention.

Every reader (``ofx.py``, ``csv_layouts.py``) turns a file into a :class:`Statement` or raises
:class:`FileRefused` with one line saying what is wrong and what to do; nothing is written
before a whole file has been read. Amounts follow the partner's sign (positive = money out),
converted from the file's convention by the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

MAX_FILE_BYTES = 20 * 1024 * 1024  # a decade of a busy account's statements is a few MB
MAX_LINES = 100_000
MAX_DESCRIPTION = 1000  # the raw contract's limit for a transaction's text


class FileRefused(ValueError):
    """The file cannot be imported; the message says why and what to do. Nothing was written."""


@dataclass(frozen=True)
class StatementLine:
    posted: date
    amount: Decimal            # positive = money out (the partner's convention)
    description: str
    fitid: str | None = None   # the OFX transaction id; None in a CSV
    authorized: date | None = None
    merchant: str | None = None
    currency: str | None = None  # the line's own currency, when the file gives one
    where: str = ""            # "line 12" / "transaction 3": for messages


@dataclass
class Statement:
    kind: str                   # "OFX 1.x (SGML)", "QFX", "CSV: UK bank (Paid out/Paid in)", ...
    lines: list[StatementLine] = field(default_factory=list)
    currency: str | None = None  # what the file says (OFX CURDEF, a CSV currency column)
    currency_guess: str | None = None  # what its layout suggests (a German bank: EUR)
    account_type: str | None = None  # depository | credit
    account_subtype: str | None = None  # checking | savings | credit card | ...
    mask: str | None = None     # last 4 of the account number the file names (never more)
    balance: Decimal | None = None  # the balance the statement ends with, partner's sign
    notes: list[str] = field(default_factory=list)  # what was inferred, for the progress lines


def clean_text(value: object) -> str:
    """A description as one line of text, whitespace collapsed."""
    return " ".join(str(value or "").split())


def sniff_kind(head: bytes) -> str:
    """``ofx`` or ``csv`` from the first bytes, or FileRefused for what is neither."""
    if not head.strip():
        raise FileRefused("the file is empty; export the statement again from the bank")
    sample = head[:4096]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    if b"\x00" in sample or controls > len(sample) // 100:
        raise FileRefused("the file is binary, not an OFX/QFX or CSV export (a PDF, a "
                          "spreadsheet or a zip?); export the statement as OFX, QFX or CSV")
    text = sample.lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    if text.startswith((b"OFXHEADER", b"<?XML", b"<OFX")) or b"<OFX>" in text:
        return "ofx"
    if text.startswith((b"%PDF", b"PK\x03\x04", b"{\\RTF", b"<!DOCTYPE", b"<HTML")):
        raise FileRefused("the file is not an OFX/QFX or CSV export (it looks like a PDF, a "
                          "spreadsheet or a web page); export the statement as OFX, QFX or CSV")
    return "csv"
