"""Whom the lake knows: a person exists while a linked item or a transaction of theirs does."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lake.lake import Lake
from lake.tables import CREDENTIALS, TRANSACTIONS


def has_user(lake: Lake, user_id: str) -> bool:
    """Whether the lake holds a linked item or a transaction of ``user_id``."""
    for t in (CREDENTIALS, TRANSACTIONS):
        dt = lake.delta(t)
        if dt is None:
            continue
        dataset = dt.to_pyarrow_dataset()
        try:
            found = dataset.head(1, columns=["user_id"],
                                 filter=ds.field("user_id") == str(user_id)).num_rows
        except pa.ArrowNotImplementedError:
            # string_view columns (delta-rs MERGE output) cannot be compared while scanning
            ids = dataset.to_table(columns=["user_id"]).column("user_id").cast(pa.string())
            found = pc.any(pc.equal(ids, str(user_id))).as_py()
        if found:
            return True
    return False
