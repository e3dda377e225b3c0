"""Export a DuckDB database file with a view per lake table, for notebooks and BI tools.

Each view reads the Parquet files of the table's Delta version at export time (partition
values from the ``col=value`` directories), cast to the registry's types, so the file works
with plain DuckDB and no delta extension. Re-export to see newer data. Operational tables
(sealed credentials) are never exported. ``_finlake_export`` records what was exported.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from lake.tables import REGISTRY, Table

if TYPE_CHECKING:
    from lake.catalog import Lake


def duck_type(spark_type: str) -> str:
    """The DuckDB type for a registry (Spark DDL) type."""
    t = spark_type.strip().lower()
    if m := re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", t):
        return f"DECIMAL({m.group(1)},{m.group(2)})"
    return {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMPTZ", "int": "INTEGER",
            "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
            "float": "FLOAT"}[t]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(t: Table, files: list[str]) -> str:
    cols = ", ".join(f"CAST({_quote(c)} AS {duck_type(typ)}) AS {_quote(c)}"
                     for c, typ in t.columns)
    if not files:  # a table with no rows yet: typed columns, no rows
        nulls = ", ".join(f"CAST(NULL AS {duck_type(typ)}) AS {_quote(c)}" for c, typ in t.columns)
        return f"SELECT {nulls} WHERE false"
    listed = ", ".join(_literal(f) for f in files)
    return (f"SELECT {cols} FROM read_parquet([{listed}], hive_partitioning = true, "
            "union_by_name = true)")


def export(lake: Lake, path: Path) -> dict[str, int]:
    """Write ``path`` (replaced if it exists); returns {table: Delta version exported}."""
    if lake.root.startswith("s3://"):
        raise ValueError("exporting a DuckDB file needs a local lake (the views read its "
                         "Parquet files by path); query an S3 lake with `finlake sql`")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    versions: dict[str, int] = {}
    con = duckdb.connect(str(tmp))
    try:
        con.execute("SET TimeZone = 'UTC'")
        for t in REGISTRY.values():
            if t.layer == "ops":
                continue
            dt = lake.delta(t)
            if dt is None:
                continue
            con.execute(f"CREATE VIEW {_quote(t.name)} AS {view_sql(t, dt.file_uris())}")
            versions[t.name] = dt.version()
        con.execute("CREATE TABLE _finlake_export (table_name VARCHAR, delta_version BIGINT, "
                    "exported_at TIMESTAMPTZ, lake VARCHAR)")
        now = datetime.now(UTC)
        con.executemany("INSERT INTO _finlake_export VALUES (?, ?, ?, ?)",
                        [(n, v, now, lake.root) for n, v in sorted(versions.items())])
    finally:
        con.close()
    tmp.replace(path)
    return versions
