"""Dates and amounts as banks write them in CSV exports: which format a column uses, decided
once for the whole column (never row by row), and each value read by it.

Dates: ISO, US (mm/dd/yyyy), day-first (dd/mm/yyyy, dd.mm.yyyy, 05 Nov 2024) and a few
more; when every value fits both month-first and day-first the layout's locale decides (a US
bank: month-first; a UK or German one: day-first). Amounts: ``1,234.56``, ``1.234,56``,
``1 234,56``, ``$4.50``, ``£12.00``, ``(12.50)``, ``12,50-``, ``−3.20``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from connectors.files.statement import FileRefused

# strptime format -> how a person writes it (for --date-format and messages)
FRIENDLY = {"yyyy-mm-dd": "%Y-%m-%d", "mm/dd/yyyy": "%m/%d/%Y", "dd/mm/yyyy": "%d/%m/%Y",
            "dd.mm.yyyy": "%d.%m.%Y", "mm/dd/yy": "%m/%d/%y", "dd/mm/yy": "%d/%m/%y",
            "dd.mm.yy": "%d.%m.%y", "yyyy/mm/dd": "%Y/%m/%d", "dd-mm-yyyy": "%d-%m-%Y",
            "mm-dd-yyyy": "%m-%d-%Y", "dd mon yyyy": "%d %b %Y", "dd-mon-yyyy": "%d-%b-%Y",
            "dd-mon-yy": "%d-%b-%y", "mon dd, yyyy": "%b %d, %Y", "yyyymmdd": "%Y%m%d"}
NAMES = {v: k for k, v in FRIENDLY.items()}
MONTH_FIRST = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%Y/%m/%d", "%b %d, %Y",
               "%Y%m%d", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y")
DAY_FIRST = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d/%m/%y", "%d.%m.%y", "%d-%m-%Y",
             "%Y/%m/%d", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y", "%Y%m%d", "%b %d, %Y")
MIRRORS = {"%m/%d/%Y": "%d/%m/%Y", "%m/%d/%y": "%d/%m/%y", "%m-%d-%Y": "%d-%m-%Y"}
MIRRORS.update({v: k for k, v in MIRRORS.items()})
US_DATES = ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%b %d, %Y")
CURRENCY_MARKS = re.compile(r"[$£€¥₹]|\b[A-Z]{3}\b|\s|\u00a0|\u202f|'")
NUMBER = re.compile(r"\d[\d.,]*")
DATE_FORMAT_HELP = ", ".join(FRIENDLY)


def date_format(spec: str) -> str:
    """A --date-format value (``dd.mm.yyyy`` or a strptime pattern) as a strptime pattern."""
    if spec.lower() in FRIENDLY:
        return FRIENDLY[spec.lower()]
    if "%" in spec:
        return spec
    raise FileRefused(f"--date-format {spec!r}: use one of {DATE_FORMAT_HELP}, or a strptime "
                      "pattern such as %d.%m.%Y")


def parse_day(text: str, fmt: str) -> date | None:
    try:
        return datetime.strptime(text.strip(), fmt).date()
    except ValueError:
        return None


def choose_date_format(values: list[tuple[str, str]], day_first: bool,
                       given: str | None) -> tuple[str, str | None]:
    """The one format every (where, text) date of the column is read with, and a note when
    it was a choice between equally good ones; FileRefused naming the first value that
    fits none."""
    texts = [t for _, t in values if t.strip()]
    preferred, other = (DAY_FIRST, MONTH_FIRST) if day_first else (MONTH_FIRST, DAY_FIRST)
    candidates = [given] if given else list(dict.fromkeys(preferred + other))
    fitting = [f for f in candidates if all(parse_day(t, f) for t in texts)]
    if not fitting:
        best = max(candidates, key=lambda f: sum(1 for t in texts if parse_day(t, f)))
        where, text = next((w, t) for w, t in values if t.strip() and not parse_day(t, best))
        hint = (f"it is not {NAMES.get(best, best)} as --date-format says" if given else
                f"give its format with --date-format (one of {DATE_FORMAT_HELP})")
        raise FileRefused(f"{where}: cannot read the date {text.strip()[:40]!r}: {hint}")
    fmt = fitting[0]
    mirror = MIRRORS.get(fmt)
    if given or mirror is None or not all(parse_day(t, mirror) for t in texts):
        return fmt, None
    return fmt, (f"dates read as {NAMES.get(fmt, fmt)} (every date would also read as "
                 f"{NAMES[mirror]}; --date-format to change)")


def decimal_mark(values: list[str], given: str | None, default: str) -> str:
    """``.`` or ``,``: what separates the cents in this column of amounts."""
    if given:
        return given
    votes = set()
    for text in values:
        digits = NUMBER.search(CURRENCY_MARKS.sub("", text))
        if not digits:
            continue
        s = digits.group()
        last = max(s.rfind("."), s.rfind(","))
        cents = last >= 0 and 1 <= len(s) - last - 1 <= 2
        if cents or ("." in s and "," in s):  # 1.234,56 / 1,234.5: the last one is the mark
            votes.add(s[last])
    if len(votes) > 1:
        raise FileRefused("the amounts mix decimal commas and decimal points; say which the "
                          "file uses with --decimal , or --decimal .")
    return votes.pop() if votes else default


def parse_amount(text: str, mark: str, where: str) -> Decimal | None:
    """An amount as written (None for an empty cell); FileRefused when it is not a number."""
    s = text.strip().replace("\u2212", "-")
    if not s:
        return None
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1]
    s = CURRENCY_MARKS.sub("", s)
    if s.endswith("-"):
        negative, s = not negative, s[:-1]
    if s.startswith("-"):
        negative, s = not negative, s[1:]
    elif s.startswith("+"):
        s = s[1:]
    s = CURRENCY_MARKS.sub("", s)
    thousands = "," if mark == "." else "."
    t, m = re.escape(thousands), re.escape(mark)
    if not re.fullmatch(rf"\d{{1,3}}({t}\d{{3}})*({m}\d+)?|\d+({m}\d+)?", s):
        raise FileRefused(f"{where}: cannot read the amount {text.strip()[:40]!r} (decimal "
                          f"{'comma' if mark == ',' else 'point'}); fix the line, or say the "
                          "file's decimal mark with --decimal , or --decimal .")
    try:
        value = Decimal(s.replace(thousands, "").replace(mark, "."))
    except InvalidOperation:  # pragma: no cover - the pattern above admits numbers only
        raise FileRefused(f"{where}: cannot read the amount {text.strip()[:40]!r}") from None
    return -value if negative else value
