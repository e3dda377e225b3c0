"""Unusual activity: spend far from the user's own baseline, each flag with its reason.

Three rules, tuned on the sandbox world so an ordinary month flags few rows
(``bench/gold_refresh.py`` reports the rate):

- ``category_spike``: a primary category's month (to date) is at least ``SPIKE_RATIO`` times
  its average over the previous ``BASELINE_MONTHS`` months, and above it by at least
  ``SPIKE_MIN`` and ``SPIKE_SD`` standard deviations of those months; only for a regular
  category (spend in each of those months).
- ``merchant_outlier``: a payment at least ``OUTLIER_RATIO`` times the user's average at that
  merchant over the previous ``LOOKBACK_DAYS`` (at least ``MIN_PRIOR`` payments), and at least
  ``OUTLIER_MIN`` more.
- ``new_merchant_large``: the first payment at a merchant in ``LOOKBACK_DAYS`` by a user with
  at least ``SEASONED_DAYS`` of history, of at least ``NEW_MIN`` and ``NEW_RATIO`` times their
  average payment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from pipelines.gold.spend import MONEY, month_index

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SPIKE_RATIO, SPIKE_MIN, SPIKE_SD, BASELINE_MONTHS = 1.25, 100, 3.0, 3
OUTLIER_RATIO, OUTLIER_MIN, MIN_PRIOR = 4.0, 100, 3
NEW_MIN, NEW_RATIO, SEASONED_DAYS = 500, 8.0, 60
LOOKBACK_DAYS = 400
# Months of silver the transaction rules read before the earliest month they judge.
LOOKBACK_MONTHS = 14

COLUMNS = ("user_id", "month", "kind", "subject", "txn_id", "date", "merchant_key",
           "category_primary", "amount", "baseline", "reason")


def _money(col: str) -> F.Column:
    return F.concat(F.lit("$"), F.format_number(F.col(col).cast("double"), 2))


def _payee() -> F.Column:
    """Who was paid, as a person reads it: the partner's merchant name, else the statement
    line (a flag never says "null")."""
    return F.coalesce(F.col("merchant"), F.trim(F.col("description")), F.col("merchant_key"))


NO_MERCHANT = "#none"  # expense_days' key for rows without a merchant key (never a real key)


def _day() -> F.Column:
    return F.datediff(F.col("posted_date"), F.lit("1970-01-01").cast("date"))


def expense_days(expenses: DataFrame) -> DataFrame:
    """The running statistics of ``expenses`` (classified expense rows): per user, day and
    merchant, the payments (money out), their sum and every expense row. Averages over any
    span of days are then exact sums over these rows, without re-reading silver."""
    paid = F.col("amount") > 0
    return expenses.groupBy(
        "user_id", F.col("posted_month").alias("month"), "posted_date",
        F.coalesce(F.col("merchant_key"), F.lit(NO_MERCHANT)).alias("merchant_key"),
    ).agg(F.count(F.when(paid, 1)).alias("payments"),
          F.coalesce(F.sum(F.when(paid, F.col("amount").cast(MONEY))),
                     F.lit(0).cast(MONEY)).alias("paid"),
          F.count(F.lit(1)).alias("expenses"))


def _average(total: str, count: str) -> F.Column:
    """An exact decimal average, as ``avg`` of the amounts gives it (decimal(22,6), rounded
    half up): a double's sum depends on the order rows arrive in, and a baseline of 62.195
    then rounded to 62.19 in one run and 62.20 in a rebuild."""
    return F.when(F.col(count) > 0, (F.col(total) / F.col(count).cast("decimal(20,0)"))
                  .cast("decimal(22,6)"))


def transaction_flags(expenses: DataFrame, stats: DataFrame) -> DataFrame:
    """Flags for the payments in ``expenses`` (the judged cells' classified expense rows),
    each judged against ``stats`` (``expense_days`` rows of the same users from
    ``LOOKBACK_MONTHS`` before the earliest judged month on, the judged cells included).

    Only the statistics' windows run over the lookback, and only for the (user, merchant)
    pairs judged: a night costs its cells' rows, not 14 months of silver."""
    judged = expenses.filter(F.col("merchant_key").isNotNull() & (F.col("amount") > 0)
                             ).withColumn("_d", _day())
    s = stats.withColumn("_d", _day())
    pairs = judged.select("user_id", "merchant_key").distinct()
    at_merchant = (Window.partitionBy("user_id", "merchant_key").orderBy("_d")
                   .rangeBetween(-LOOKBACK_DAYS, -1))
    merchant = s.join(pairs, ["user_id", "merchant_key"], "left_semi").select(
        "user_id", "merchant_key", "_d",
        F.coalesce(F.sum("payments").over(at_merchant), F.lit(0)).alias("_prior_n"),
        F.sum("paid").over(at_merchant).alias("_prior_sum"))
    # one statistics row per (user, merchant, day): expense_days' keys
    merchant = merchant.join(judged.select("user_id", "merchant_key", "_d").distinct(),
                             ["user_id", "merchant_key", "_d"], "left_semi")
    days = s.groupBy("user_id", "_d").agg(F.sum("payments").alias("_pn"),
                                          F.sum("paid").alias("_ps"),
                                          F.sum("expenses").alias("_en"))
    by_user = Window.partitionBy("user_id").orderBy("_d")
    user = days.select(
        "user_id", "_d",
        F.sum("_pn").over(by_user.rangeBetween(-LOOKBACK_DAYS, -1)).alias("_user_n"),
        F.sum("_ps").over(by_user.rangeBetween(-LOOKBACK_DAYS, -1)).alias("_user_sum"),
        (F.coalesce(F.sum("_en").over(by_user.rangeBetween(-LOOKBACK_DAYS, -SEASONED_DAYS)),
                    F.lit(0)) > 0).alias("_seasoned"))
    user = user.join(judged.select("user_id", "_d").distinct(), ["user_id", "_d"], "left_semi")
    e = (judged.join(merchant, ["user_id", "merchant_key", "_d"], "left")
         .join(user, ["user_id", "_d"], "left")
         .withColumn("_prior_n", F.coalesce(F.col("_prior_n"), F.lit(0)))
         .withColumn("_seasoned", F.coalesce(F.col("_seasoned"), F.lit(False)))
         .withColumn("_prior_avg", _average("_prior_sum", "_prior_n"))
         .withColumn("_user_avg", _average("_user_sum", "_user_n")))
    return judge(e)


def judge(e: DataFrame) -> DataFrame:
    """The two payment rules over payments with their baselines: ``_prior_n`` and
    ``_prior_avg`` (the user's payments at the merchant in the previous ``LOOKBACK_DAYS``),
    ``_user_avg`` (all their payments then) and ``_seasoned``."""
    amount = F.col("amount").cast("double")
    outlier = e.filter(
        (F.col("_prior_n") >= MIN_PRIOR) & (amount >= OUTLIER_RATIO * F.col("_prior_avg"))
        & (amount - F.col("_prior_avg") >= OUTLIER_MIN)
    ).select("*", F.lit("merchant_outlier").alias("kind"),
             F.col("_prior_avg").cast(MONEY).alias("baseline"))
    outlier = outlier.withColumn("reason", F.format_string(
        "%s at %s is %.1fx your usual %s there", _money("amount"), _payee(),
        amount / F.col("_prior_avg"), _money("baseline")))
    new = e.filter(
        (F.col("_prior_n") == 0) & F.col("_seasoned") & (amount >= NEW_MIN)
        & (amount >= NEW_RATIO * F.coalesce(F.col("_user_avg"), F.lit(0.0)))
    ).select("*", F.lit("new_merchant_large").alias("kind"),
             F.col("_user_avg").cast(MONEY).alias("baseline"))
    new = new.withColumn("reason", F.format_string(
        "first payment to %s in over a year, %s (your average payment is %s)",
        _payee(), _money("amount"), _money("baseline")))
    out = outlier.unionByName(new)
    return out.select("user_id", F.col("posted_month").alias("month"), "kind",
                      F.col("txn_id").alias("subject"), "txn_id",
                      F.col("posted_date").alias("date"), "merchant_key", "category_primary",
                      F.col("amount").cast(MONEY).alias("amount"), "baseline", "reason")


def category_spikes(primary: DataFrame, active: DataFrame, cells: DataFrame,
                    names: DataFrame) -> DataFrame:
    """Flags for (user, month, primary category) cells in ``cells``; ``primary`` holds spend
    per (user_id, month, category_primary) for those months and the ``BASELINE_MONTHS``
    before, ``active`` the (user_id, month) pairs with any posted transaction."""
    cur = primary.join(cells, (primary["user_id"] == cells["_cu"])
                       & (primary["month"] == cells["_cm"]), "left_semi").withColumn(
        "_i", month_index())
    prev = primary.select(F.col("user_id").alias("_u"), F.col("category_primary").alias("_p"),
                          F.col("amount").alias("_a"), month_index().alias("_j"))
    act = active.select(F.col("user_id").alias("_au"), month_index().alias("_aj"))
    seen = cur.join(act, (cur["user_id"] == act["_au"]) & (act["_aj"] < cur["_i"])
                    & (act["_aj"] >= cur["_i"] - BASELINE_MONTHS)).groupBy(
        "user_id", "month", "category_primary").agg(F.count(F.lit(1)).alias("_active"))
    base = cur.join(prev, (cur["user_id"] == prev["_u"])
                    & (cur["category_primary"] == prev["_p"]) & (prev["_j"] < cur["_i"])
                    & (prev["_j"] >= cur["_i"] - BASELINE_MONTHS)).groupBy(
        "user_id", "month", "category_primary", "amount").agg(
        (F.sum("_a") / BASELINE_MONTHS).cast(MONEY).alias("baseline"),
        F.stddev_pop(F.col("_a").cast("double")).alias("_sd"),
        F.count(F.when(F.col("_a") > 0, 1)).alias("_months"))
    excess = F.col("amount") - F.col("baseline")
    rows = base.join(seen, ["user_id", "month", "category_primary"]).filter(
        (F.col("_active") == BASELINE_MONTHS) & (F.col("_months") == BASELINE_MONTHS)
        & (F.col("amount") >= F.col("baseline") * SPIKE_RATIO) & (excess >= SPIKE_MIN)
        & (excess.cast("double") >= SPIKE_SD * F.col("_sd")))
    rows = rows.join(F.broadcast(names), "category_primary", "left")
    pct = F.round((F.col("amount") / F.col("baseline") - 1) * 100).cast("int")
    return rows.select(
        "user_id", "month", F.lit("category_spike").alias("kind"),
        F.col("category_primary").alias("subject"), F.lit(None).cast("string").alias("txn_id"),
        F.lit(None).cast("date").alias("date"), F.lit(None).cast("string").alias("merchant_key"),
        "category_primary", F.col("amount").cast(MONEY).alias("amount"), "baseline",
        F.format_string("%s spend %s is %d%% above its %d-month average of %s",
                        F.coalesce(F.col("name"), F.col("category_primary")), _money("amount"),
                        pct, F.lit(BASELINE_MONTHS), _money("baseline")).alias("reason"))
