"""Export a DuckDB database file with a view per lake table, for notebooks and BI tools.

Each view reads the Parquet files of the table's Delta version at export time (partition
values from the ``col=value`` directories), cast to the registry's types, so the file works
with plain DuckDB and no delta extension. Re-export to see newer data. Operational tables
(sealed credentials, logins) are never exported; analysts' exports are de-identified.
``_finlake_export`` records what was exported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from lake.duck import analyst_tables, quote, view_sql

if TYPE_CHECKING:
    from lake.catalog import Lake


def export(lake: Lake, path: Path, pseudonym_key: str | None = None) -> dict[str, int]:
    """Write ``path`` (replaced if it exists); returns {table: Delta version exported}.
    With ``pseudonym_key`` the views are de-identified (lake/duck.py ``deidentify``)."""
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
        for t in analyst_tables():
            dt = lake.delta(t)
            if dt is None:
                continue
            present = {f.name for f in dt.schema().fields}
            con.execute(f"CREATE VIEW {quote(t.name)} AS "
                        f"{view_sql(t, dt.file_uris(), present, pseudonym_key)}")
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
