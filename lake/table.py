"""A lake table's facts: name, layer, schema, keys, partitioning and Delta properties.

The tables themselves are declared in lake/tables_<domain>.py and registered in lake/tables.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    layer: str  # raw | silver | gold | reference | ops
    columns: tuple[tuple[str, str], ...]  # (name, Spark SQL type)
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""
    properties: tuple[tuple[str, str], ...] = ()  # Delta table properties set at creation
    # (column, date column): a partition column holding the date's month ("YYYY-MM"), added
    # after tables were written without it; lake/relayout.py rewrites such a table with it.
    months_of: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Object-store key (relative to the lake root) of the table's directory."""
        return f"tables/{self.layer}/{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def ddl(self) -> str:
        return ", ".join(f"{c} {t}" for c, t in self.columns)
