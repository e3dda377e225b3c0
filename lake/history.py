"""Remove a Delta table's old versions at once, leaving a log every engine can still use.

Forgetting a person has to remove the table versions that still hold them: the data files
only old versions reference (``VACUUM`` with zero retention) and the log entries whose
column statistics and predicates name them. Delta's protocol lets a writer delete log
entries below a checkpoint, but each engine needs more than the checkpoint file when the
log starts at checkpoint V (measured with delta-rs 1.6, Sail 0.7.2 and delta-spark 4.4):

- delta-rs reads the table, but a DELETE that removes a row fails to commit without
  ``V.json`` ("Invalid table version: V");
- Sail reads it, but its appends, MERGEs and DELETEs open ``V.json`` ("No such file or
  directory");
- delta-spark cannot even read it ("Could not find any delta files for version V").

So the commit at the checkpoint's version stays, and it must name no one (the commit that
deleted a person holds their id in its predicate). :func:`drop_history` ends the history
with a commit of its own that has no action but its commit info (an empty append, as any
engine may write), checkpoints that version and removes every log entry below it, oldest
first: until the last step the newest commit that named the person is still there, so a
forget that was stopped half-way can see what is left to do.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from lake.lake import Lake
from lake.objectstore import ObjectNotFound
from lake.tables import Table

if TYPE_CHECKING:
    from deltalake import DeltaTable

SEAL = "old versions removed below this one (forget-user)"


def unreferenced_files(dt: DeltaTable) -> list[str]:
    """Data files (paths relative to the table) the current version does not use: the ones
    only older versions reference, and any a writer left without committing (and the
    tombstones of files already vacuumed, which a checkpoint keeps for a while)."""
    return dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True,
                     full=True)


def unused_files_with(lake: Lake, t: Table, column: str, value: str) -> tuple[int, int]:
    """(data files the current version does not use, how many of them have a row with
    ``column`` = ``value``); a file that cannot be read counts as having one."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dt = lake.delta(t)
    read = holding = 0
    for path in unreferenced_files(dt) if dt else []:
        try:
            body = lake.store.get(f"{t.key}/{path}")
        except ObjectNotFound:
            continue  # a tombstone the checkpoint keeps for a file already vacuumed
        read += 1
        try:
            data = pq.read_table(io.BytesIO(body), columns=[column])
        except (OSError, KeyError, ValueError):
            holding += 1
            continue
        holding += bool(pc.any(pc.equal(data[column], value)).as_py())
    return read, holding


def log_version(name: str) -> int | None:
    """The version a ``_delta_log`` entry belongs to (commits, checksums, checkpoints,
    compacted commits, Hadoop's hidden ``.N.json.crc``); None for ``_last_checkpoint``."""
    digits = name.lstrip(".")[:20]
    return int(digits) if len(digits) == 20 and digits.isdigit() else None


def remove_log_below(lake: Lake, t: Table, version: int) -> int:
    """Delete the log entries of versions below ``version``, oldest first; returns how many."""
    prefix = f"{t.key}/_delta_log/"
    entries = []
    for key in lake.store.list(prefix):
        name = key[len(prefix):]
        v = log_version(name) if "/" not in name else None
        if v is not None and v < version:
            entries.append((v, key))
    for _, key in sorted(entries):
        lake.store.delete(key)
    return len(entries)


def _seal(dt: DeltaTable) -> None:
    """A commit without data: only its commit info, which names no one."""
    from deltalake import CommitProperties

    dt.create_write_transaction(
        [], mode="append", schema=dt.schema(),
        partition_by=list(dt.metadata().partition_columns) or None,
        commit_properties=CommitProperties(custom_metadata={"finlake": SEAL}))


def drop_history(lake: Lake, t: Table) -> tuple[int, int]:
    """Vacuum every file the current version does not use, seal the history with an empty
    commit, checkpoint it and remove the log below it. Returns (data files vacuumed, log
    files removed). Time travel on the table starts again at the seal."""
    dt = lake.delta(t)
    if dt is None:
        return 0, 0
    vacuumed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False,
                         full=True)
    dt.update_incremental()
    _seal(dt)
    dt.update_incremental()
    version = dt.version()
    dt.create_checkpoint()
    return len(vacuumed), remove_log_below(lake, t, version)
