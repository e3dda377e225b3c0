"""People's rules as the categorisation layers read them (lake-facing; the rules themselves
are in :mod:`pipelines.categories.user_rules`).

Read with delta-rs: a lake nobody wrote a rule in starts no Spark job for them, and the
nightly's categorisation stays as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import USER_RULES
from pipelines.categories.user_rules import COMPILED, compiled_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def live_rules(lake: Lake, user_id: str | None = None) -> list[dict[str, Any]]:
    """The live (not removed) rules, of one person or everyone, in their order."""
    import pyarrow.dataset as ds

    where = ds.field("deleted") == False  # noqa: E712 (an Arrow expression)
    if user_id is not None:
        where = where & (ds.field("user_id") == user_id)
    return sorted(read_rows(lake, USER_RULES, where),
                  key=lambda r: (r["user_id"], r["position"], r["rule_id"]))


def rules_version(lake: Lake) -> int | None:
    """The ``user_rules`` table's Delta version (None before the first rule)."""
    dt = lake.delta(USER_RULES)
    return None if dt is None else dt.version()


def rules_by_user_at(lake: Lake, version: int | None) -> dict[str, list[tuple]]:
    """Each person's live rules at a table version, compiled (what the layer applies)."""
    from deltalake import DeltaTable

    if version is None or version < 0:
        return {}
    dt = DeltaTable(lake.uri(USER_RULES), version=version,
                    storage_options=lake.storage_options() or None)
    out: dict[str, list[tuple]] = {}
    for row in compiled_rows(dt.to_pyarrow_table().to_pylist()):
        out.setdefault(row[0], []).append(row)
    return out


def compiled_rules(spark: SparkSession, rules: list[dict[str, Any]]) -> DataFrame | None:
    """``rules`` (stored rows) as the layer's input, or None when there are none."""
    rows = compiled_rows(rules)
    return spark.createDataFrame(rows, schema=COMPILED) if rows else None


def user_rules_input(spark: SparkSession, lake: Lake) -> DataFrame | None:
    """Everyone's live rules as the layer's input (None when nobody has one)."""
    return compiled_rules(spark, live_rules(lake))


def changed_rule_users(lake: Lake, before: int | None, now: int | None) -> list[str]:
    """The people whose live rules (as the layer applies them) differ between two versions
    of ``user_rules``: a rule added, changed, moved or removed."""
    if before == now:
        return []
    try:
        old = rules_by_user_at(lake, before)
    except Exception:  # that version's files are gone (vacuumed): everyone who has a row
        # (a removed rule keeps its row, flagged), a few more than changed
        return sorted({r["user_id"] for r in read_rows(lake, USER_RULES)})
    new = rules_by_user_at(lake, now)
    return sorted(u for u in set(old) | set(new) if old.get(u) != new.get(u))


# What the layers read of a silver row when it is categorised again (the keys, the merchant
# key and description of the global layers, and what people's rules test).
AGAIN = ("account_id", "partner_txn_id", "user_id", "merchant_key", "description", "merchant",
         "amount")


def categorised_again(spark: SparkSession, lake: Lake, rows: DataFrame,
                      user_rules: DataFrame | None) -> DataFrame:
    """``rows`` (silver rows: :data:`AGAIN`'s columns) with the category columns as the
    layers say now, with ``user_rules`` (compiled) as people's rules: the one computation
    behind both the re-categorisation and a rule's dry-run, so the two cannot disagree."""
    from pipelines.categories.categorise import categorise
    from pipelines.categories.refresh import engine_inputs

    return categorise(rows.select(*AGAIN), **engine_inputs(spark, lake), user_rules=user_rules)
