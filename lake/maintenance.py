"""Delta table maintenance: compaction, checkpoints, vacuum, log expiry (delta-rs).

Every nightly MERGE or append leaves a few small Parquet files and one more JSON commit, so
a year of nightlies means hundreds of files per table and a long log to replay on every
open. :func:`maintain` fixes both for any registry table, big (written by Sail) or small
(written by delta-rs):

1. **compact** the partitions holding at least ``min_small_files`` files smaller than the
   target size into files of about ``target_size`` (``OPTIMIZE``: the rewrite commits with
   ``dataChange=false``, which ``delta.appendOnly`` tables such as ``audit_log`` allow). A
   partition that already is one file, or has fewer small files than the threshold, is not
   rewritten, so a daily run touches the months the nightlies just wrote, not all history;
2. **vacuum** data files that no version younger than ``retention_hours`` (7 days; never
   less than a day here: ``finlake forget-user`` alone vacuums with zero retention) still
   references, so time travel keeps working within the retention;
3. **checkpoint** the current version, so readers replay one Parquet file instead of the
   JSON commits since the last checkpoint, then expire log entries older than the table's
   ``delta.logRetentionDuration`` (30 days by default) that precede the checkpoint.

Concurrent writers: Delta's optimistic concurrency decides. A compaction that read files a
concurrent MERGE or DELETE removed fails to commit (delta-rs ``CommitFailedError``); it is
planned again on a fresh snapshot up to ``attempts`` times, then reported as a conflict.
A writer that read files a compaction removed fails the same way and commits nothing (Sail
0.7.2 says "Failed to commit transaction: 0", or, when a checkpoint followed the compaction,
"Missing commit file: expected version 0, found N"); its retry sees the compacted files.
Appends never conflict with a compaction. No order of commits loses or duplicates a row.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from lake.lake import Lake
from lake.tables import REGISTRY, Table

if TYPE_CHECKING:
    from deltalake import DeltaTable

MIB = 1024 * 1024
DEFAULT_TARGET_SIZE = 128 * MIB  # see BENCHMARKS.md, "Table maintenance"
DEFAULT_RETENTION_HOURS = 7 * 24
MIN_RETENTION_HOURS = 24
FULL_MIN_SMALL_FILES = 2  # weekly / CLI: every partition that can lose a file
DAILY_MIN_SMALL_FILES = 8  # daily: only partitions the nightlies have fragmented since
DEFAULT_ATTEMPTS = 3

Partition = tuple[str, ...]  # partition values as the log spells them ("" for null)


class MaintenanceError(ValueError):
    """A maintenance policy that would be unsafe (e.g. zero retention)."""


@dataclass(frozen=True)
class Policy:
    """What one maintenance run does to each table."""

    target_size: int = DEFAULT_TARGET_SIZE  # bytes per compacted file (approximate)
    min_small_files: int = FULL_MIN_SMALL_FILES  # compact a partition from this many
    retention_hours: int = DEFAULT_RETENTION_HOURS
    vacuum_full: bool = False  # also delete unreferenced files no commit mentions (orphans)
    dry_run: bool = False
    attempts: int = DEFAULT_ATTEMPTS

    def __post_init__(self) -> None:
        if self.retention_hours < MIN_RETENTION_HOURS:
            raise MaintenanceError(
                f"vacuum retention {self.retention_hours} h is below {MIN_RETENTION_HOURS} h: "
                "readers and writers still use recently removed files; only forget-user "
                "vacuums with zero retention")
        if self.min_small_files < 2:
            raise MaintenanceError("min_small_files must be at least 2 (one file is compact)")
        if self.target_size < 64 * 1024:
            raise MaintenanceError("target_size must be at least 64 KiB")
        if self.attempts < 1:
            raise MaintenanceError("attempts must be at least 1")


@dataclass(frozen=True)
class Layout:
    """The files of one table version."""

    version: int
    files: int
    bytes: int
    partition_columns: tuple[str, ...]
    files_per_partition: dict[Partition, int]
    small_per_partition: dict[Partition, int]

    def to_compact(self, min_small_files: int) -> list[Partition]:
        return sorted(p for p, n in self.small_per_partition.items() if n >= min_small_files)


def _partition_text(value: Any) -> str:
    if value is None:
        return ""  # delta-rs matches a null partition with ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def layout(dt: DeltaTable, target_size: int) -> Layout:
    """Files, bytes and small files (under ``target_size``) per partition of ``dt``."""
    columns = tuple(dt.metadata().partition_columns)
    adds = dt.get_add_actions(flatten=True)  # an arro3 table: columns convert to lists fast
    sizes = adds.column("size_bytes").to_pylist()
    values = [adds.column(f"partition.{c}").to_pylist() for c in columns]
    parts = [tuple(_partition_text(v[i]) for v in values) for i in range(len(sizes))]
    return Layout(
        version=dt.version(), files=len(sizes), bytes=sum(sizes), partition_columns=columns,
        files_per_partition=dict(Counter(parts)),
        small_per_partition=dict(Counter(p for p, s in zip(parts, sizes, strict=True)
                                         if s < target_size)))


@dataclass
class TableReport:
    """What maintenance did (or, in a dry run, would do) to one table."""

    table: str
    status: str = "ok"  # ok | absent | conflict | dry-run
    version_before: int | None = None
    version_after: int | None = None
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    partitions: int = 0
    partitions_compacted: int = 0
    files_compacted: int = 0  # small files rewritten (dry run: that would be)
    files_written: int = 0
    files_vacuumed: int = 0  # (dry run: that would be)
    checkpoint_version: int | None = None
    log_files_before: int = 0
    log_files_after: int = 0
    conflicts: int = 0  # compaction commits a concurrent writer won (then planned again)
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One progress line: counts and timings."""
        if self.status == "absent":
            return f"{self.table:<22} not created yet: nothing to do"
        s = self.seconds
        timing = (f"{s.get('total', 0):.2f}s (compact {s.get('compact', 0):.2f}, vacuum "
                  f"{s.get('vacuum', 0):.2f}, checkpoint {s.get('checkpoint', 0):.2f})")
        if self.status == "dry-run":
            return (f"{self.table:<22} files {self.files_before:>5} ({_mib(self.bytes_before)});"
                    f" would compact {self.partitions_compacted}/{self.partitions} partitions "
                    f"({self.files_compacted} small files), would vacuum "
                    f"{self.files_vacuumed} files; dry run: nothing written; {timing}")
        text = (f"{self.table:<22} files {self.files_before:>5} -> {self.files_after:<5} "
                f"({_mib(self.bytes_before)} -> {_mib(self.bytes_after)}); compacted "
                f"{self.partitions_compacted}/{self.partitions} partitions "
                f"({self.files_compacted} small files -> {self.files_written}), vacuumed "
                f"{self.files_vacuumed}; v{self.version_before} -> v{self.version_after}, "
                f"checkpoint v{self.checkpoint_version}, log {self.log_files_before} -> "
                f"{self.log_files_after} files; {timing}")
        if self.conflicts and self.status != "conflict":
            text += f"; planned again after {self.conflicts} concurrent commit(s)"
        if self.status == "conflict":
            text += f"; NOT COMPACTED: {self.error}"
        return text


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / 1024:.0f} KiB"


def _log_files(lake: Lake, t: Table) -> int:
    return sum(1 for k in lake.store.list(f"{t.key}/_delta_log/") if k.rsplit("/", 1)[-1][:1]
               .isdigit())


def _current(lake: Lake, t: Table) -> DeltaTable:
    dt = lake.delta(t)
    if dt is None:
        raise RuntimeError(f"{t.name}: the table's log disappeared during maintenance")
    return dt


def _snapshot_to_compact(lake: Lake, t: Table) -> DeltaTable:
    """A fresh snapshot to plan a compaction on (tests substitute a stale one to force a
    conflict with a concurrent writer)."""
    return _current(lake, t)


def _filters(lay: Layout, parts: list[Partition]) -> list[list[tuple[str, str, Any]] | None]:
    """delta-rs partition filters selecting ``parts``: for one partition column an ``in``
    filter (one commit) and, for the null partition, ``= ""`` (``in`` does not match it);
    for several columns one conjunction per partition."""
    cols = lay.partition_columns
    if not cols:
        return [None]
    if len(cols) == 1:
        values = [p[0] for p in parts if p[0] != ""]
        out: list[list[tuple[str, str, Any]] | None] = [[(cols[0], "in", values)]] if values \
            else []
        return out + ([[(cols[0], "=", "")]] if len(values) < len(parts) else [])
    return [[(c, "=", v) for c, v in zip(cols, p, strict=True)] for p in parts]


def compact(lake: Lake, t: Table, policy: Policy, report: TableReport) -> None:
    """Compact the fragmented partitions of ``t``. When a concurrent commit wins, plan again
    on a fresh snapshot; after ``policy.attempts`` lost commits report the conflict (the
    table is left as the winner wrote it) rather than raise."""
    from deltalake.exceptions import CommitFailedError

    for _ in range(policy.attempts):
        dt = _snapshot_to_compact(lake, t)
        lay = layout(dt, policy.target_size)
        parts = lay.to_compact(policy.min_small_files)
        report.partitions = len(lay.files_per_partition)
        report.partitions_compacted = len(parts)
        report.files_compacted = sum(lay.small_per_partition[p] for p in parts)
        report.files_written = 0
        if not parts or policy.dry_run:
            return
        try:
            for filters in _filters(lay, parts):
                metrics = dt.optimize.compact(partition_filters=filters,
                                              target_size=policy.target_size)
                report.files_written += int(metrics.get("numFilesAdded", 0))
            report.error = None
            return
        except CommitFailedError as exc:
            report.conflicts += 1
            report.error = str(exc).splitlines()[0]
    report.status = "conflict"


def vacuum(dt: DeltaTable, policy: Policy) -> int:
    """Delete files no version within the retention references; returns how many."""
    deleted = dt.vacuum(retention_hours=policy.retention_hours, dry_run=policy.dry_run,
                        enforce_retention_duration=False, full=policy.vacuum_full)
    return len(deleted)


def checkpoint(lake: Lake, t: Table, dt: DeltaTable) -> int:
    """Checkpoint the current version (unless the writer already did) and expire old log
    entries before it; returns the checkpointed version."""
    import json

    from lake.objectstore import ObjectNotFound

    version = dt.version()
    try:
        last = json.loads(lake.store.get(f"{t.key}/_delta_log/_last_checkpoint"))["version"]
    except (ObjectNotFound, KeyError, ValueError):
        last = -1
    if last != version:
        dt.create_checkpoint()
    dt.cleanup_metadata()
    return version


def maintain_table(lake: Lake, t: Table, policy: Policy | None = None) -> TableReport:
    """Compact, vacuum and checkpoint one table; see the module docstring."""
    policy = policy or Policy()
    report = TableReport(t.name)
    t0 = time.perf_counter()
    dt = lake.delta(t)
    if dt is None:
        report.status = "absent"
        return report
    if t.months_of and not policy.dry_run:
        from lake.relayout import relayout

        if relayout(lake, t):  # an older layout wrote it: see lake/relayout.py
            dt = _current(lake, t)
    before = layout(dt, policy.target_size)
    report.version_before, report.files_before, report.bytes_before = (
        before.version, before.files, before.bytes)
    report.log_files_before = _log_files(lake, t)

    tick = time.perf_counter()
    compact(lake, t, policy, report)
    report.seconds["compact"] = time.perf_counter() - tick

    tick = time.perf_counter()
    dt = _current(lake, t)
    report.files_vacuumed = vacuum(dt, policy)
    report.seconds["vacuum"] = time.perf_counter() - tick

    if policy.dry_run:
        report.status = "dry-run"
        report.version_after = report.version_before
        report.log_files_after = report.log_files_before
    else:
        tick = time.perf_counter()
        dt = _current(lake, t)
        report.checkpoint_version = checkpoint(lake, t, dt)
        report.seconds["checkpoint"] = time.perf_counter() - tick
        after = layout(dt, policy.target_size)
        report.version_after, report.files_after, report.bytes_after = (
            after.version, after.files, after.bytes)
        report.log_files_after = _log_files(lake, t)
    report.seconds["total"] = time.perf_counter() - t0
    return report


def tables_named(names: Iterable[str] | None) -> list[Table]:
    """Registry tables by name (all of them when ``names`` is None)."""
    from lake.tables import table

    return list(REGISTRY.values()) if names is None else [table(n) for n in names]


def maintain(lake: Lake, tables: Iterable[Table] | None = None, policy: Policy | None = None,
             say: Callable[[str], None] = print) -> list[TableReport]:
    """Maintain ``tables`` (default: every registry table), one progress line per table."""
    import deltalake  # noqa: F401  (loaded once here, not inside the first table's timing)

    policy = policy or Policy()
    reports = []
    for t in (REGISTRY.values() if tables is None else tables):
        report = maintain_table(lake, t, policy)
        say(f"  {report.line()}")
        reports.append(report)
    return reports


def totals(reports: Iterable[TableReport]) -> dict[str, Any]:
    """Sums over the tables a run touched (for the job's metadata and the CLI's last line)."""
    rs = [r for r in reports if r.status != "absent"]
    return {"tables": len(rs), "files_before": sum(r.files_before for r in rs),
            "files_after": sum(r.files_after for r in rs),
            "files_compacted": sum(r.files_compacted for r in rs),
            "files_vacuumed": sum(r.files_vacuumed for r in rs),
            "conflicts": [r.table for r in rs if r.status == "conflict"],
            "seconds": round(sum(r.seconds.get("total", 0.0) for r in rs), 2)}
