"""Raw partner pages -> change records -> silver transaction rows (pure DataFrame transforms).

Every change carries ``source_seq``: its position in the partner's change stream
(update, attempt, page, index within the page), zero-padded so that string order is stream
order. Merges apply a change only when it is newer than what silver holds.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

_TXN = (
    "struct<transaction_id:string, account_id:string, amount:double, iso_currency_code:string,"
    " date:string, authorized_date:string, name:string, merchant_name:string, pending:boolean,"
    " pending_transaction_id:string, payment_channel:string>"
)
_ACCOUNT = (
    "struct<account_id:string, name:string, mask:string, type:string, subtype:string,"
    " balances:struct<current:double, available:double, iso_currency_code:string>>"
)
PAGE_DDL = (
    "meta struct<raw_ref:string, sync_date:string, user_id:string, item_id:string,"
    " institution_id:string, update_seq:bigint, attempt:string, page:bigint, landed_at:string>,"
    f" response struct<added:array<{_TXN}>, modified:array<{_TXN}>,"
    " removed:array<struct<transaction_id:string, account_id:string>>,"
    f" accounts:array<{_ACCOUNT}>, next_cursor:string, has_more:boolean>"
)

TXN_FIELDS = ("transaction_id", "account_id", "amount", "iso_currency_code", "date",
              "authorized_date", "name", "merchant_name", "pending", "pending_transaction_id",
              "payment_channel")


def _date(name: str) -> Column:
    """Partner date text as a date; NULL (not an error) when malformed."""
    return F.col(name).try_cast("date")


def _seq(idx: Column) -> Column:
    return F.concat_ws(
        "-",
        F.lpad(F.col("meta.update_seq").cast("string"), 10, "0"),
        F.col("meta.attempt"),
        F.lpad(F.col("meta.page").cast("string"), 5, "0"),
        F.lpad(idx.cast("string"), 6, "0"),
    )


def page_changes(pages: DataFrame) -> DataFrame:
    """One row per added / modified / removed record of each page, with its stream position."""
    n_added = F.coalesce(F.size("response.added"), F.lit(0))
    n_modified = F.coalesce(F.size("response.modified"), F.lit(0))
    parts = []
    for kind, offset in (("added", F.lit(0)), ("modified", n_added),
                         ("removed", n_added + n_modified)):
        exploded = pages.select("meta", offset.alias("offset"),
                                F.posexplode(f"response.{kind}").alias("idx", "r"))
        cols = [
            F.when(F.lit(kind == "removed"), F.lit("remove")).otherwise(F.lit("upsert"))
            .alias("change"),
            F.lit(kind).alias("change_kind"),
            *[
                (F.col(f"r.{f}") if kind != "removed" or f in ("transaction_id", "account_id")
                 else F.lit(None)).alias(f)
                for f in TXN_FIELDS
            ],
            F.col("meta.user_id").alias("user_id"),
            F.col("meta.item_id").alias("item_id"),
            F.col("meta.raw_ref").alias("raw_ref"),
            F.to_date("meta.sync_date").alias("sync_date"),
            F.to_timestamp("meta.landed_at").alias("observed_at"),
            _seq(F.col("offset") + F.col("idx")).alias("source_seq"),
            F.to_json("r").alias("record"),
        ]
        parts.append(exploded.select(*cols))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def contract_violations(changes: DataFrame, sync_date: date, currencies: list[str]) -> Column:
    """A '; '-joined reason for every rule a change breaks ('' when it is valid)."""
    upsert = F.col("change") == "upsert"
    posted = _date("date")
    latest = F.date_add(F.lit(sync_date.isoformat()).cast("date"), 31)
    checks = [
        (F.coalesce(F.length("transaction_id"), F.lit(0)) == 0, "missing transaction_id"),
        (F.coalesce(F.length("account_id"), F.lit(0)) == 0, "missing account_id"),
        (upsert & F.col("amount").isNull(), "amount missing or not a number"),
        (upsert & (F.isnan("amount") | (F.abs("amount") >= 1e9)), "amount not finite or absurd"),
        (upsert & ~F.coalesce(F.col("iso_currency_code").isin(currencies), F.lit(False)),
         "unknown currency"),
        (upsert & posted.isNull(), "date missing or not YYYY-MM-DD"),
        (upsert & ((posted < F.lit("1990-01-01").cast("date")) | (posted > latest)),
         "date implausible"),
        (upsert & (F.length("name") > 1000), "description longer than 1000 characters"),
    ]
    return F.concat_ws("; ", *[F.when(cond, F.lit(msg)) for cond, msg in checks])


def split_contract(changes: DataFrame, sync_date: date, currencies: list[str]
                   ) -> tuple[DataFrame, DataFrame]:
    """(valid changes, quarantined changes with a non-empty ``reason``)."""
    checked = changes.withColumn("reason", contract_violations(changes, sync_date, currencies))
    good = checked.filter(F.col("reason") == "").drop("reason")
    bad = checked.filter(F.col("reason") != "")
    return good, bad


def quarantine_rows(bad: DataFrame) -> DataFrame:
    return bad.select(
        F.sha2(F.concat_ws("|", "raw_ref", "source_seq"), 256).substr(1, 32).alias("record_id"),
        F.lit("transactions_sync").alias("source"),
        "raw_ref", "item_id", "reason", "record", "sync_date",
        F.col("observed_at").alias("quarantined_at"),
    )


def latest_changes(changes: DataFrame) -> DataFrame:
    """The newest change per (account_id, transaction_id) within a batch."""
    w = Window.partitionBy("account_id", "transaction_id").orderBy(F.col("source_seq").desc())
    return changes.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn")


def transaction_rows(latest: DataFrame) -> DataFrame:
    """Silver-shaped rows for the newest change of each key (categories still empty)."""
    from pipelines.merchants import merchant_columns

    return merchant_columns(_transaction_rows(latest), "description", "merchant").drop(
        "merchant_display")


def _transaction_rows(latest: DataFrame) -> DataFrame:
    removed = F.col("change") == "remove"
    posted_date = _date("date")
    return latest.select(
        F.sha2(F.concat_ws("|", "account_id", "transaction_id"), 256).substr(1, 32)
        .alias("txn_id"),
        "user_id", "item_id", "account_id",
        F.col("transaction_id").alias("partner_txn_id"),
        "pending",
        F.col("pending_transaction_id").alias("pending_partner_txn_id"),
        F.col("amount").cast("decimal(18,2)").alias("amount"),
        F.col("iso_currency_code").alias("currency"),
        posted_date.alias("posted_date"),
        _date("authorized_date").alias("authorized_date"),
        F.col("name").alias("description"),
        F.col("merchant_name").alias("merchant"),
        F.lit(None).cast("string").alias("merchant_key"),  # set by merchant_columns below
        "payment_channel",
        F.lit(None).cast("string").alias("category"),
        F.lit("none").alias("category_source"),
        F.lit(None).cast("double").alias("category_confidence"),
        F.lit(None).cast("string").alias("user_category"),
        F.when(removed, "removed").otherwise("live").alias("status"),
        F.when(removed, F.col("observed_at")).alias("removed_at"),
        F.lit(None).cast("string").alias("superseded_by"),
        F.lit(None).cast("string").alias("supersede_method"),
        F.lit(False).alias("partner_duplicate"),
        "source_seq",
        F.when(~removed, F.col("source_seq")).alias("content_seq"),
        "raw_ref", "sync_date",
        F.col("observed_at").alias("updated_at"),
        F.date_format(posted_date, "yyyy-MM").alias("posted_month"),
        "change", "change_kind",
    )


def account_rows(pages: DataFrame) -> DataFrame:
    """Latest balance snapshot per account from the pages' ``accounts`` arrays."""
    acc = pages.select("meta", F.explode("response.accounts").alias("a"))
    rows = acc.select(
        F.col("a.account_id").alias("account_id"),
        F.col("meta.user_id").alias("user_id"),
        F.col("meta.item_id").alias("item_id"),
        F.col("meta.institution_id").alias("institution_id"),
        F.col("a.name").alias("name"),
        F.col("a.mask").alias("mask"),
        F.col("a.type").alias("type"),
        F.col("a.subtype").alias("subtype"),
        F.col("a.balances.current").cast("decimal(18,2)").alias("balance_current"),
        F.col("a.balances.available").cast("decimal(18,2)").alias("balance_available"),
        F.col("a.balances.iso_currency_code").alias("currency"),
        _seq(F.lit(0)).alias("source_seq"),
        F.to_timestamp("meta.landed_at").alias("last_synced_at"),
    )
    w = Window.partitionBy("account_id").orderBy(F.col("source_seq").desc())
    return rows.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn")


def review_balances(incoming: DataFrame, current: DataFrame) -> DataFrame:
    """Hold back implausible balance jumps: keep the last accepted balance, flag for review.

    A jump is a move of more than max($10,000, 3x the previous balance) between two
    syncs. The held-back figure is kept in ``reported_balance``; a later plausible balance
    clears the flag. (Sign flips alone are normal: an overdrawn checking account.)
    """
    prev = current.select(
        "account_id", F.col("balance_current").alias("_prev"),
        F.col("balance_available").alias("_prev_available"))
    j = incoming.join(prev, "account_id", "left")
    new, old = F.col("balance_current"), F.col("_prev")
    jump = old.isNotNull() & new.isNotNull() & (
        F.abs(new - old) > F.greatest(F.lit(10000), F.abs(old) * 3))
    return j.select(
        *[c for c in incoming.columns
          if c not in ("balance_current", "balance_available", "needs_review",
                       "review_reason", "reported_balance")],
        F.when(jump, old).otherwise(new).alias("balance_current"),
        F.when(jump, F.col("_prev_available")).otherwise(F.col("balance_available"))
        .alias("balance_available"),
        jump.alias("needs_review"),
        F.when(jump, F.concat(F.lit("balance jumped from "), old.cast("string"),
                              F.lit(" to "), new.cast("string"))).alias("review_reason"),
        F.when(jump, new).alias("reported_balance"),
    )
