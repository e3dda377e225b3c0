"""Account balances per sync day -> daily balances (carried forward) -> daily net worth.

Pure DataFrame transforms. Plaid reports credit and loan balances as positive amounts owed,
so liabilities are summed as they come and subtracted from assets.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MONEY = "decimal(18,2)"
ASSET_TYPES = ("depository", "investment")
LIABILITY_TYPES = ("credit", "loan")
SNAPSHOT_COLUMNS = ("account_id", "user_id", "type", "date", "balance_current")


def balance_snapshots(accounts_by_day: DataFrame) -> DataFrame:
    """One row per (account_id, date): the day's last usable balance observation.

    Observations flagged ``needs_review`` (and those without a balance) are never used; when
    the day's last observation is under review, an earlier good one of that day wins, and a
    day with none left has no snapshot (the previous balance is carried forward later).
    "Last" is by ``observed_at`` when the column exists, then by ``source_seq`` if present.
    """
    cols = accounts_by_day.columns
    usable = accounts_by_day.filter(F.col("balance_current").isNotNull())
    if "needs_review" in cols:
        usable = usable.filter(~F.coalesce(F.col("needs_review"), F.lit(False)))
    order = [F.col(c).desc_nulls_last() for c in ("observed_at", "source_seq") if c in cols]
    if not order:
        order = [F.col("balance_current").desc()]  # no clock: deterministic, arbitrary pick
    w = Window.partitionBy("account_id", "date").orderBy(*order)
    return (
        usable.withColumn("_rn", F.row_number().over(w))
        .filter(F.col("_rn") == 1)
        .select(
            "account_id", "user_id", "type", F.col("date").cast("date").alias("date"),
            F.col("balance_current").cast(MONEY).alias("balance_current"),
        )
    )


def _calendar(snapshots: DataFrame, start: date, end: date) -> DataFrame:
    days = (end - start).days + 1
    return snapshots.sparkSession.range(max(days, 0)).select(
        F.date_add(F.lit(start.isoformat()).cast("date"), F.col("id").cast("int")).alias("date")
    )


def balances_daily(snapshots: DataFrame, start: date, end: date) -> DataFrame:
    """(account_id, user_id, type, date, balance, observed) for each day in [start, end].

    An account has rows from its first snapshot on (or from ``start`` when it was first seen
    earlier); days without a snapshot carry the last known balance (``observed`` false).
    Snapshots before ``start`` seed the carried balance; those after ``end`` are ignored.
    User and type come from the account's latest snapshot up to ``end``.
    """
    snaps = snapshots.select(*SNAPSHOT_COLUMNS).filter(
        F.col("date") <= F.lit(end.isoformat()).cast("date"))
    latest = Window.partitionBy("account_id").orderBy(F.col("date").desc())
    accounts = (
        snaps.withColumn("_rn", F.row_number().over(latest))
        .withColumn("first_date", F.min("date").over(Window.partitionBy("account_id")))
        .filter(F.col("_rn") == 1)
        .select("account_id", "user_id", "type", "first_date")
    )
    grid = (
        accounts.crossJoin(_calendar(snapshots, start, end))
        .filter(F.col("date") >= F.col("first_date"))
        .drop("first_date")
    )
    daily = grid.join(
        snaps.select("account_id", "date", F.col("balance_current").alias("_seen")),
        ["account_id", "date"], "left",
    )
    seeds = snaps.filter(F.col("date") < F.lit(start.isoformat()).cast("date")).select(
        "account_id", "user_id", "type", "date", F.col("balance_current").alias("_seen"))
    carry = (
        Window.partitionBy("account_id").orderBy("date")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return (
        daily.unionByName(seeds)
        .withColumn("balance", F.last("_seen", ignorenulls=True).over(carry).cast(MONEY))
        .filter(F.col("date") >= F.lit(start.isoformat()).cast("date"))
        .select(
            "account_id", "user_id", "type", "date", "balance",
            F.col("_seen").isNotNull().alias("observed"),
        )
    )


def carry_forward(previous: DataFrame, snapshots: DataFrame, day: date) -> DataFrame:
    """``balances_daily`` rows for ``day`` from the day before's rows and ``day``'s snapshots.

    Accounts with a snapshot on ``day`` are observed at it; every other account of
    ``previous`` keeps its balance, user and type (``observed`` false). Equal to
    ``balances_daily(snapshots up to day, day, day)`` when ``previous`` is that for day - 1.
    """
    on_day = F.lit(day.isoformat()).cast("date")
    seen = snapshots.filter(F.col("date") == on_day).select(
        "account_id", "user_id", "type", on_day.alias("date"),
        F.col("balance_current").cast(MONEY).alias("balance"), F.lit(True).alias("observed"),
    )
    carried = previous.join(seen.select("account_id"), "account_id", "left_anti").select(
        "account_id", "user_id", "type", on_day.alias("date"),
        F.col("balance").cast(MONEY).alias("balance"), F.lit(False).alias("observed"),
    )
    return seen.unionByName(carried)


def net_worth_daily(balances: DataFrame) -> DataFrame:
    """Per (user_id, date): assets, liabilities, net_worth, accounts, stale_accounts.

    Assets are depository + investment balances, liabilities credit + loan balances (amounts
    owed, positive). Accounts of any other type are counted but valued in neither.
    """
    def total(types: tuple[str, ...]) -> Column:
        picked = F.when(F.col("type").isin(*types), F.col("balance"))
        return F.coalesce(F.sum(picked), F.lit(0)).cast(MONEY)

    return (
        balances.groupBy("user_id", "date")
        .agg(
            total(ASSET_TYPES).alias("assets"),
            total(LIABILITY_TYPES).alias("liabilities"),
            F.count(F.lit(1)).alias("accounts"),
            F.sum(F.when(~F.col("observed"), 1).otherwise(0)).alias("stale_accounts"),
        )
        .select(
            "user_id", "date", "assets", "liabilities",
            (F.col("assets") - F.col("liabilities")).cast(MONEY).alias("net_worth"),
            F.col("accounts").cast("int").alias("accounts"),
            F.col("stale_accounts").cast("int").alias("stale_accounts"),
        )
    )
