"""Delta operations through Spark SQL (portable to Spark + delta-spark)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from lake.lake import Lake
from lake.tables import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def sql_literal(value: str) -> str:
    """A SQL string literal with quotes escaped."""
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(sql_literal(v) for v in values)


def differs(columns: Iterable[str]) -> str:
    """A MERGE condition true when any of ``columns`` differs between the target row ``t``
    and the source row ``s`` (NULL-safe): the guard that makes a replay rewrite nothing."""
    return " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in columns)


def pin(spark: SparkSession, df: DataFrame) -> DataFrame:
    """``df`` computed once, as rows held by the session: a MERGE reads its source more than
    once, and every read must see the same rows (and not redo the plan). The rows travel as
    Arrow columns both ways (about 10x faster than as Python rows)."""
    return spark.createDataFrame(df.toArrow(), schema=df.schema)


def empty_frame(spark: SparkSession, t: Table) -> DataFrame:
    return spark.createDataFrame([], schema=t.ddl)


def ensure_table(spark: SparkSession, lake: Lake, t: Table) -> None:
    """Create the Delta table with its registered schema and partitioning if it is missing
    (one an older layout wrote is rewritten to the registry's: lake/relayout.py)."""
    if lake.exists(t):
        if t.months_of:
            from lake.relayout import relayout

            relayout(lake, t)
        return
    writer = empty_frame(spark, t).write.format("delta").mode("append")
    if t.partition_by:
        writer = writer.partitionBy(*t.partition_by)
    writer.save(lake.uri(t))


def read_table(spark: SparkSession, lake: Lake, t: Table) -> DataFrame:
    ensure_table(spark, lake, t)
    return spark.read.format("delta").load(lake.uri(t))


def conform(df: DataFrame, t: Table) -> DataFrame:
    """Select the table's columns in order, cast to the registered types."""
    from pyspark.sql import functions as F

    return df.select(*[F.col(c).cast(typ).alias(c) for c, typ in t.columns])


_WHEN = re.compile(r"WHEN (NOT MATCHED BY SOURCE|NOT MATCHED|MATCHED)(?: AND (.*?))? "
                   r"THEN (?:UPDATE|DELETE|INSERT)\b", re.S)


def run_merge(
    spark: SparkSession,
    lake: Lake,
    t: Table,
    source: DataFrame,
    whens: Sequence[str],
    *,
    partitions: Sequence[str] | None = None,
) -> int:
    """``MERGE INTO`` the table (alias ``t``) from ``source`` (alias ``s``) on the table's keys.

    With ``partitions`` the ON clause is pruned to those values of the partition column
    (an empty list merges nothing). Returns the rows inserted, updated or deleted (0 when the
    merge committed nothing).

    Only source rows that fire one of the ``whens`` reach the MERGE (unless a clause deletes
    by source): delta-spark rewrites every file holding a matched row, even when no clause
    fires, and commits that as a new version, where Sail and delta-rs skip such files. With
    the source narrowed in the same statement, a replay that changes nothing gives a MERGE
    of no rows, which neither engine commits.
    """
    ensure_table(spark, lake, t)
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in t.keys)
    if partitions is not None:
        if not partitions:
            return 0
        on = f"{on} AND {partition_filter(t, partitions)}"
    clauses = [_WHEN.match(w.strip()) for w in whens]
    if not all(clauses):
        raise ValueError(f"{t.name}: a MERGE clause finlake cannot read: {whens}")

    def fires(kind: str) -> str:
        conds = [f"({m.group(2) or 'TRUE'})" for m in clauses if m and m.group(1) == kind]
        return " OR ".join(conds) or "FALSE"

    table = f"delta.`{lake.uri(t)}`"
    view = f"src_{t.name}_{uuid.uuid4().hex[:8]}"
    source.createOrReplaceTempView(view)
    using = view
    if fires("NOT MATCHED BY SOURCE") == "FALSE":
        using = (f"(SELECT s.* FROM {view} AS s LEFT JOIN (SELECT *, TRUE AS _finlake_present "
                 f"FROM {table}) AS t ON {on} WHERE (t._finlake_present AND "
                 f"({fires('MATCHED')})) OR (t._finlake_present IS NULL AND "
                 f"({fires('NOT MATCHED')})))")
    sql = f"MERGE INTO {table} AS t USING {using} AS s ON {on} " + " ".join(whens)
    before = _version(lake, t)
    try:
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                spark.sql(sql).collect()
                break
            except Exception as exc:
                if attempt == COMMIT_ATTEMPTS or not lost_commit(exc):
                    raise
                log.warning("%s: the MERGE lost a commit race (attempt %d of %d); merging "
                            "again from the same source", t.name, attempt, COMMIT_ATTEMPTS)
    finally:
        spark.catalog.dropTempView(view)
    return rows_changed(lake, t, since=before)


COMMIT_ATTEMPTS = 3
# A commit another writer beat, or a snapshot maintenance cleaned away under the MERGE
# (nothing of ours was committed): Sail's and delta-spark's words.
_LOST = ("Failed to commit transaction", "Missing commit file", "ConcurrentAppendException",
         "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
         "ConcurrentTransactionException", "MetadataChangedException")


def lost_commit(exc: BaseException) -> bool:
    """Whether ``exc`` says the MERGE lost a commit race: it committed nothing, and running
    it again (the source is staged, the clauses are idempotent) is safe. finlake's jobs hold
    the lake's writer lease, so only a user's edit from the dashboard, or a compaction run
    outside the maintenance job (``lake.maintenance`` called directly), can race one."""
    return any(word in str(exc) for word in _LOST)


def _version(lake: Lake, t: Table) -> int:
    dt = lake.delta(t)
    return dt.version() if dt is not None else -1


def rows_changed(lake: Lake, t: Table, since: int) -> int:
    """Rows inserted, updated or deleted by the commits after version ``since``."""
    dt = lake.delta(t)
    if dt is None or dt.version() <= since:
        return 0
    total = 0
    for commit in dt.history(dt.version() - since):
        m = commit.get("operationMetrics", {})
        total += sum(int(m.get(k, 0)) for k in (
            "numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted"))
    return total


def partition_filter(t: Table, values: Sequence[str], alias: str = "t") -> str:
    if len(t.partition_by) != 1:
        raise ValueError(f"{t.name}: partition pruning needs exactly one partition column")
    return f"{alias}.{t.partition_by[0]} IN ({_sql_list(sorted(set(values)))})"


def merge(
    spark: SparkSession,
    lake: Lake,
    t: Table,
    source: DataFrame,
    *,
    partitions: Sequence[str] | None = None,
    changed: str | None = None,
    delete_missing_in_partitions: bool = False,
    target_filter: str | None = None,
) -> int:
    """Upsert ``source`` (conformed to the table) on its keys.

    ``changed`` guards updates (e.g. only newer or different rows) so a replay rewrites
    nothing; ``delete_missing_in_partitions`` deletes target rows of ``partitions`` that the
    source lacks (the source is then the whole new content of those partitions), narrowed
    by ``target_filter`` (SQL on alias ``t``) when the source covers only part of them.
    """
    whens = [f"WHEN MATCHED{f' AND ({changed})' if changed else ''} THEN UPDATE SET *",
             "WHEN NOT MATCHED THEN INSERT *"]
    if delete_missing_in_partitions:
        if not partitions:
            raise ValueError("delete_missing_in_partitions needs partitions to bound the delete")
        scope = partition_filter(t, partitions)
        if target_filter:
            scope = f"{scope} AND ({target_filter})"
        whens.append(f"WHEN NOT MATCHED BY SOURCE AND {scope} THEN DELETE")
    return run_merge(spark, lake, t, conform(source, t), whens, partitions=partitions)
