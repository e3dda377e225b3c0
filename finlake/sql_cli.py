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

from lake.duck import LakeQueryError, query_rows

if TYPE_CHECKING:
    from lake.catalog import Lake

FORMATS = ("table", "csv", "json")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def run_sql(lake: Lake, sql: str, fmt: str = "table", out: TextIO = sys.stdout,
            pseudonym_key: str | None = None) -> int:
    """Run ``sql`` against ``lake`` and print the result to ``out``; returns the exit code.
    ``pseudonym_key``: de-identified views (what analysts get, lake/duck.py)."""
    if fmt not in FORMATS:
        print(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    try:
        names, types, rows = query_rows(lake, sql, pseudonym_key=pseudonym_key)
    except LakeQueryError as error:
        print(str(error), file=sys.stderr)
        return 2
    _write(fmt, names, types, rows, out)
    return 0


def _write(fmt: str, names: Sequence[str], types: Sequence[str],
           rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    if fmt == "csv":
        write_csv(names, rows, out)
    elif fmt == "json":
        write_json(names, rows, out)
    else:
        write_table(names, types, rows, out)


def interactive(lake: Lake, fmt: str = "table", inp: TextIO = sys.stdin,
                out: TextIO = sys.stdout, pseudonym_key: str | None = None) -> int:
    """Read statements (ending with ``;``) and print each result; ``.tables`` lists the
    tables, ``.quit`` (or end of input) leaves. From a pipe it runs a script and exits 1 if
    any statement failed."""
    from lake.duck import available_tables, connect, fetch_rows

    tty = inp.isatty()
    if tty:
        import readline  # noqa: F401 - line editing and history at the prompt

        out.write("finlake sql: DuckDB over the lake. End a statement with ';'. "
                  ".tables lists the tables, .quit leaves.\n")
    con = connect(lake, pseudonym_key)
    buf: list[str] = []
    failed = 0
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
            out.write(", ".join(available_tables(con)) + "\n")
            continue
        if not text or (not buf and text.startswith("--")):
            continue
        buf.append(line)
        if not text.endswith(";"):
            continue
        sql, buf = "".join(buf).strip().rstrip(";"), []
        try:
            names, types, rows = fetch_rows(con, sql)
        except LakeQueryError as error:
            print(str(error), file=sys.stderr)
            failed += 1
            continue
        _write(fmt, names, types, rows, out)
    con.close()
    return 1 if failed and not tty else 0


def export_file(lake: Lake, path: str, out: TextIO = sys.stdout,
                pseudonym_key: str | None = None) -> int:
    """``finlake sql --export FILE``: a DuckDB file with a view per table (de-identified
    with ``pseudonym_key``)."""
    from lake.duck_export import export

    try:
        versions = export(lake, Path(path), pseudonym_key)
    except (ValueError, OSError) as error:
        print(f"finlake sql --export: {error}", file=sys.stderr)
        return 2
    out.write(f"wrote {path}: {len(versions)} views ({', '.join(sorted(versions))}); open it "
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
