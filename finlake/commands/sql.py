"""``finlake sql``: run a query against the lake and print the result as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake

FORMATS = ("table", "csv", "json")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def sql_command(settings: Settings, args: argparse.Namespace) -> int:
    """``finlake sql``: one query, an interactive session or an export, in the analyst sandbox
    (lake/analyst_sql.py), de-identified unless ``--identified``; every statement audited."""
    from lake.audit_log import cli_actor
    from lake.lake import Lake
    from lake.pseudonyms import pseudonym_key

    lake = Lake(settings.lake_root, settings.s3_endpoint)
    key = None if args.identified else pseudonym_key(settings.key_dir, settings.pseudonym_key)
    if args.export:
        return export_file(lake, args.export, pseudonym_key=key, replace=args.replace,
                           actor=cli_actor())
    if args.replace:
        print("finlake sql: --replace only goes with --export FILE", file=sys.stderr)
        return 2
    if args.query is None:
        return interactive(lake, args.format, pseudonym_key=key, actor=cli_actor())
    return run_sql(lake, args.query, args.format, pseudonym_key=key, actor=cli_actor())


def run_sql(lake: Lake, sql: str, fmt: str = "table", out: TextIO | None = None,
            pseudonym_key: str | None = None, actor: str | None = None) -> int:
    """Run ``sql`` in the analyst sandbox over ``lake`` and print the result to ``out``; returns
    the exit code. ``pseudonym_key``: de-identified (what analysts get; None: identified).
    ``actor``: who the audit rows name (None: not audited)."""
    from lake.analyst_sql import AnalystSession
    from lake.duck import LakeQueryError

    if fmt not in FORMATS:
        print(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    try:
        with AnalystSession(lake, pseudonym_key, actor=actor) as session:
            names, types, rows = session.run(sql)
    except LakeQueryError as error:
        print(str(error), file=sys.stderr)
        return 2
    _write(fmt, names, types, rows, out or sys.stdout)
    return 0


def _write(fmt: str, names: Sequence[str], types: Sequence[str],
           rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    if fmt == "csv":
        write_csv(names, rows, out)
    elif fmt == "json":
        write_json(names, rows, out)
    else:
        write_table(names, types, rows, out)


def interactive(lake: Lake, fmt: str = "table", inp: TextIO | None = None,
                out: TextIO | None = None, pseudonym_key: str | None = None,
                actor: str | None = None) -> int:
    """Read statements (ending with ``;``) and print each result; ``.tables`` lists the
    tables, ``.quit`` (or end of input) leaves. From a pipe it runs a script and exits 1 if
    any statement failed."""
    from lake.analyst_sql import AnalystSession
    from lake.duck import LakeQueryError

    inp, out = inp or sys.stdin, out or sys.stdout
    tty = inp.isatty()
    if tty:
        import readline  # noqa: F401 - line editing and history at the prompt

        out.write("finlake sql: DuckDB over the lake. End a statement with ';'. "
                  ".tables lists the tables, .quit leaves.\n")
    session = AnalystSession(lake, pseudonym_key, actor=actor, interactive=True)
    buf: list[str] = []
    failed = 0
    try:
        while True:
            if tty:
                out.write("finlake> " if not buf else "     ...> ")
                out.flush()
            line = inp.readline()
            if not line:
                break
            text = line.strip()
            if not buf and text in (".quit", ".exit", "\\q"):
                break
            if not buf and text == ".tables":
                out.write(", ".join(session.tables()) + "\n")
                continue
            if not text or (not buf and text.startswith("--")):
                continue
            buf.append(line)
            if not text.endswith(";"):
                continue
            sql, buf = "".join(buf).strip().rstrip(";"), []
            try:
                names, types, rows = session.run(sql)
            except LakeQueryError as error:
                print(str(error), file=sys.stderr)
                failed += 1
                continue
            _write(fmt, names, types, rows, out)
    finally:
        session.close()
    return 1 if failed and not tty else 0


def export_file(lake: Lake, path: str, out: TextIO | None = None,
                pseudonym_key: str | None = None, replace: bool = False,
                actor: str | None = None) -> int:
    """``finlake sql --export FILE``: a DuckDB file with a table per analyst table
    (de-identified with ``pseudonym_key``); an existing FILE only with ``replace``."""
    from lake.duck_export import export

    exists = (f"finlake sql --export: {path} already exists; choose a new file name, or add "
              "--replace to overwrite it")
    if Path(path).exists() and not replace:
        print(exists, file=sys.stderr)
        return 2
    try:
        if actor is not None:
            from lake.audit_log import audit

            audit(lake, actor, "export", identified=pseudonym_key is None, replace=replace)
        versions = export(lake, Path(path), pseudonym_key, replace=replace)
    except FileExistsError:
        print(exists, file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:
        print(f"finlake sql --export: {error}", file=sys.stderr)
        return 2
    (out or sys.stdout).write(
        f"wrote {path}: {len(versions)} tables ({', '.join(sorted(versions))}); open it "
        f"with duckdb.connect({path!r}, read_only=True)\n")
    return 0


def json_value(value: Any) -> Any:
    """A JSON-ready value: decimals as numbers, dates and times as ISO strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_value(v) for v in value]
    return str(value)  # UUID, intervals and anything else DuckDB hands back


def text_value(value: Any) -> str:
    """How a value reads in a text table or CSV cell (NULL -> empty)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(json_value(value))
    return str(value)


def write_csv(names: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([text_value(v) for v in row])


def write_json(names: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    """A JSON array of records, one object per row keyed by column name."""
    records = [{n: json_value(v) for n, v in zip(names, row, strict=True)} for row in rows]
    json.dump(records, out, indent=2, ensure_ascii=False)
    out.write("\n")


def write_table(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
                out: TextIO) -> None:
    """An aligned text table: numbers right-aligned, everything else left-aligned."""
    cells = [[text_value(v).replace("\n", " ") if v is not None else "NULL" for v in row]
             for row in rows]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    numeric = [t.upper().startswith(_NUMERIC) for t in types]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric, strict=True)]
        return " | ".join(parts).rstrip()

    out.write(line(list(names)) + "\n")
    out.write("-+-".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write(line(row) + "\n")
    count = len(rows)
    out.write(f"({count} row{'' if count == 1 else 's'})\n")


def register(sub: Subparsers) -> None:
    sql = sub.add_parser("sql", help="query lake tables with DuckDB")
    sql.add_argument("query", nargs="?",
                     help='e.g. "SELECT count(*) FROM transactions"; none: interactive')
    sql.add_argument("--export", metavar="FILE.duckdb",
                     help="write a DuckDB file with a table per analyst table (for notebooks)")
    sql.add_argument("--replace", action="store_true",
                     help="with --export: overwrite FILE if it exists")
    sql.add_argument("--format", choices=FORMATS, default="table")
    sql.add_argument("--identified", action="store_true",
                     help="operators only: real ids and descriptions instead of the analysts' "
                          "de-identified tables (recorded in the audit log)")
    sql.set_defaults(handler=sql_command)
