"""Recurring payments: subscriptions and bills detected from a user's charge history.

Per (user, merchant_key), countable charges (live, posted, money out) are ordered by date and
the gaps between consecutive charges are classified into a cadence band. A series counts as
recurring when enough charges exist, at least 75% of its gaps fall in one band and every amount
is within 20% of the median amount. Pure transform: silver rows in, one row per series out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from pipelines.gold.spend import countable

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

KEYS = ("user_id", "merchant_key")
BAND_SHARE = 0.75  # share of gaps that must fall in the cadence's band
AMOUNT_TOLERANCE = 0.20  # each amount within this fraction of the median amount
PRICE_RISE_PCT = 1.02  # a rise must exceed both 2% ...
PRICE_RISE_ABS = 0.50  # ... and 50 cents


@dataclass(frozen=True)
class Cadence:
    name: str
    min_gap: int
    max_gap: int
    min_charges: int
    grace_days: int
    typical_gap: int | None  # None: the median in-band gap (monthly)


CADENCES = (
    Cadence("weekly", 6, 8, 3, 3, 7),
    Cadence("monthly", 27, 33, 3, 7, None),
    Cadence("yearly", 360, 370, 2, 30, 365),
)


def _days_until_missed(c: Cadence) -> int:
    """Days from the first charge a series needs until the day it is flagged missed."""
    gap = c.typical_gap if c.typical_gap is not None else c.max_gap
    return (c.min_charges - 1) * c.max_gap + gap + c.grace_days + 1


# Silver a refresh reads: as_of's month and the LOOKBACK_MONTHS - 1 before it. A series is
# detected until it is flagged missed as long as the charges it needs are in the window; the
# longest such span is a yearly one's (a gap of up to 370 days, then 365 + 30 days of grace):
# LOOKBACK_DAYS = 766. Any 26 whole calendar months span at least 789 days, so 27 months
# always cover it. Occurrences, typical amount and "since" count charges in the window only.
LOOKBACK_DAYS = max(_days_until_missed(c) for c in CADENCES)
LOOKBACK_MONTHS = 27

OUTPUT_COLUMNS = (
    "user_id", "merchant_key", "cadence", "occurrences", "typical_amount", "last_amount",
    "last_date", "next_expected_date", "price_increase", "missed_payment", "detail",
)


def lookback_months(as_of: date) -> list[str]:
    """The ``posted_month`` values ('YYYY-MM') a refresh as of ``as_of`` reads, oldest first."""
    from core.months import month_range, shift_month

    last = f"{as_of:%Y-%m}"
    return month_range(shift_month(last, 1 - LOOKBACK_MONTHS), last)


def flipped_series(stored: DataFrame, as_of: date) -> DataFrame:
    """``user_id, merchant_key`` of stored series (``recurring_payments`` rows) whose
    ``missed_payment`` as of ``as_of`` is not what is stored: turning missed as the days pass,
    or no longer missed as of an earlier day. The flag is the only column that depends on
    the day rather than on the series' charges."""
    grace: Column = F.lit(None).cast("int")
    for c in CADENCES:
        grace = F.when(F.col("cadence") == c.name, F.lit(c.grace_days)).otherwise(grace)
    missed = F.coalesce(F.lit(as_of) > F.date_add(F.col("next_expected_date"), grace),
                        F.lit(False))
    return stored.filter(F.coalesce(F.col("missed_payment"), F.lit(False)) != missed).select(
        *KEYS)


def _median(values: Column) -> Column:
    """Exact median of a non-empty array column (mean of the two middle values when even)."""
    s = F.sort_array(values)
    n = F.size(s)
    lower = F.element_at(s, F.floor((n + 1) / 2).cast("int"))
    upper = F.element_at(s, (F.floor(n / 2) + 1).cast("int"))
    return F.when(n > 0, (lower + upper) / 2)


def _in_band(c: Cadence) -> Column:
    return F.col("gap").between(c.min_gap, c.max_gap)


def _money(col: str) -> Column:
    return F.concat(F.lit("$"), F.col(col).cast("decimal(18,2)").cast("string"))


def _charges(silver: DataFrame) -> DataFrame:
    """Countable money-out charges with a merchant key, each with its gap (days) and amount
    since the series' previous charge, its place in the series and the series' length."""
    rows = countable(silver).filter(
        (F.col("amount") > 0)
        & F.col("merchant_key").isNotNull()
        & (F.trim(F.col("merchant_key")) != "")
    ).select(*KEYS, "account_id", "partner_txn_id", "amount", "posted_date")

    order = Window.partitionBy(*KEYS).orderBy("posted_date", "account_id", "partner_txn_id")
    return (
        rows.withColumn("gap", F.datediff("posted_date", F.lag("posted_date").over(order)))
        .withColumn("prev_amount", F.lag("amount").over(order))
        .withColumn("_rn", F.row_number().over(order))
        .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy(*KEYS)))
    )


def _last_charges(rows: DataFrame) -> DataFrame:
    """Each series' last charge: its amount, the amount before it and its date."""
    return rows.filter(F.col("_rn") == F.col("_n")).select(
        *KEYS,
        F.col("amount").alias("last_amount"),
        F.col("prev_amount"),
        F.col("posted_date").alias("last_date"),
    )


def _series_stats(rows: DataFrame) -> DataFrame:
    """Per series: occurrences, first date, typical (median) amount, whether every amount is
    similar to it, the in-band gap count per cadence and the monthly band's gaps."""
    hits = [
        F.sum(F.when(_in_band(c), 1).otherwise(0)).alias(f"_{c.name}_hits") for c in CADENCES
    ]
    monthly = next(c for c in CADENCES if c.typical_gap is None)
    stats = rows.groupBy(*KEYS).agg(
        F.count(F.lit(1)).cast("int").alias("occurrences"),
        F.min("posted_date").alias("first_date"),
        F.min("amount").alias("_min_amount"),
        F.max("amount").alias("_max_amount"),
        F.collect_list("amount").alias("_amounts"),
        F.collect_list(F.when(_in_band(monthly), F.col("gap"))).alias("_month_gaps"),
        *hits,
    )

    median = _median(F.col("_amounts"))
    return stats.withColumn("typical_amount", median.cast("decimal(18,2)")).withColumn(
        "_similar",
        (F.col("_min_amount") >= median * (1 - AMOUNT_TOLERANCE))
        & (F.col("_max_amount") <= median * (1 + AMOUNT_TOLERANCE)),
    )


def _cadence_columns() -> tuple[Column, Column, Column]:
    """Over ``_series_stats`` rows: the series' cadence name (null when not recurring), its
    typical gap in days and its grace days."""
    gaps = F.col("occurrences") - 1
    cadence: Column = F.lit(None).cast("string")
    gap_days: Column = F.lit(None).cast("int")
    grace: Column = F.lit(None).cast("int")
    for c in reversed(CADENCES):  # first matching cadence wins (bands are disjoint anyway)
        ok = (
            (F.col("occurrences") >= c.min_charges)
            & (gaps > 0)
            & (F.col(f"_{c.name}_hits") >= gaps * BAND_SHARE)
            & F.col("_similar")
        )
        typical = (
            F.lit(c.typical_gap)
            if c.typical_gap is not None
            else F.round(_median(F.col("_month_gaps")), 0).cast("int")
        )
        cadence = F.when(ok, F.lit(c.name)).otherwise(cadence)
        gap_days = F.when(ok, typical).otherwise(gap_days)
        grace = F.when(ok, F.lit(c.grace_days)).otherwise(grace)
    return cadence, gap_days, grace


def _with_flags(found: DataFrame, as_of: date) -> DataFrame:
    """Adds next_expected_date, price_increase and missed_payment (as of ``as_of``)."""
    rise = F.col("last_amount") - F.col("prev_amount")
    next_date = F.date_add(F.col("last_date"), F.col("_gap_days"))
    return (
        found.withColumn("next_expected_date", next_date)
        .withColumn(
            "price_increase",
            F.coalesce(
                (F.col("last_amount") > F.col("prev_amount") * PRICE_RISE_PCT)
                & (rise > PRICE_RISE_ABS),
                F.lit(False),
            ),
        )
        .withColumn(
            "missed_payment",
            F.lit(as_of) > F.date_add(F.col("next_expected_date"), F.col("_grace")),
        )
    )


def _detail() -> Column:
    """'<cadence> since <first date>, last $<amount>' with the old price when it rose and the
    expected date when missed."""
    return F.concat(
        F.col("cadence"),
        F.lit(" since "),
        F.col("first_date").cast("string"),
        F.lit(", last "),
        _money("last_amount"),
        F.when(
            F.col("price_increase"), F.concat(F.lit(" (was "), _money("prev_amount"), F.lit(")"))
        ).otherwise(F.lit("")),
        F.when(
            F.col("missed_payment"),
            F.concat(F.lit("; missed, expected "), F.col("next_expected_date").cast("string")),
        ).otherwise(F.lit("")),
    )


def recurring_payments(silver: DataFrame, as_of: date) -> DataFrame:
    """One row per recurring (user, merchant_key) series detected in ``silver`` as of ``as_of``.

    Columns: user_id, merchant_key, cadence (weekly|monthly|yearly), occurrences,
    typical_amount (median), last_amount, last_date, next_expected_date, price_increase,
    missed_payment (as_of past next_expected_date plus the cadence's grace) and detail.
    Sorted by user_id, merchant_key.
    """
    rows = _charges(silver)
    last = _last_charges(rows)
    stats = _series_stats(rows)
    cadence, gap_days, grace = _cadence_columns()
    found = (
        stats.withColumn("cadence", cadence)
        .withColumn("_gap_days", gap_days)
        .withColumn("_grace", grace)
        .filter(F.col("cadence").isNotNull())
        .join(last, list(KEYS), "inner")
    )
    return (
        _with_flags(found, as_of)
        .withColumn("detail", _detail())
        .withColumn("last_amount", F.col("last_amount").cast("decimal(18,2)"))
        .select(*OUTPUT_COLUMNS)
        .orderBy(*KEYS)
    )
