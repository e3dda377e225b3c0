"""Find a person's identifiers anywhere in the lake: tables (every cell and the Delta log),
raw objects, state, staging and reports.

Identifiers are whole tokens (user, item, account, credentials and transaction ids, access
tokens); text is split into ``[A-Za-z0-9_-]`` runs and each run is looked up in a set, so
one pass finds any of thousands of identifiers and ``user_0002`` never matches
``user_00021``. Parquet is compressed, so tables are scanned as decoded values, not bytes.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lake.lake import Lake
from lake.tables import Table

TOKEN = re.compile(rb"[A-Za-z0-9_\-]+")


@dataclass
class Hits:
    """Where identifiers were found (``place -> sample identifiers``) and what was scanned."""

    found: dict[str, list[str]] = field(default_factory=dict)
    scanned: dict[str, int] = field(default_factory=dict)

    def add(self, place: str, tokens: Iterable[str]) -> None:
        tokens = sorted(set(tokens))
        if tokens:
            self.found.setdefault(place, [])
            self.found[place] = sorted(set(self.found[place]) | set(tokens))[:5]

    def count(self, what: str, n: int = 1) -> None:
        self.scanned[what] = self.scanned.get(what, 0) + n

    def merge(self, other: Hits) -> None:
        for place, tokens in other.found.items():
            self.add(place, tokens)
        for what, n in other.scanned.items():
            self.count(what, n)

    @property
    def clean(self) -> bool:
        return not self.found


def tokens_in(data: bytes | str, wanted: set[bytes]) -> set[str]:
    raw = data.encode() if isinstance(data, str) else data
    return {t.decode() for t in TOKEN.findall(raw) if t in wanted}


def _as_set(identifiers: Iterable[str]) -> set[bytes]:
    return {i.encode() for i in identifiers if i}


def scan_tables(lake: Lake, identifiers: Iterable[str]) -> Hits:
    """Every string value of every table's current version, and every file of its Delta log
    (commit JSON, checksums, checkpoints), for the identifiers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted, hits = _as_set(identifiers), Hits()
    for t in lake.tables():
        dt = lake.delta(t)
        data = dt.to_pyarrow_table()
        hits.count("table rows", data.num_rows)
        for name in data.column_names:
            col = data[name]
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
                    or pa.types.is_string_view(col.type)):
                continue
            values = pc.unique(col.cast(pa.string())).to_pylist()
            found = set()
            for v in values:
                if v:
                    found |= tokens_in(v, wanted)
            hits.add(f"table {t.name}.{name}", found)
        hits.merge(scan_log(lake, t, wanted))
    return hits


def scan_log(lake: Lake, t: Table, wanted: set[bytes]) -> Hits:
    """Every file of the table's Delta log (commit JSON, checksums, checkpoints)."""
    import pyarrow.parquet as pq

    hits = Hits()
    for key in lake.store.list(f"{t.key}/_delta_log/"):
        body = lake.store.get(key)
        hits.count("delta log files")
        if key.endswith(".parquet"):  # a checkpoint: stats and partition values inside
            body = json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(),
                              default=str).encode()
        hits.add(key, tokens_in(body, wanted))
    return hits


def scan_objects(lake: Lake, identifiers: Iterable[str], *, skip_tables: bool = True) -> Hits:
    """Every object outside the tables (raw pages, state, requests, staging, reports, models):
    its key and its body (staged Parquet decoded)."""
    import pyarrow.parquet as pq

    wanted, hits = _as_set(identifiers), Hits()
    for key in lake.store.list(""):
        if skip_tables and key.startswith("tables/"):
            continue
        hits.count("objects")
        body = lake.store.get(key)
        if key.endswith(".parquet"):
            body = json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), default=str).encode()
        hits.add(f"object {key}", tokens_in(key, wanted) | tokens_in(body, wanted))
    return hits
