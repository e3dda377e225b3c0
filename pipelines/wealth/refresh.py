"""Wealth's lake-facing refresh: daily balances and net worth, and recurring payments."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lake import delta, step_marks
from lake.lake import Lake
from lake.tables import (
    BALANCE_OBSERVATIONS,
    GOLD_CHANGES,
    RECURRING_PAYMENTS,
    SERIES_CHANGES,
    TRANSACTIONS,
)
from quality.validation import Audit, audit_before_publish

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def refresh_net_worth(spark: SparkSession, lake: Lake, day: date,
                      audits: list[Audit] | None = None) -> int:
    """``balances_daily`` and ``net_worth_daily`` for one day: each account's last good
    balance on or before it (carried forward), then assets - liabilities per user.

    When ``balances_daily`` has the day before, only the day's observations are read and
    the rest is carried from it; otherwise (first run, a gap) all observations up to the day.
    """
    from datetime import timedelta

    from lake.tables import BALANCES_DAILY, NET_WORTH_DAILY
    from pipelines.wealth.networth import (
        balance_snapshots,
        balances_daily,
        carry_forward,
        net_worth_daily,
    )

    observations = delta.read_table(spark, lake, BALANCE_OBSERVATIONS)
    before = day - timedelta(days=1)
    previous = delta.read_table(spark, lake, BALANCES_DAILY).filter(
        (F.col("month") == f"{before:%Y-%m}") & (F.col("date") == F.lit(before).cast("date")))
    month = f"{day:%Y-%m}"
    if previous.isEmpty():
        observed = observations.filter((F.col("month") <= month)
                                       & (F.col("date") <= F.lit(day).cast("date")))
        balances = balances_daily(balance_snapshots(observed), day, day)
    else:
        observed = observations.filter((F.col("month") == month)
                                       & (F.col("date") == F.lit(day).cast("date")))
        balances = carry_forward(previous, balance_snapshots(observed), day)
    balances = balances.withColumn("month", F.lit(month))
    balances = delta.pin(spark, balances)
    worth = net_worth_daily(balances).withColumn("month", F.lit(month))
    worth = delta.pin(spark, worth)
    audits = [] if audits is None else audits
    audit_before_publish(lake, "balances_daily", balances, day.isoformat(), day, audits)
    audit_before_publish(lake, "net_worth_daily", worth, day.isoformat(), day, audits)
    same = delta.differs(("balance", "observed", "type"))
    n = delta.merge(spark, lake, BALANCES_DAILY, balances, changed=same, partitions=[month])
    cols = ("assets", "liabilities", "net_worth", "accounts", "stale_accounts")
    n += delta.merge(spark, lake, NET_WORTH_DAILY, worth, partitions=[month],
                     changed=delta.differs(cols))
    return n


def refresh_recurring(spark: SparkSession, lake: Lake, as_of: date | None = None,
                      series: DataFrame | None = None, since: date | None = None,
                      audits: list[Audit] | None = None) -> int:
    """Recurring payments as of ``as_of`` (default: the freshest sync in silver, so replays
    give the same), detected in the last ``LOOKBACK_MONTHS`` months of silver.

    Incremental with ``series`` (``user_id, merchant_key``: the series whose charges the
    day changed, ``series_changes``) and ``since`` (the day the stored rows are as of): only
    those series are recomputed, with the ones moving from ``since`` to ``as_of`` changes:
    a series with a charge in a month only one of the two windows holds (a new month drops
    the oldest), and a series whose missed flag flips. Their rows are updated, inserted or
    deleted; every other row is what a full recompute gives already. Without either,
    every series is recomputed.
    """
    from pipelines.wealth.recurring import KEYS, flipped_series, lookback_months, recurring_payments

    t = RECURRING_PAYMENTS
    everything = delta.read_table(spark, lake, TRANSACTIONS)
    if as_of is None:
        as_of = everything.agg(F.max("sync_date")).collect()[0][0]
        if as_of is None:
            return 0
    window = lookback_months(as_of)
    silver = everything.filter(F.col("posted_month").isin(*window))
    stored = delta.read_table(spark, lake, t)
    if series is not None and since is not None:
        scope = series.select(*KEYS).unionByName(flipped_series(stored, as_of))
        moved = sorted(set(window) ^ set(lookback_months(since)))
        if moved:
            scope = scope.unionByName(everything.filter(
                F.col("posted_month").isin(*moved)).select(*KEYS))
        scope = delta.pin(spark, scope.filter(F.col("merchant_key").isNotNull()).distinct())
        if scope.isEmpty():
            return 0
        silver = silver.join(scope, list(KEYS), "left_semi")
        stored = stored.join(scope, list(KEYS), "left_semi")
    found = delta.conform(recurring_payments(silver, as_of), t)
    found = delta.pin(spark, found)
    audit_before_publish(lake, "recurring_payments", found, as_of.isoformat(), as_of,
                         [] if audits is None else audits)
    gone = stored.join(found.select(*KEYS), list(KEYS), "left_anti")
    source = found.withColumn("_delete", F.lit(False)).unionByName(
        delta.conform(gone, t).withColumn("_delete", F.lit(True)))
    source = delta.pin(spark, source)
    cols = [c for c in t.column_names if c not in t.keys]
    changed = delta.differs(cols)
    return delta.run_merge(spark, lake, t, source, [
        "WHEN MATCHED AND s._delete THEN DELETE",
        f"WHEN MATCHED AND ({changed}) THEN UPDATE SET "
        + ", ".join(f"t.{c} = s.{c}" for c in cols),
        f"WHEN NOT MATCHED AND NOT s._delete THEN INSERT ({', '.join(t.column_names)}) "
        f"VALUES ({', '.join(f's.{c}' for c in t.column_names)})",
    ])


RECURRING_STEP = "recurring_payments"
# What a night's recurring payments are a function of (its step mark, for replays to skip).
RECURRING_INPUTS = (TRANSACTIONS, GOLD_CHANGES, SERIES_CHANGES, RECURRING_PAYMENTS)


def recurring_night(spark: SparkSession, lake: Lake, day: date, audits: list[Audit],
                    run_id: str | None = None) -> dict:
    """The night of ``day``: recurring payments for the series the day changed, then the
    step's mark. The stored rows are as of the day the last run left them at, when nothing
    else wrote them since (:func:`lake.step_marks.last_state`); otherwise, or on a lake with
    no series log, every series is recomputed. A replay of an older day never moves the rows
    back to it: they stay as of the newest day seen. Returns the mark's detail."""
    from pipelines.silver.changes import changed_series

    state = step_marks.last_state(lake, RECURRING_STEP, RECURRING_PAYMENTS) or {}
    since = date.fromisoformat(state["as_of"]) if state.get("as_of") else None
    series = changed_series(spark, lake, day) if since else None
    as_of = max(day, since) if since else day
    n = refresh_recurring(spark, lake, as_of=as_of, series=series,
                          since=since if series is not None else None, audits=audits)
    detail = {"rows_written": n, "as_of": as_of.isoformat(),
              "scope": "changed series" if series is not None else "every series"}
    step_marks.record(lake, RECURRING_STEP, day, step_marks.table_states(lake, RECURRING_INPUTS),
                      detail, run_id)
    return detail
