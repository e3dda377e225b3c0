"""DuckDB over the lake: every existing registry table as a view named after the table.

For the dashboard's per-user pages and operators' Python (identified, unrestricted: these
views read the lake's files; analysts get the sandbox of lake/analyst_sql.py)::

    from lake.duck import connect, query
    con = connect(lake)
    con.execute("SELECT month, sum(amount) FROM monthly_spend GROUP BY 1").fetchall()
    df = query(lake, "SELECT * FROM transactions WHERE user_id = ?", ["user_0001"])

Delta tables are opened with delta-rs and handed to DuckDB as Arrow datasets (the DuckDB delta
extension is not used), so a view reads the table version current when it was registered.
Tables that have not been created yet are simply absent. Timestamps come back in UTC.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from lake.tables import REGISTRY, WITHHELD_COLUMNS, Table

if TYPE_CHECKING:
    import pandas as pd
    from deltalake import DeltaTable

    from lake.lake import Lake

Params = Sequence[Any] | Mapping[str, Any] | None


class LakeQueryError(RuntimeError):
    """A query failed; the message carries DuckDB's explanation and the tables on offer."""

    def __init__(self, message: str, available: Sequence[str]) -> None:
        self.available = list(available)
        listed = ", ".join(self.available) if self.available else "none (the lake is empty)"
        super().__init__(f"{message.strip()}\nAvailable tables: {listed}")


def duck_type(spark_type: str) -> str:
    """The DuckDB type for a registry (Spark DDL) type."""
    t = spark_type.strip().lower()
    if m := re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", t):
        return f"DECIMAL({m.group(1)},{m.group(2)})"
    return {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMPTZ", "int": "INTEGER",
            "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
            "float": "FLOAT"}[t]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def typed_select(t: Table, source: str, present: set[str] | None = None) -> str:
    """A SELECT of ``t``'s registry columns from ``source``, cast to the registry's types; a
    column not in ``present`` (the data's schema: added to the registry after it was written)
    reads as null."""
    def column(c: str, typ: str) -> str:
        value = quote(c) if present is None or c in present else "NULL"
        return f"CAST({value} AS {duck_type(typ)}) AS {quote(c)}"

    return f"SELECT {', '.join(column(c, typ) for c, typ in t.columns)} FROM {source}"


def view_sql(t: Table, files: list[str], present: set[str] | None = None) -> str:
    """:func:`typed_select` of ``t`` over its Parquet ``files`` (partition values from the
    ``col=value`` directories)."""
    if not files:  # a table with no rows yet: typed columns, no rows
        nulls = ", ".join(f"CAST(NULL AS {duck_type(typ)}) AS {quote(c)}" for c, typ in t.columns)
        return f"SELECT {nulls} WHERE false"
    listed = ", ".join(_literal(f) for f in files)
    return typed_select(t, f"read_parquet([{listed}], hive_partitioning = true, "
                           "union_by_name = true)", present)


def analyst_tables() -> list[Table]:
    """What analysts see: every table except operational ones (credentials, logins, audit
    pseudonyms)."""
    return [t for t in REGISTRY.values() if t.layer != "ops"]


def is_local(dt: DeltaTable) -> bool:
    """Whether DuckDB can read ``dt``'s Parquet files by path (not on S3)."""
    return dt.table_uri.startswith(("file:", "/"))


def register(con: duckdb.DuckDBPyConnection, t: Table, dt: DeltaTable | None) -> None:
    """(Re)point the view ``t.name`` at the current version of ``dt`` (None: no rows yet).

    A local lake's view reads the version's Parquet files with DuckDB's own reader (row-group
    statistics prune a per-user filter; typed as in the registry, so columns delta-rs wrote
    as ``string_view`` compare with plain strings). On S3 the table goes through delta-rs as
    an Arrow dataset (DuckDB's S3 reader is an extension finlake does not install).

    These views read files and hold real ids: for the dashboard's per-user pages and
    operators' Python. Analysts get lake/analyst_sql.py instead.
    """
    if dt is not None and not is_local(dt):
        con.register(t.name, dt.to_pyarrow_dataset())
        return
    files = [] if dt is None else dt.file_uris()
    present = None if dt is None else {f.name for f in dt.schema().fields}
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(t.name)} AS {view_sql(t, files, present)}")


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the session settings finlake relies on."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # Delta data files are immutable: keeping their Parquet footers saves re-reading them on
    # every query (the dashboard's connection lives as long as the server).
    con.execute("SET parquet_metadata_cache = true")
    return con


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with a view for every analyst-facing table in ``lake``,
    identified and unrestricted (operators' Python; analysts use lake/analyst_sql.py).

    Operational tables (layer ``ops``: sealed credentials, logins) are never exposed.
    """
    con = new_connection()
    for t in analyst_tables():
        dt = lake.delta(t)
        if dt is not None:
            register(con, t, dt)
    return con


def available_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the tables and views this connection can query, sorted."""
    settle(con)
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal "
        "UNION SELECT table_name FROM duckdb_tables() ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def settle(con: duckdb.DuckDBPyConnection) -> None:
    """Drop any result still open on the connection (only one may be open at a time)."""
    with contextlib.suppress(duckdb.Error):
        con.abort()


def query_error(con: duckdb.DuckDBPyConnection, error: duckdb.Error) -> LakeQueryError:
    """DuckDB's ``error`` explained for an analyst, with the tables ``con`` offers."""
    try:
        names = available_tables(con)
    except duckdb.Error:
        names = []
    message = str(error)
    # For an unknown table DuckDB suggests a close name even if it is one of its own catalog
    # tables (pg_enum...): keep only suggestions that point at a lake table.
    hint = re.search(r'\nDid you mean "([^"]+)"\?', message)
    if hint and message.startswith("Catalog Error: Table") and hint.group(1) not in names:
        message = message.replace(hint.group(0), "")
    withheld = [c for c in sorted(WITHHELD_COLUMNS) if f'column "{c}" not found' in message]
    if withheld:
        message += (f"\n{withheld[0]} is withheld from analysts' de-identified tables; ids are "
                    "pseudonyms there. Operators can query with --identified (audited).")
    return LakeQueryError(message, names)


def fetch_df(con: duckdb.DuckDBPyConnection, sql: str, params: Params = None) -> pd.DataFrame:
    """Run ``sql`` (with bound ``params``) on ``con`` and return every row as a DataFrame."""
    try:
        con.execute(sql, params)
        return con.df()
    except duckdb.Error as error:
        settle(con)
        raise query_error(con, error) from None


def fetch_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Params = None
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` and return (column names, DuckDB type names, rows) with exact Python values.

    Unlike :func:`fetch_df`, decimals stay :class:`decimal.Decimal` and dates stay dates.
    """
    try:
        con.execute(sql, params)
        desc = con.description or []
        rows = con.fetchall()
    except duckdb.Error as error:
        settle(con)
        raise query_error(con, error) from None
    return [str(d[0]) for d in desc], [str(d[1]) for d in desc], rows


def query(lake: Lake, sql: str, params: Params = None) -> pd.DataFrame:
    """Run one query against the lake and return the result as a pandas DataFrame."""
    con = connect(lake)
    try:
        return fetch_df(con, sql, params)
    finally:
        con.close()


def query_rows(
    lake: Lake, sql: str, params: Params = None
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """Like :func:`query` but with exact Python values (see :func:`fetch_rows`)."""
    con = connect(lake)
    try:
        return fetch_rows(con, sql, params)
    finally:
        con.close()
