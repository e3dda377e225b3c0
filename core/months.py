"""Calendar months as ``YYYY-MM`` strings (no Spark: the dashboard uses them too)."""

from __future__ import annotations

from datetime import date, timedelta


def shift_month(month: str, n: int) -> str:
    """'YYYY-MM' moved by ``n`` months (negative = earlier)."""
    y, m = divmod(int(month[:4]) * 12 + int(month[5:7]) - 1 + n, 12)
    return f"{y:04d}-{m + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive, oldest first."""
    out, m = [], first
    while m <= last:
        out.append(m)
        m = shift_month(m, 1)
    return out


def month_end(month: str) -> date:
    """The last day of ``month``."""
    nxt = shift_month(month, 1)
    return date(int(nxt[:4]), int(nxt[5:7]), 1) - timedelta(days=1)


def with_months_before(months: list[str], n: int) -> list[str]:
    """The months and the ``n`` before each (what a cell's baseline reads; a late change to
    an old month reads around that month only, not everything since)."""
    return sorted({shift_month(m, -k) for m in months for k in range(n + 1)})


def months_back(month: str | None, n: int) -> str:
    """The first month of the ``n`` months ending with ``month`` (all months if None)."""
    return "0000-00" if month is None else shift_month(month, -(n - 1))
