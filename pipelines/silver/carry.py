"""A posting inherits the pending transaction's tags and note (lake-facing).

Called by :func:`pipelines.silver.merge.apply_supersession` with the pending -> posted pairs
it marks, twice: *before* the marking, so a run that stops in between finds the pairs again
and carries again (writes are insert-only, so nothing is doubled), and *after* it, for a
change the dashboard (which holds no writer lease) made on the pending row meanwhile. A change
made after the marking is sent to the posted row by its writer (``resolve`` in
pipelines/corrections/annotate.py; the dashboard checks again after writing), so whichever
comes first, the posted row gets it. What the person set on the posted row itself wins. A
partner modification keeps silver's ``txn_id``, so it keeps the tags and note as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lake.delta import read_table
from lake.small_tables import upsert_rows
from lake.tables import TRANSACTION_NOTES, TRANSACTION_TAGS
from pipelines.silver.pending import carried_annotations

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lake.lake import Lake

CARRIED = "carried"  # the source of a carried tag or note
STAMP = {TRANSACTION_TAGS.name: "created_at", TRANSACTION_NOTES.name: "updated_at"}


def carry_annotations(spark: SparkSession, lake: Lake, pairs: DataFrame, silver: DataFrame
                      ) -> int:
    """Copy the tags and note of each pending row in ``pairs`` (``account_id``,
    ``partner_txn_id``, ``superseded_by``) to the posted row replacing it; ``silver``: the
    silver rows of the months both live in. Returns how many tags and notes were copied.
    Nothing is read with Spark while neither table exists."""
    tables = [t for t in (TRANSACTION_TAGS, TRANSACTION_NOTES) if lake.delta(t) is not None]
    if not tables:
        return 0
    ids = silver.select("account_id", "partner_txn_id", "user_id", "txn_id")
    links = (pairs.select("account_id", "partner_txn_id", "superseded_by")
             .join(ids.withColumnRenamed("txn_id", "pending_txn_id"),
                   ["account_id", "partner_txn_id"])
             .join(ids.select("account_id", F.col("partner_txn_id").alias("superseded_by"),
                              F.col("txn_id").alias("posted_txn_id")),
                   ["account_id", "superseded_by"])
             .select("user_id", "pending_txn_id", "posted_txn_id"))
    now, copied = datetime.now(UTC), 0
    for t in tables:
        rows = [r.asDict() for r in carried_annotations(
            links, read_table(spark, lake, t), t.keys).collect()]
        for r in rows:
            r.update({"source": CARRIED, STAMP[t.name]: now})
        upsert_rows(lake, t, rows, update=False)  # the posted row's own stay as they are
        copied += len(rows)
    return copied
