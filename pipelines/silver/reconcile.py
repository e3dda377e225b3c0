"""Raw -> silver reconciliation for one partition, after its MERGE.

Every record the partition's raw pages hold must be explained:

- quarantined (the raw contract rejected it; its row is in ``quarantine``), or
- superseded within the batch (a later change to the same transaction in the same day), or
- in silver at exactly its stream position with the same amount and state, or
- superseded in silver by a newer change (a later partition already merged).

Anything else (a record missing from silver, an amount that differs, a quarantine row that
was not written) is unexplained and fails the check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from lake import delta
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import QUARANTINE, TRANSACTIONS
from pipelines.raw.contract import ContractStats
from pipelines.silver.rows import latest_changes
from quality.validation import check

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

KEYS = ["account_id", "transaction_id"]


def reconcile(spark: SparkSession, lake: Lake, changes: DataFrame | None,
              stats: ContractStats, rejected: list[dict[str, Any]], months: list[str]
              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(counts, rule results) for the partition; rules fail on any unexplained record."""
    counts: dict[str, Any] = {
        "raw_records": stats.records, "valid_changes": stats.changes,
        "quarantined_records": stats.quarantined, "bad_pages": stats.bad_pages,
        "bad_sections": stats.bad_sections, "bad_accounts": stats.bad_accounts}
    by_kind = {"in_silver": 0, "newer_in_silver": 0, "missing": 0, "differs": 0}
    counts["superseded_in_batch"] = 0
    raw_sum = silver_sum = 0.0
    if changes is not None:
        latest = latest_changes(changes).select(
            *KEYS, F.col("source_seq").alias("seq"), "change",
            F.round("amount", 2).cast("decimal(18,2)").alias("raw_amount"),
            F.col("iso_currency_code").alias("raw_currency"),
            F.col("date").cast("date").alias("raw_date"))
        silver = delta.read_table(spark, lake, TRANSACTIONS).select(
            "account_id", F.col("partner_txn_id").alias("transaction_id"),
            F.col("source_seq").alias("s_seq"), F.col("amount").alias("s_amount"),
            F.col("status").alias("s_status"), F.col("currency").alias("s_currency"),
            F.col("posted_date").alias("s_date"), "posted_month")
        near = silver.filter(F.col("posted_month").isin(months)) if months else silver
        outcome = _outcome(latest.join(near.drop("posted_month"), KEYS, "left"))
        lost = outcome.filter(F.col("_kind") == "missing").select(*latest.columns)
        if months and lost.limit(1).count():  # moved to a month the batch did not touch
            found = _outcome(lost.join(silver.drop("posted_month"), KEYS, "left"))
            outcome = outcome.filter(F.col("_kind") != "missing").unionByName(found)
        agg = outcome.groupBy("_kind").agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.when(F.col("change") == "upsert", F.col("raw_amount"))).alias("raw"),
            F.sum(F.when(F.col("change") == "upsert", F.col("s_amount"))).alias("silver"),
        ).collect()
        n_latest = 0
        for r in agg:
            by_kind[r["_kind"]] = r["n"]
            n_latest += r["n"]
            if r["_kind"] == "in_silver":
                raw_sum, silver_sum = float(r["raw"] or 0), float(r["silver"] or 0)
        counts["superseded_in_batch"] = stats.changes - n_latest
    counts.update(by_kind, raw_amount_in_silver=round(raw_sum, 2),
                  silver_amount=round(silver_sum, 2))
    written = _quarantined(lake, rejected)
    counts["quarantine_rows_expected"] = len({r["record_id"] for r in rejected})
    counts["quarantine_rows_found"] = written
    explained = (stats.quarantined + counts["superseded_in_batch"] + by_kind["in_silver"]
                 + by_kind["newer_in_silver"])
    rules = [
        check("every raw record is accounted for", stats.records == explained
              and by_kind["missing"] == 0,
              f"{stats.records} raw records = {stats.quarantined} quarantined + "
              f"{counts['superseded_in_batch']} superseded in batch + {by_kind['in_silver']} "
              f"in silver + {by_kind['newer_in_silver']} newer in silver; "
              f"{by_kind['missing']} missing",
              "nothing is dropped between raw and silver"),
        check("silver holds each record as sent (amount, currency, date, removal)",
              by_kind["differs"] == 0
              and abs(raw_sum - silver_sum) < 0.005,
              f"{by_kind['differs']} differ; raw {raw_sum:.2f} vs silver {silver_sum:.2f}",
              "amounts and removals arrive unchanged"),
        check("every rejected record is in quarantine",
              written == counts["quarantine_rows_expected"],
              f"{written} of {counts['quarantine_rows_expected']} quarantine rows found",
              "bad records are kept with a reason, never dropped"),
    ]
    return counts, rules


def _outcome(j: DataFrame) -> DataFrame:
    applied = F.col("s_seq") == F.col("seq")
    same = F.when(F.col("change") == "upsert",
                  F.col("s_status").isin("live", "superseded", "duplicate")
                  & (F.col("s_amount") == F.col("raw_amount"))
                  & (F.col("s_currency") == F.col("raw_currency"))
                  & (F.col("s_date") == F.col("raw_date")))\
        .otherwise(F.col("s_status").isin("removed", "superseded"))
    kind = (F.when(F.col("s_seq").isNull() | (F.col("s_seq") < F.col("seq")), "missing")
            .when(F.col("s_seq") > F.col("seq"), "newer_in_silver")
            .when(applied & F.coalesce(same, F.lit(False)), "in_silver")
            .otherwise("differs"))
    return j.withColumn("_kind", kind)


def _quarantined(lake: Lake, rejected: list[dict[str, Any]]) -> int:
    if not rejected:
        return 0
    import pyarrow.dataset as ds

    ids = sorted({r["record_id"] for r in rejected})
    dates = sorted({r["sync_date"] for r in rejected})
    found = read_rows(lake, QUARANTINE, ds.field("sync_date").isin(dates)
                      & ds.field("record_id").isin(ids))
    return len({r["record_id"] for r in found})
