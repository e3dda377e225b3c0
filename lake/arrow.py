"""Arrow schemas for registered tables (for delta-rs writes of small operational tables)."""

from __future__ import annotations

import re

import pyarrow as pa

from lake.tables import Table

_SIMPLE = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_type(spark_type: str) -> pa.DataType:
    m = re.fullmatch(r"decimal\((\d+),(\d+)\)", spark_type)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    return _SIMPLE[spark_type]


def arrow_schema(t: Table) -> pa.Schema:
    return pa.schema([pa.field(c, arrow_type(typ)) for c, typ in t.columns])
