"""Analysts' tables, built where the analyst cannot look.

Each analyst table is read from the lake by a private DuckDB connection (the Parquet files of
its current Delta version on a local lake, the delta-rs Arrow dataset on S3) and handed on as
Arrow record batches. The analyst's sandbox (lake/analyst_sql.py) and an export file receive
rows only: never a file path, a view over files, or the pseudonym key.

De-identified (the default): identifying columns become keyed pseudonyms,
``'p_' || left(sha256(key || <first letter of the column> || id), 20)``, so the same id gets
the same pseudonym in every table (joins and distinct counts work) and nobody without the key
can compute one. The key is a bound parameter of the private connection, never part of any
SQL text. Free-text and partner-id columns are left out. Identified (operators'
``--identified``): every column with real ids. Operational tables are never built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lake.duck import (
    analyst_tables,
    duck_type,
    is_local,
    new_connection,
    quote,
    typed_select,
    view_sql,
)
from lake.tables import PSEUDONYMISED_COLUMNS, WITHHELD_COLUMNS, Table
from lake.tables_rules import RULE_TEXT_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

    from lake.lake import Lake

BATCH_ROWS = 100_000


class TableBuilder:
    """Reads analyst tables from ``lake`` in a private connection; with ``pseudonym_key``
    they are de-identified, without it identified."""

    def __init__(self, lake: Lake, pseudonym_key: str | None) -> None:
        if pseudonym_key is not None and not pseudonym_key:
            raise ValueError("an empty pseudonym key would make pseudonyms computable")
        self.lake = lake
        self._key = pseudonym_key
        self._con = new_connection()
        self._deltas: dict[str, DeltaTable] = {}
        self.tables = {t.name: t for t in analyst_tables()}

    @property
    def identified(self) -> bool:
        return self._key is None

    def columns(self, t: Table) -> list[tuple[str, str]]:
        """(name, DuckDB type) of what the analyst gets of ``t``."""
        return [(c, duck_type(typ)) for c, typ in t.columns
                if self.identified or (c not in WITHHELD_COLUMNS and not (
                    t.name == "user_rules" and c in RULE_TEXT_COLUMNS))]

    def create_sql(self, t: Table) -> str:
        """``CREATE TABLE`` for ``t`` as the analyst gets it (no rows)."""
        cols = ", ".join(f"{quote(c)} {typ}" for c, typ in self.columns(t))
        return f"CREATE TABLE {quote(t.name)} ({cols})"

    def current(self, t: Table) -> DeltaTable | None:
        """``t``'s newest version (None if the table does not exist)."""
        dt = self._deltas.get(t.name)
        if dt is not None:
            try:
                dt.update_incremental()
                return dt
            except Exception:  # log rewritten underneath us (table recreated): reopen
                pass
        dt = self.lake.delta(t)
        if dt is None:
            self._deltas.pop(t.name, None)
        else:
            self._deltas[t.name] = dt
        return dt

    def batches(self, t: Table, dt: DeltaTable) -> pa.RecordBatchReader:
        """The rows of version ``dt`` of ``t`` as the analyst gets them, in :meth:`columns`
        order (read them before the next call: the private connection has one result)."""
        present = {f.name for f in dt.schema().fields}
        if is_local(dt):
            body = view_sql(t, dt.file_uris(), present)
        else:  # replaces the previous table's dataset
            self._con.register("_finlake_source", dt.to_pyarrow_dataset())
            body = typed_select(t, "_finlake_source", present)
        sql = self._select(t, body)
        params = {"key": self._key} if "$key" in sql else None
        return self._con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)

    def _select(self, t: Table, body: str) -> str:
        cols = []
        for c, _typ in self.columns(t):
            if not self.identified and c in PSEUDONYMISED_COLUMNS:
                cols.append(f"CASE WHEN {quote(c)} IS NULL THEN NULL ELSE 'p_' || "
                            f"left(sha256($key || '{c[:1]}' || {quote(c)}), 20) END AS {quote(c)}")
            else:
                cols.append(quote(c))
        return f"SELECT {', '.join(cols)} FROM ({body})"

    def close(self) -> None:
        self._con.close()
