"""Calendar months as ``YYYY-MM`` strings (no Spark: the dashboard uses them too)."""

from __future__ import annotations


def shift_month(month: str, n: int) -> str:
    """'YYYY-MM' moved by ``n`` months (negative = earlier)."""
    y, m = divmod(int(month[:4]) * 12 + int(month[5:7]) - 1 + n, 12)
    return f"{y:04d}-{m + 1:02d}"
