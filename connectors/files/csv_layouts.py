"""CSV exports: which column is what, from the header (common bank layouts) or as given.

Known layouts, recognised by their column names (in any order, any case, extra columns
ignored):

* a US bank: ``Date,Description,Amount`` (money out negative, mm/dd/yyyy);
* a card: ``Transaction Date,Post Date,Description,Category,Type,Amount`` (the post date is
  the posting date, the transaction date the authorisation date; purchases negative, or
  positive where the ``Type`` column says so);
* money out and in in two columns: ``Debit``/``Credit``, ``Withdrawals``/``Deposits``;
* a UK bank: ``Date,Type,Description,Paid out,Paid in,Balance`` (dd/mm/yyyy, GBP);
* a German bank: ``Buchungstag;Verwendungszweck;Betrag`` (``;``-separated, decimal comma,
  dd.mm.yyyy, EUR), with the counterparty column when there is one.

Lines the bank puts above the header (account number, period) are skipped. ``--csv-columns
date=Booked,description=Text,amount=Value`` names the columns (or their 1-based positions)
for any other layout.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal

from connectors.files.csv_values import (
    US_DATES,
    choose_date_format,
    date_format,
    decimal_mark,
    parse_amount,
    parse_day,
)
from connectors.files.statement import (
    MAX_LINES,
    FileRefused,
    Statement,
    StatementLine,
    clean_text,
)

ROLES = ("date", "authorized", "description", "merchant", "amount", "out", "in", "currency",
         "type")
ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "post date", "posted date", "posting date", "booking date", "buchungstag",
             "buchungsdatum", "datum", "transaction date", "trans. date", "trans date",
             "date posted", "completed date"),
    "description": ("description", "details", "transaction description", "narrative",
                    "verwendungszweck", "buchungstext", "memo", "name", "payee", "reference"),
    "merchant": ("beguenstigter/zahlungspflichtiger", "begünstigter/zahlungspflichtiger",
                 "auftraggeber/empfänger", "auftraggeber / begünstigter",
                 "name zahlungsbeteiligter", "empfänger", "counterparty"),
    "amount": ("amount", "betrag", "umsatz", "value", "transaction amount"),
    "out": ("debit", "paid out", "money out", "withdrawals", "withdrawal", "debit amount",
            "soll", "ausgang"),
    "in": ("credit", "paid in", "money in", "deposits", "deposit", "credit amount", "haben",
           "eingang"),
    "currency": ("currency", "währung", "waehrung", "wahrung"),
    "type": ("type", "transaction type"),
}
GERMAN = {"buchungstag", "buchungsdatum", "verwendungszweck", "betrag", "umsatz", "buchungstext"}
SIGNS = ("out-negative", "out-positive")
PURCHASE_TYPES = {"sale", "purchase", "debit", "card purchase"}
HEADER_SEARCH = 30  # lines above the header a bank may write (account, period, balances)
SYMBOLS = {"£": "GBP", "€": "EUR", "¥": "JPY", "₹": "INR"}  # not "$": many currencies use it
UNIT = re.compile(r"\s*\((\w{3})\)\s*$")  # "Amount (GBP)", "Betrag (EUR)"


@dataclass
class Mapping:
    """Column positions by role, and what the layout suggests where the file is silent."""
    columns: dict[str, int]
    layout: str
    header_line: int | None      # 0-based line of the header (None: the file has none)
    day_first: bool = False
    decimal: str = "."
    currency_guess: str | None = None
    currency_unit: str | None = None  # what the header says: "Amount (GBP)"
    width: int = 0
    notes: list[str] = field(default_factory=list)


def parse_columns(spec: str) -> dict[str, str]:
    """``--csv-columns date=Buchungstag,amount=Betrag`` as {role: column name or position}."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        role, sep, column = part.partition("=")
        role = role.strip().lower()
        if not sep or role not in ROLES or not column.strip():
            raise FileRefused(f"--csv-columns {part!r}: use ROLE=COLUMN pairs separated by "
                              f"commas, roles {', '.join(ROLES)} (a COLUMN is a header name or "
                              "a 1-based position), e.g. date=Date,description=Memo,amount=Amount")
        out[role] = column.strip()
    return out


def read_csv(text: str, *, columns: dict[str, str] | None = None, date_fmt: str | None = None,
             decimal: str | None = None, sign: str | None = None) -> Statement:
    """Every line of a CSV export as statement lines, or FileRefused naming the first problem."""
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise FileRefused(f"the file has {len(lines):,} lines, more than {MAX_LINES:,}; split "
                          "it into smaller exports (a year at a time)")
    delimiter, mapping = _find_header(lines, columns)
    if date_fmt:
        date_fmt = date_format(date_fmt)
    body = "\n".join(lines[(mapping.header_line + 1) if mapping.header_line is not None else 0:])
    first = (mapping.header_line + 2) if mapping.header_line is not None else 1
    rows: list[tuple[str, list[str]]] = []
    for n, row in enumerate(csv.reader(io.StringIO(body), delimiter=delimiter), first):
        if not any(c.strip() for c in row):
            continue
        while len(row) > mapping.width and not row[-1].strip():
            row = row[:-1]  # a trailing separator on every line
        if len(row) < max(mapping.columns.values()) + 1 or len(row) > mapping.width:
            raise FileRefused(f"line {n}: {len(row)} fields where the header has "
                              f"{mapping.width} (a wrong separator, or a broken line?); fix "
                              "the line or export the file again")
        rows.append((f"line {n}", row))
    if not rows:
        raise FileRefused("the file has a header but no transactions; export a period with "
                          "transactions in it")
    return _statement(rows, mapping, date_fmt, decimal, sign)


def _normal(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().strip('"').lower().split())


def _find_header(lines: list[str], given: dict[str, str] | None) -> tuple[str, Mapping]:
    """The separator and the column mapping, from the first line that reads as a header."""
    for i, line in enumerate(lines[:HEADER_SEARCH]):
        if not line.strip():
            continue
        for delimiter in (",", ";", "\t", "|"):
            if delimiter not in line and len(lines) > 1:
                continue
            cells = next(csv.reader([line], delimiter=delimiter), [])
            mapping = _mapped(cells, given, i)
            if mapping is not None:
                return delimiter, mapping
    if given and all(v.isdigit() for v in given.values()):
        return _positions(lines, given)
    seen = next((ln for ln in lines if ln.strip()), "")[:120]
    named = (f"with the columns {', '.join(given.values())}" if given else
             "with a date and an amount (or money out/in) column")
    raise FileRefused(f"no header line {named} in the first {HEADER_SEARCH} lines (the file "
                      f"starts {seen!r}); name the columns with --csv-columns "
                      "date=...,description=...,amount=... (or out=...,in=...)")


def _mapped(cells: list[str], given: dict[str, str] | None, line: int) -> Mapping | None:
    names = [_normal(c) for c in cells]
    units = [UNIT.search(n) for n in names]
    bare = [UNIT.sub("", n) for n in names]
    columns: dict[str, int] = {}
    if given:
        for role, col in given.items():
            if col.isdigit():
                columns[role] = int(col) - 1
            elif _normal(col) in names or _normal(col) in bare:
                key = _normal(col)
                columns[role] = names.index(key) if key in names else bare.index(key)
            else:
                return None
    else:
        for role, aliases in ALIASES.items():
            for alias in aliases:  # the first alias found wins: "post date" before "date"
                if alias in bare and bare.index(alias) not in columns.values():
                    columns[role] = bare.index(alias)
                    break
        if "date" in columns and "transaction date" in bare and \
                bare.index("transaction date") != columns["date"]:
            columns["authorized"] = bare.index("transaction date")
    if "date" not in columns or not ("amount" in columns or "out" in columns
                                     or "in" in columns):
        return None
    if given is None and ("out" in columns) != ("in" in columns) and "amount" not in columns:
        return None
    german = bool(GERMAN & set(bare))
    uk = bool({"paid out", "paid in", "money out", "money in"} & set(bare))
    unit = next((u.group(1).upper() for u in units if u), None)
    layout = ("German bank (Buchungstag;Verwendungszweck;Betrag)" if german else
              "UK bank (Paid out/Paid in)" if uk else
              "money out and in in two columns" if "out" in columns else
              "card (Transaction Date, Post Date, ..., Amount)" if "authorized" in columns else
              "bank (Date, Description, Amount)")
    return Mapping(columns, "given columns" if given else layout, line, day_first=german or uk,
                   decimal="," if german else ".",
                   currency_guess="EUR" if german else "GBP" if uk else None,
                   currency_unit=unit, width=len(cells))


def _positions(lines: list[str], given: dict[str, str]) -> tuple[str, Mapping]:
    """Columns given by position: the first line is data unless its date cell is no date."""
    first = next(i for i, ln in enumerate(lines) if ln.strip())
    delimiter = max((",", ";", "\t", "|"), key=lines[first].count)
    cells = next(csv.reader([lines[first]], delimiter=delimiter), [])
    columns = {role: int(v) - 1 for role, v in given.items()}
    if min(columns.values()) < 0:
        raise FileRefused("--csv-columns: positions start at 1")
    date_cell = cells[columns["date"]] if "date" in columns and columns["date"] < len(cells) \
        else ""
    looks_like_date = any(parse_day(date_cell, f) for f in ("%m/%d/%Y", "%d/%m/%Y", "%Y-%m-%d",
                                                              "%d.%m.%Y", "%m/%d/%y"))
    if "date" not in columns or not {"amount", "out", "in"} & set(columns):
        raise FileRefused("--csv-columns must name the date column and the amount column (or "
                          "out= and in=)")
    return delimiter, Mapping(columns, "given columns", None if looks_like_date else first,
                              width=len(cells))


def _statement(rows: list[tuple[str, list[str]]], m: Mapping, date_fmt: str | None,
               decimal: str | None, sign: str | None) -> Statement:
    col = m.columns
    cell = lambda row, role: row[col[role]] if role in col and col[role] < len(row) else ""  # noqa: E731
    fmt, note = choose_date_format([(w, cell(r, "date")) for w, r in rows], m.day_first,
                                   date_fmt)
    auth_fmt = None
    if "authorized" in col:
        auth_fmt, _ = choose_date_format([(w, cell(r, "authorized")) for w, r in rows],
                                         m.day_first, date_fmt or fmt)
    money = [cell(r, role) for _, r in rows for role in ("amount", "out", "in")]
    mark = decimal_mark(money, decimal, m.decimal)
    if sign and "amount" not in col:
        raise FileRefused("--sign is for a single amount column; this file has money out and "
                          "money in in two columns, which say the direction themselves")
    guess = m.currency_guess or ("USD" if fmt in US_DATES else None)
    out = Statement(kind=f"CSV: {m.layout}", currency_guess=guess,
                    notes=[*m.notes, *([note] if note else [])])
    if mark == "," and decimal is None:
        out.notes.append("amounts read with a decimal comma (--decimal . to change)")
    amounts = []
    for where, row in rows:
        if "amount" in col:
            value = parse_amount(cell(row, "amount"), mark, where)
            if value is None:
                raise FileRefused(f"{where}: the amount is empty; fix the line or remove it")
        else:
            paid_out = parse_amount(cell(row, "out"), mark, where)
            paid_in = parse_amount(cell(row, "in"), mark, where)
            if paid_out is None and paid_in is None:
                raise FileRefused(f"{where}: neither money out nor money in is given; fix the "
                                  "line or remove it")
            value = abs(paid_in or Decimal(0)) - abs(paid_out or Decimal(0))
        amounts.append((where, row, value))
    flip = _sign(amounts, cell, sign, "amount" in col, out)
    for where, row, value in amounts:
        posted = parse_day(cell(row, "date"), fmt)
        if posted is None:
            raise FileRefused(f"{where}: the date is empty; fix the line or remove it")
        authorized = parse_day(cell(row, "authorized"), auth_fmt) if auth_fmt else None
        merchant = clean_text(cell(row, "merchant")) or None
        purpose = clean_text(cell(row, "description"))
        description = " ".join(p for p in (merchant, purpose) if p)
        out.lines.append(StatementLine(
            posted=posted, amount=flip * value, description=description,
            authorized=authorized, merchant=merchant,
            currency=clean_text(cell(row, "currency")).upper() or None, where=where))
    currencies = {ln.currency for ln in out.lines if ln.currency}
    symbols = {SYMBOLS[ch] for text in money for ch in text if ch in SYMBOLS}
    if len(currencies) == 1:
        out.currency = currencies.pop()
    elif not currencies:
        stated = symbols | ({m.currency_unit} if m.currency_unit else set())
        if len(stated) > 1:
            raise FileRefused(f"the amounts are in {' and '.join(sorted(stated))} at once (by "
                              "their header and symbols); export one currency per file")
        out.currency = stated.pop() if stated else None
    return out


def _sign(amounts: list, cell, sign: str | None, single: bool, out: Statement) -> Decimal:  # noqa: ANN001
    """-1 to turn the file's amounts into the partner's (money out positive), or 1."""
    if not single:
        return Decimal(-1)  # in - out: money in positive, as the file's own columns say
    if sign is None:
        purchases = [v for _, row, v in amounts if cell(row, "type").strip().lower()
                     in PURCHASE_TYPES]
        if purchases and all(v > 0 for v in purchases):
            out.notes.append("purchases are positive in this file (from its Type column): "
                             "read as money out (--sign out-negative to change)")
            return Decimal(1)
        return Decimal(-1)
    if sign not in SIGNS:
        raise FileRefused(f"--sign {sign!r}: use out-negative (money out is negative, most "
                          "banks) or out-positive (money out is positive, some card exports)")
    return Decimal(-1) if sign == "out-negative" else Decimal(1)
