"""A person's "not a duplicate": the flagged transaction counts again, for good."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lake import delta
from lake.lake import Lake
from lake.small_tables import upsert_rows
from lake.tables import DUPLICATE_KEEPS, TRANSACTIONS
from pipelines.silver.refresh import latest_sync_day
from pipelines.silver.reissued import DUPLICATE, flag_reissued

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class NotFlagged(ValueError):
    """The transaction is not one of the person's, or not a flagged probable duplicate."""


def keep_transaction(spark: SparkSession, lake: Lake, user_id: str, txn_id: str,
                     as_of: date | None = None, source: str = "cli") -> dict:
    """Record that ``txn_id`` (silver's id, as ``finlake duplicate list`` shows it) is no
    duplicate, count it again and refresh the person's gold cell for its month (budgets as
    of ``as_of``, default the newest sync day). Raises :class:`NotFlagged` (nothing written)
    when the person has no such flagged transaction; keeping one already kept is a no-op."""
    from lake.small_tables import read_rows

    rows = (delta.read_table(spark, lake, TRANSACTIONS)
            .filter((F.col("txn_id") == txn_id) & (F.col("user_id") == user_id))
            .select("txn_id", "account_id", "partner_txn_id", "posted_month", "status")
            .collect())
    if not rows:
        raise NotFlagged(f"no transaction {txn_id} for user {user_id}")
    row = rows[0]
    already = any(k["user_id"] == user_id and k["txn_id"] == txn_id
                  for k in read_rows(lake, DUPLICATE_KEEPS))
    if row["status"] != DUPLICATE and not already:
        raise NotFlagged(f"transaction {txn_id} is not flagged as a probable duplicate "
                         f"(status {row['status']})")
    if not already:
        upsert_rows(lake, DUPLICATE_KEEPS, [{
            "user_id": user_id, "txn_id": txn_id, "account_id": row["account_id"],
            "posted_month": row["posted_month"], "source": source,
            "created_at": datetime.now(UTC)}], update=False)
    month = row["posted_month"]
    changed = flag_reissued(spark, lake, [month], users=[user_id])
    if changed:
        from pipelines.gold.refresh import refresh_gold

        refresh_gold(spark, lake, spark.createDataFrame([(user_id, month)],
                                                        "user_id string, month string"),
                     as_of or latest_sync_day(spark, lake))
    return {"user_id": user_id, "txn_id": txn_id, "month": month, "kept": True,
            "already_kept": already, "rows_changed": changed}
