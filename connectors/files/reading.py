"""Read a bank's file from disk: at most :data:`MAX_FILE_BYTES`, its format told by its content
(not its name), OFX/QFX or CSV, into a :class:`Statement`; FileRefused otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connectors.files.csv_layouts import parse_columns, read_csv
from connectors.files.ofx import read_ofx
from connectors.files.statement import MAX_FILE_BYTES, FileRefused, Statement, sniff_kind


@dataclass(frozen=True)
class ReadOptions:
    csv_columns: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    sign: str | None = None


def file_bytes(path: str) -> bytes:
    """The file's bytes, refused when it cannot be read or is larger than a statement is."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            body = fh.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise FileRefused(f"{path} is a folder; give the exported file") from None
    except OSError as exc:
        raise FileRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > MAX_FILE_BYTES:
        raise FileRefused(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, more "
                          "than a bank statement export; export a shorter period (a year at a "
                          "time)")
    return body


def read_statement(body: bytes, options: ReadOptions) -> Statement:
    """The statement a file holds, or FileRefused with one line saying what is wrong."""
    if sniff_kind(body) == "ofx":
        if options.csv_columns or options.date_format or options.decimal:
            raise FileRefused("--csv-columns, --date-format and --decimal are for CSV files; "
                              "this is an OFX/QFX file, which says all of that itself")
        return read_ofx(body, options.sign)
    columns = parse_columns(options.csv_columns) if options.csv_columns else None
    return read_csv(_text(body), columns=columns, date_fmt=options.date_format,
                    decimal=options.decimal, sign=options.sign)


def _text(body: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else Windows-1252 (German and UK banks'
    exports often are)."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("cp1252")
    except UnicodeDecodeError:
        raise FileRefused("the file is not text (neither UTF-8 nor Windows-1252): export the "
                          "statement as OFX, QFX or CSV") from None
