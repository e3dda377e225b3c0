"""The analyst's SQL sandbox: a DuckDB connection that can read the analyst tables and nothing
else (``finlake sql``, its ``--identified`` operator mode, the dashboard's analyst page).

* **Rows, not files.** The connection holds one in-memory table per analyst table of the lake.
  A table's rows are loaded the first time a statement reads it, built by a private connection
  (lake/analyst_tables.py: de-identified with the pseudonym key, or identified), and kept for
  the session. No view, path or key reaches the analyst's connection.
* **Locked.** The connection is opened with external access off (no file, glob, blob,
  ATTACH, COPY, INSTALL or LOAD of an extension from disk), Python replacement scans off and
  no extension autoloading, then its configuration is locked: SET, RESET and PRAGMA cannot
  change any of it.
* **Read statements only.** DuckDB's parser splits and classifies each statement; only
  queries (SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, PIVOT with an IN
  list) and EXPLAIN [ANALYZE] of one run. Anything else refuses the whole input, with one line.
* **Audited.** With an ``actor``, every statement, refused or failed ones included, leaves an
  ``audit_log`` row (``analyst_query``, or ``identified_query`` for an operator's identified
  session) before any result is returned: outcome, statement kind, tables, rows and a SHA-256
  of the text, never the text itself (it may name a person, and audit rows are permanent).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from lake.analyst_tables import TableBuilder
from lake.duck import LakeQueryError, Params, query_error, quote, settle

if TYPE_CHECKING:
    import pandas as pd

    from lake.lake import Lake

ALLOWED = ("SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT ... IN (...), "
           "EXPLAIN [ANALYZE] <query>")
LOCKED = {"enable_external_access": False, "python_enable_replacements": False,
          "autoload_known_extensions": False, "autoinstall_known_extensions": False,
          "allow_community_extensions": False, "allow_unsigned_extensions": False}
# Table functions that read a table named in a string (or in a serialized query): a statement
# calling one gets every table loaded, as its names cannot be read from the parse tree.
DYNAMIC_READS = frozenset({"query", "query_table", "json_execute_serialized_sql",
                           "destroy_external_resource", "duckdb_table_sample"})
R = TypeVar("R")


class StatementRefused(LakeQueryError):
    """The sandbox refused a statement; the message is one line: what, and what is allowed."""

    def __init__(self, message: str, kind: str) -> None:
        RuntimeError.__init__(self, message)
        self.available: list[str] = []
        self.kind = kind


@dataclass(frozen=True)
class Statement:
    text: str
    kind: str  # DuckDB's statement type: SELECT, EXPLAIN...
    tables: frozenset[str] | None  # tables it names; None: any (query(), query_table())


def _refused(kind: str) -> StatementRefused:
    return StatementRefused(f"refused {kind}: analysts' SQL only reads the lake's tables; "
                            f"allowed: {ALLOWED}", kind)


def _names(node: Any, tables: set[str], functions: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE":  # names match whatever their case
            tables.add(str(node.get("table_name", "")).lower())
        if node.get("class") == "FUNCTION":
            functions.add(str(node.get("function_name", "")).lower())
        for value in node.values():
            _names(value, tables, functions)
    elif isinstance(node, list):
        for value in node:
            _names(value, tables, functions)


def _query_tables(con: duckdb.DuckDBPyConnection, text: str, kind: str) -> frozenset[str] | None:
    """The tables the query ``text`` names, from DuckDB's own parse tree (json_serialize_sql
    takes exactly one SELECT statement, and only parses it); refuses anything else."""
    [(tree,)] = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()
    parsed = json.loads(tree)
    if parsed.get("error") or len(parsed.get("statements", [])) != 1:
        if "Only SELECT" in str(parsed.get("error_message", "")):
            raise _refused(kind)
        raise duckdb.ParserException(str(parsed.get("error_message", "not one query")))
    tables: set[str] = set()
    functions: set[str] = set()
    _names(parsed["statements"], tables, functions)
    if functions & DYNAMIC_READS:
        return None
    return frozenset(tables)


def _explained(text: str) -> str | None:
    """The query of ``EXPLAIN [ANALYZE] <query>`` (None for any other shape), from DuckDB's
    tokenizer."""
    starts = [pos for pos, kind in duckdb.tokenize(text) if kind != duckdb.token_type.comment]
    words = [text[a:b].strip().lower() for a, b in zip(starts, [*starts[1:], len(text)],
                                                       strict=True)]
    if not words or words[0] != "explain":
        return None
    at = 2 if len(words) > 1 and words[1] in ("analyze", "analyse") else 1
    return text[starts[at]:] if len(starts) > at else None


def _verb(text: str) -> str:
    """The statement's first keyword as written (INSTALL, RESET, PIVOT...), for messages."""
    starts = [pos for pos, kind in duckdb.tokenize(text) if kind != duckdb.token_type.comment]
    return text[starts[0]:].split(None, 1)[0].upper() if starts else "statement"


def _kind(text: str) -> str | None:
    """The type of the one statement in ``text`` (None: not exactly one statement)."""
    try:
        found = duckdb.extract_statements(text)
    except duckdb.Error:
        return None
    return found[0].type.name if len(found) == 1 else None


def parse(con: duckdb.DuckDBPyConnection, sql: str) -> list[Statement]:
    """``sql``'s statements if each one only reads (DuckDB's parser decides); otherwise
    :class:`StatementRefused` for the whole input. Parser errors raise ``duckdb.Error``."""
    found = duckdb.extract_statements(sql)
    if not found:
        raise duckdb.ParserException("Parser Error: no statement to run")
    out = []
    for s in found:
        kind = s.type.name
        if kind == "SELECT":
            out.append(Statement(s.query, kind, _query_tables(con, s.query, kind)))
            continue
        inner = _explained(s.query) if kind == "EXPLAIN" else None
        if inner is None or _kind(inner) != "SELECT":
            raise _refused(f"EXPLAIN {_verb(inner)}" if inner else
                           "EXPLAIN (...)" if kind == "EXPLAIN" else _verb(s.query))
        out.append(Statement(s.query, kind, _query_tables(con, inner, kind)))
    return out


def locked_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that reads nothing outside itself, configuration locked."""
    con = duckdb.connect(config=dict(LOCKED))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET lock_configuration = true")
    return con


class AnalystSession:
    """One analyst's sandbox over ``lake``: de-identified with ``pseudonym_key``, identified
    without. ``actor``: who is audited for each statement (None: not audited, for the
    dashboard's own fixed queries). ``recheck_seconds``: re-read a table whose Delta version
    moved on, checking at most this often (None: a table stays as first loaded).
    ``absent_as_empty``: a table the lake does not have yet is an empty table (the dashboard,
    whose pages must work on a young lake) rather than missing."""

    def __init__(self, lake: Lake, pseudonym_key: str | None, *, actor: str | None = None,
                 recheck_seconds: float | None = None, interactive: bool = False,
                 absent_as_empty: bool = False) -> None:
        self.lake = lake
        self.actor = actor
        self.interactive = interactive
        self._recheck = recheck_seconds
        self._absent_as_empty = absent_as_empty
        self._builder = TableBuilder(lake, pseudonym_key)
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[int, float]] = {}  # name -> (version, when checked)
        self._con = locked_connection()
        for t in self._builder.tables.values():
            if absent_as_empty or lake.exists(t):
                self._con.execute(self._builder.create_sql(t))

    @property
    def identified(self) -> bool:
        return self._builder.identified

    def tables(self) -> list[str]:
        """The tables this session can read, sorted."""
        with self._lock:
            return self._names()

    def _names(self) -> list[str]:
        rows = self._con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1")
        return [str(r[0]) for r in rows.fetchall()]

    def run(self, sql: str, params: Params = None
            ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        """Run ``sql``; (column names, DuckDB type names, rows) of its last statement."""
        def rows(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str], list[Any]]:
            desc = con.description or []
            return [str(d[0]) for d in desc], [str(d[1]) for d in desc], con.fetchall()

        return self._execute(sql, params, rows, lambda r: len(r[2]))

    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        """Run ``sql``; the result of its last statement as a DataFrame."""
        return self._execute(sql, params, lambda con: con.df(), len)

    def _execute(self, sql: str, params: Params, fetch: Callable[[duckdb.DuckDBPyConnection], R],
                 count: Callable[[R], int]) -> R:
        with self._lock:
            try:
                statements = parse(self._con, sql)
            except StatementRefused as refused:
                self._audit(sql, refused.kind, "refused", [], 0)
                raise
            except duckdb.Error as error:
                self._audit(sql, "UNPARSED", "failed", [], 0)
                raise query_error(self._con, error) from None
            kind = "+".join(s.kind for s in statements)
            try:
                tables = self._load(statements)
            except LakeQueryError:
                self._audit(sql, kind, "failed", [], 0)
                raise
            try:
                for s in statements:
                    self._con.execute(s.text, params)
                result = fetch(self._con)
            except duckdb.PermissionException as error:
                settle(self._con)
                self._audit(sql, kind, "refused", tables, 0)
                reason = str(error).split("\n")[0].removeprefix("Permission Error: ")
                raise StatementRefused(f"refused: {reason.split(' - ')[0]}: analysts' SQL only "
                                       "reads the lake's tables, not files, extensions or "
                                       "settings", kind) from None
            except duckdb.Error as error:
                settle(self._con)
                self._audit(sql, kind, "failed", tables, 0)
                raise query_error(self._con, error) from None
            self._audit(sql, kind, "ok", tables, count(result))
            return result

    def _load(self, statements: Sequence[Statement]) -> list[str]:
        """Load (or refresh) every analyst table the statements name; their names."""
        wanted: set[str] = set()
        for s in statements:
            wanted |= set(self._builder.tables) if s.tables is None else set(s.tables)
        names = sorted(wanted & set(self._builder.tables))
        for name in names:
            self._load_table(name)
        return names

    def _load_table(self, name: str) -> None:
        now = time.monotonic()
        loaded = self._loaded.get(name)
        if loaded is not None and (self._recheck is None or now - loaded[1] < self._recheck):
            return
        t = self._builder.tables[name]
        try:
            dt = self._builder.current(t)
            version = -1 if dt is None else dt.version()
            if loaded is None or loaded[0] != version:
                self._con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
                if dt is not None or self._absent_as_empty:
                    self._con.execute(self._builder.create_sql(t))
                if dt is not None:
                    self._con.from_arrow(self._builder.batches(t, dt)).insert_into(name)
        except Exception as error:  # no half-loaded table: empty, and loaded again next time
            self._loaded.pop(name, None)
            self._con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
            self._con.execute(self._builder.create_sql(t))
            first = str(error).strip().split("\n")[0]
            raise LakeQueryError(f"could not read {name} from the lake: "
                                 f"{type(error).__name__}: {first}", self._names()) from None
        self._loaded[name] = (version, now)

    def _audit(self, sql: str, kind: str, outcome: str, tables: list[str], rows: int) -> None:
        if self.actor is None:
            return
        from lake.audit_log import AuditLog

        log = AuditLog(self.lake)
        log.record(self.actor, "identified_query" if self.identified else "analyst_query",
                   detail={"identified": self.identified, "interactive": self.interactive,
                           "outcome": outcome, "statement": kind, "tables": tables,
                           "rows": rows,
                           "query_sha256": hashlib.sha256(sql.encode()).hexdigest()})
        try:
            log.flush()
        except Exception as error:
            raise LakeQueryError(f"could not write the audit row ({type(error).__name__}); "
                                 "nothing was shown", self._names()) from None

    def close(self) -> None:
        with self._lock:
            self._con.close()
            self._builder.close()

    def __enter__(self) -> AnalystSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
