"""Export a DuckDB database file with a table per analyst table, for notebooks and BI tools.

Each table holds the rows of the lake table's Delta version at export time, as the analyst
sandbox shows them (lake/analyst_tables.py: de-identified unless the operator asked for real
ids), cast to the registry's types. The file holds data only: no view over the lake's files,
no path of the lake and no pseudonym key, so it works anywhere with plain DuckDB and cannot
reach back into the lake. Re-export to see newer data. Operational tables (sealed
credentials, logins) are never exported. ``_finlake_export`` records what was exported.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from lake.analyst_tables import TableBuilder

if TYPE_CHECKING:
    from lake.lake import Lake


def export(lake: Lake, path: Path, pseudonym_key: str | None = None, *,
           replace: bool = False) -> dict[str, int]:
    """Write ``path`` (mode 0600); returns {table: Delta version exported}. With
    ``pseudonym_key`` the tables are de-identified. An existing ``path`` is refused
    (FileExistsError) unless ``replace``; nothing is left behind on failure."""
    path = Path(path)
    if path.exists() and not replace:
        raise FileExistsError(f"{path} exists")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    versions: dict[str, int] = {}
    builder = TableBuilder(lake, pseudonym_key)
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("SET TimeZone = 'UTC'")
            for t in builder.tables.values():
                dt = builder.current(t)
                if dt is None:
                    continue
                con.execute(builder.create_sql(t))
                con.from_arrow(builder.batches(t, dt)).insert_into(t.name)
                versions[t.name] = dt.version()
            con.execute("CREATE TABLE _finlake_export (table_name VARCHAR, delta_version "
                        "BIGINT, exported_at TIMESTAMPTZ, identified BOOLEAN)")
            now = datetime.now(UTC)
            con.executemany("INSERT INTO _finlake_export VALUES (?, ?, ?, ?)",
                            [(n, v, now, builder.identified) for n, v in sorted(versions.items())])
        finally:
            con.close()
        os.chmod(tmp, 0o600)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never overwrites
    finally:
        builder.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{tmp}.wal").unlink()
    return versions
