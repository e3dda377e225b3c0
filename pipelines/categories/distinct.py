"""Per distinct value, not per row: what depends only on a few columns of a day's rows
(merchant normalisation, rules, the model) is computed once per distinct combination of
them and looked up again with :func:`attach`."""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def attach(rows: DataFrame, table: DataFrame, on: list[str]) -> DataFrame:
    """``rows`` with ``table``'s other columns looked up by the ``on`` columns, NULL equal
    to NULL (``table`` holds each combination once); a column ``rows`` already has is
    replaced in place, new ones are appended."""
    extra = [c for c in table.columns if c not in on]
    t = table.select(*[F.col(c).alias(f"_on{i}") for i, c in enumerate(on)], *extra)
    hit = reduce(lambda a, b: a & b, [F.col(c).eqNullSafe(F.col(f"_on{i}"))
                                      for i, c in enumerate(on)])
    j = rows.drop(*[c for c in extra if c in rows.columns]).join(t, hit, "left")
    return j.select(*rows.columns, *[c for c in extra if c not in rows.columns])
