"""A scan of stored data for secrets, value by value, as a reader of each file would see it.

It looks for the known secrets (partner tokens and secret, the numbers a leaky bank sent) and
for the shapes of account, routing and card numbers (see ``Scanner.patterns``). Each value is
scanned on its own, so two values stored side by side are never read as one number: SQLite
files are read through sqlite3 cell by cell, Parquet files row by row, JSON parsed and walked
(JSON held in strings too), pickles opcode by opcode, text line by line. Blobs are decoded
when they are zlib or gzip data, Parquet, a pickle, JSON or UTF-8 text. Bytes of no known
kind are scanned as their runs of printable characters (split at every other byte). The
bytes of a SQLite file and of its write-ahead log or journal are also looked through for the
known secrets (deleted rows and free pages keep values no query returns), but not for shapes:
there, values stored side by side run together.

Text and numbers are judged differently. A leaked number arrives as text (a description, a
message), and text is checked for every shape. A number column (SQLite INTEGER/REAL, Parquet
numeric, JSON and pickled numbers) holds counts, sizes, storage ids and epoch times, which
have 10-17 digits as often as not (13-digit milliseconds, 16-digit microseconds), and a
tenth of them pass the ABA or Luhn checksums: numbers are checked against the known secrets
(also without their leading zeros, as a number column would keep them) and as cards only
when they could be one: 13-19 digits, Luhn-valid, leading digit 2-6 (the payment-card ranges
of ISO/IEC 7812), and not an epoch time between 2000 and 2100 in seconds, milliseconds,
microseconds or nanoseconds.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import pickletools
import re
import shutil
import sqlite3
import tempfile
import zlib
from collections.abc import Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from core.redaction import aba_valid, luhn_valid

# Where a number starts and ends (its token boundaries): not touching a letter, digit or
# underscore (hex and base62 ids, "abc_1234567890"), nor a decimal point (1234567890.12), nor
# right after "hhhh-" (the last group of a UUID, "...-9d87-123456789012"), nor the raw
# layout's zero-padded update=0000000001. As in core.redaction, which leaves these alone.
_START = r"(?<![\w.])(?<![0-9a-f]{4}-)(?<!update=)"
_END = r"(?!\w|\.\d)"
# Account numbers: 10-17 digits; not a change-stream position, whose zero-padded update
# number runs into its attempt: "0000000001-20260301T120000123456Z-00001-000003".
LONG_RUN = re.compile(_START + r"\d{10,17}" + _END + r"(?!-\d{8}T\d{12}Z-)", re.I)
# As the redaction has it, 6-17 digits after an account keyword are an account number, the
# keyword glued to them or not ("ACCT12345678901", "CHK# 000123456789", "SAV-12345678").
ACCOUNT_AFTER_KEYWORD = re.compile(
    r"(?<!\w)(?<![0-9a-f]{4}-)(?:accounts?|acct|a/c|routing|aba|iban|chk|checking|sav|savings)"
    r"(?:[\s:#.\-]*(?:no\.?|nbr|num(?:ber)?))?[\s:#.\-]*\d{6,17}" + _END, re.I)
ROUTING_LIKE = re.compile(_START + r"\d{9}" + _END, re.I)  # with the ABA checksum
# Cards as they are printed: contiguous, or in groups of 4 (Amex 4-6-5) with one space or
# dash between them. Any digits with any separators would take a Delta file name's
# "part-00000-79018446-cf57-..." (a counter and a UUID's first group) for a card.
CARD_LIKE = re.compile(_START + r"(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}"
                       r"|\d{4}[ -]\d{6}[ -]\d{4,5})" + _END, re.I)
TOKEN_SHAPE = re.compile(r"\b(?:access|public|processor)-(?:sandbox|development|production)-"
                         r"[0-9a-z]{6}")
MAYBE = re.compile(r"\d{4}|(?:access|public|processor)-", re.I)  # every shape above needs one
DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){7,}")  # 8+ digits, single separators allowed
PRINTABLE = re.compile(rb"[\t\x20-\x7e]{4,}")

_EPOCHS = [(946_684_800 * 10**k, 4_102_444_800 * 10**k) for k in (0, 3, 6, 9)]  # 2000-2100
_PICKLED_NUMBERS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT",
                    "BINFLOAT"}
SQLITE = b"SQLite format 3\x00"
SQLITE_WAL = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def card_like_number(value: int) -> bool:
    """Whether an integer a program stored could be a payment card's number."""
    digits = str(abs(value))
    return (13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)
            and not any(lo <= abs(value) < hi for lo, hi in _EPOCHS))


def _inflated(data: bytes) -> bytes | None:
    """gzip or zlib data decompressed (Dagster keeps its snapshots zlib-compressed)."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if len(data) > 2 and data[0] == 0x78 and (data[0] << 8 | data[1]) % 31 == 0:
            return zlib.decompress(data)
    except (OSError, EOFError, zlib.error):
        pass
    return None


class Scanner:
    """Collects ``(where, what, excerpt)`` hits; ``secrets`` maps a label to a known value."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        # a number is found as one or more whole groups of a run of digits (a card may be
        # printed in groups), not inside a longer number; other secrets as they are
        self.numbers = {v: k for k, v in secrets.items() if v.isdigit()}
        self.unpadded = {v.lstrip("0"): k for k, v in secrets.items()
                         if v.isdigit() and v.startswith("0") and len(v.lstrip("0")) >= 8}
        self.others = {v: k for k, v in secrets.items() if not v.isdigit()}
        longest_first = sorted(self.others, key=len, reverse=True)
        self.others_re = re.compile("|".join(map(re.escape, longest_first))) \
            if self.others else None
        self.hits: list[tuple[str, str, str]] = []
        self.scanned = 0

    def _hit(self, where: str, what: str, text: str, start: int = 0, end: int = 0) -> None:
        excerpt = text[max(0, start - 60):end + 60].replace("\n", " ")
        self.hits.append((where, what, excerpt))

    def report(self) -> str:
        """Hits grouped by place (numbers in it folded) and kind, with one example each."""
        groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for where, what, excerpt in self.hits:
            groups.setdefault((re.sub(r"\d+", "N", where), what), []).append((where, excerpt))
        return f"{len(self.hits)} hit(s):\n" + "\n".join(
            f"{len(v)} x {what} in {place}, e.g. {v[0][0]}: ...{v[0][1]}..."
            for (place, what), v in sorted(groups.items()))

    # -- values ---------------------------------------------------------------------------
    def secrets(self, where: str, text: str) -> None:
        """The known secrets in ``text``."""
        self.scanned += 1
        if self.others_re is not None:
            for m in self.others_re.finditer(text):
                self._hit(where, f"known secret {self.others[m.group(0)]}", text, *m.span())
        if not self.numbers or not MAYBE.search(text):
            return
        for m in DIGIT_RUN.finditer(text):  # whole groups of digits, or a card's groups
            groups = re.split(r"[ -]", m.group(0))
            for i in range(len(groups)):
                digits = ""
                for group in groups[i:]:
                    digits += group
                    if len(digits) > 19:
                        break
                    if digits in self.numbers:
                        self._hit(where, f"known secret {self.numbers[digits]}", text,
                                  *m.span())

    def patterns(self, where: str, text: str) -> None:
        """Account, routing and card numbers and partner tokens by their shape."""
        if not MAYBE.search(text):
            return
        for m in LONG_RUN.finditer(text):
            self._hit(where, "account number (10-17 digits)", text, *m.span())
        for m in ACCOUNT_AFTER_KEYWORD.finditer(text):
            self._hit(where, "account number after a keyword", text, *m.span())
        for m in ROUTING_LIKE.finditer(text):
            if aba_valid(m.group(0)) and len(set(m.group(0))) > 1:
                self._hit(where, "routing number (ABA checksum)", text, *m.span())
        for m in CARD_LIKE.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn_valid(digits) and len(set(digits)) > 1:
                self._hit(where, "card number (Luhn)", text, *m.span())
        for m in TOKEN_SHAPE.finditer(text):
            self._hit(where, "partner token", text, *m.span())

    def text(self, where: str, text: str) -> None:
        self.secrets(where, text)
        self.patterns(where, text)

    def number(self, where: str, value: int | float | Decimal) -> None:
        """A number a program stored: the known secrets, and cards (see the module doc)."""
        text = str(value)
        self.secrets(where, text)
        if isinstance(value, int):
            if text.lstrip("-") in self.unpadded:
                self._hit(where, f"known secret {self.unpadded[text.lstrip('-')]}", text,
                          0, len(text))
            if card_like_number(value):
                self._hit(where, "card number (Luhn) stored as a number", text, 0, len(text))

    def string(self, where: str, text: str) -> None:
        """A string value: JSON in it decoded and walked, else text."""
        if text.lstrip()[:1] in ("{", "["):
            try:
                doc = json.loads(text)
            except ValueError:
                pass
            else:
                self.value(where, doc)
                return
        self.text(where, text)

    def value(self, where: str, value: Any) -> None:
        """A decoded value of any kind: strings, bytes, numbers, and containers of them."""
        if value is None or isinstance(value, bool | date | time | timedelta):
            return  # dates and times are not text anybody sent
        if isinstance(value, str):
            self.string(where, value)
        elif isinstance(value, bytes | bytearray | memoryview):
            self.data(where, bytes(value))
        elif isinstance(value, int | float | Decimal):
            self.number(where, value)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                self.value(where, k)
                self.value(where, v)
        elif isinstance(value, list | tuple | set | frozenset):
            for v in value:
                self.value(where, v)
        else:  # anything else as it prints
            self.text(where, str(value))

    # -- files and blobs ------------------------------------------------------------------
    def file(self, where: str, path: Path, name: str | None = None) -> None:
        """A file, by what it holds (``name``, the file's name by default, is scanned too)."""
        data = path.read_bytes()
        if data.startswith(SQLITE) or not data and Path(f"{path}-wal").exists():
            self.text(f"{where} (its name)", name or path.name)
            self.sqlite(where, path)
        else:
            self.data(where, data, name or path.name)

    def data(self, where: str, data: bytes, name: str = "") -> None:
        """Bytes of any kind, decoded by what they start with; ``name`` (a file name or
        object key, if any) is scanned as text."""
        if name:
            self.text(f"{where} (its name)", name)
        if data.startswith(SQLITE):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp, "copy.db")
                path.write_bytes(data)
                self.sqlite(where, path)
            return
        if data[:4] in SQLITE_WAL or name.endswith(("-wal", "-journal")):
            # pages of a database, whose cells are read through it (sqlite3 applies the WAL);
            # as bytes, the values in a page run together, so only the known secrets
            self.raw_secrets(where, data)
            return
        if len(data) >= 8 and data[:4] == data[-4:] == b"PAR1" and self.parquet(where, data):
            return
        inflated = _inflated(data)
        if inflated is not None:
            self.data(f"{where} (decompressed)", inflated)
            return
        if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") \
                and self.pickle(where, data):
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text:
            self.binary(where, data)
        elif name.endswith((".json", ".jsonl", ".crc")) or text.lstrip()[:1] in ("{", "["):
            self.json(where, text)
        else:
            self.lines(where, text)

    def lines(self, where: str, text: str) -> None:
        for i, line in enumerate(text.splitlines(), 1):
            self.text(f"{where} line {i}", line)

    def json(self, where: str, text: str) -> None:
        """A JSON document, or JSON lines (Delta commits): parsed and walked; a line that is
        not JSON as text."""
        try:
            self.value(where, json.loads(text))
            return
        except ValueError:
            pass
        for i, line in enumerate(text.splitlines(), 1):
            try:
                doc = json.loads(line)
            except ValueError:
                self.text(f"{where} line {i}", line)
            else:
                self.value(f"{where} line {i}", doc)

    def sqlite(self, where: str, path: Path) -> None:
        """Every cell of every table (the schema too), on a copy of the database and its
        WAL or journal (reading must not change it); the file's bytes for the known secrets,
        which deleted rows and free pages may still hold (its WAL or journal, a file of its
        own, is scanned as one)."""
        self.raw_secrets(where, path.read_bytes())
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp, path.name)
            for suffix in ("", "-wal", "-journal"):
                if (src := Path(f"{path}{suffix}")).exists():
                    shutil.copyfile(src, f"{copy}{suffix}")
            try:
                with contextlib.closing(sqlite3.connect(copy)) as conn:
                    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
                    tables = ["sqlite_master", *(r[0] for r in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"))]
                    for table in tables:
                        cursor = conn.execute('SELECT * FROM "{}"'.format(
                            table.replace('"', '""')))
                        columns = [d[0] for d in cursor.description]
                        for i, row in enumerate(cursor):
                            for column, value in zip(columns, row, strict=True):
                                self.value(f"{where} table {table} row {i} column {column}",
                                           value)
            except sqlite3.DatabaseError as exc:  # not readable as a database: as bytes
                self._hit(where, f"unreadable SQLite ({exc}), scanned as bytes", "")
                self.binary(where, path.read_bytes())

    def parquet(self, where: str, data: bytes) -> bool:
        """Every cell, row by row, and the footer's key-value metadata."""
        try:
            parquet = pq.ParquetFile(io.BytesIO(data))
            rows = parquet.read().to_pylist()
        except Exception:  # noqa: BLE001 - not readable as Parquet: the caller goes on
            return False
        for key, value in (parquet.metadata.metadata or {}).items():
            self.value(f"{where} metadata", key.decode("utf-8", errors="replace"))
            self.value(f"{where} metadata", value.decode("utf-8", errors="replace"))
        for i, row in enumerate(rows):
            for column, value in row.items():
                self.value(f"{where} row {i} column {column}", value)
        return True

    def pickle(self, where: str, data: bytes) -> bool:
        """The strings, bytes and numbers of the pickles in ``data``, opcode by opcode (read,
        never loaded); bytes after the last pickle as bytes."""
        stream = io.BytesIO(data)
        values: list[Any] = []
        try:
            while stream.tell() < len(data) and data[stream.tell()] == 0x80:
                for op, arg, _pos in pickletools.genops(stream):
                    if isinstance(arg, str | bytes) or op.name in _PICKLED_NUMBERS:
                        values.append(arg)
        except Exception:  # noqa: BLE001 - not a pickle after all
            return False
        for value in values:
            self.value(where, value)
        if stream.tell() < len(data):
            self.binary(f"{where} after the pickle", data[stream.tell():])
        return True

    def binary(self, where: str, data: bytes) -> None:
        """Bytes of no known kind: every run of printable characters, as text."""
        for m in PRINTABLE.finditer(data):
            self.text(f"{where} at byte {m.start()}", m.group(0).decode("ascii"))

    def raw_secrets(self, where: str, data: bytes) -> None:
        for m in PRINTABLE.finditer(data):
            self.secrets(f"{where} at byte {m.start()}", m.group(0).decode("ascii"))
