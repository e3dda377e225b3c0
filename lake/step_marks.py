"""Step marks: what a day's step saw when it last completed, so a replay can skip the work.

Every nightly step is a function of its inputs: silver's MERGE of a day of the raw pages
landed under that day (the MERGE is idempotent: re-applying the same pages changes nothing),
gold's, net worth's and recurring payments' refreshes of the Delta tables they read and write.
When a step completes it records those inputs in ``step_marks``; a later run of the same
step and day that finds exactly the same inputs has nothing to compute and goes straight to
its checks. Anything that could change the result changes an input: a new page, a release
or a removal under the day's raw prefix changes the raw fingerprint; any commit to a table a
step reads or writes (another day's merge, a correction, forget-user, maintenance, a table
re-created from scratch) changes that table's ``id:version``. A mark is written only after
the step's work is published, so a run killed half-way leaves the old mark, whose inputs no
longer match what the killed run changed, or a mark that still holds because the killed run
changed nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from lake import raw
from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import STEP_MARKS, Table


def raw_fingerprint(lake: Lake, day: date) -> str:
    """A hash of every object under the day's raw prefix (pages, manifests, released fixes,
    kept bodies): raw objects are write-once, so the same keys mean the same records."""
    keys = lake.store.list(raw.date_prefix(day))
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
    return f"{len(keys)}:{digest[:32]}"


def table_states(lake: Lake, tables: Iterable[Table]) -> dict[str, str]:
    """``table -> "<Delta table id>:<version>"`` ("absent" for a table not created yet)."""
    states = {}
    for t in tables:
        dt = lake.delta(t)
        states[t.name] = "absent" if dt is None else f"{dt.metadata().id}:{dt.version()}"
    return states


def unchanged(lake: Lake, step: str, day: date, inputs: dict[str, Any]
              ) -> dict[str, Any] | None:
    """The mark of ``step``'s last completed run of ``day`` if its inputs were exactly
    ``inputs`` (its ``detail`` plus ``run_id`` and ``recorded_at``), else None."""
    if not lake.exists(STEP_MARKS):
        return None
    import pyarrow.dataset as ds

    rows = read_rows(lake, STEP_MARKS, (ds.field("step") == step) & (ds.field("day") == day))
    if not rows or json.loads(rows[0]["inputs"]) != _plain(inputs):
        return None
    mark = rows[0]
    return {**json.loads(mark["detail"] or "{}"), "run_id": mark["run_id"],
            "recorded_at": mark["recorded_at"]}


def record(lake: Lake, step: str, day: date, inputs: dict[str, Any],
           detail: dict[str, Any] | None = None, run_id: str | None = None) -> None:
    """Remember that ``step`` completed ``day`` with ``inputs`` (replaces the last mark)."""
    upsert_rows(lake, STEP_MARKS, [{
        "step": step, "day": day, "inputs": json.dumps(_plain(inputs), sort_keys=True),
        "detail": json.dumps(detail or {}, sort_keys=True, default=str), "run_id": run_id,
        "recorded_at": datetime.now(UTC)}])


# Commits that rewrite files without changing a table's rows (lake/maintenance.py).
LAYOUT_ONLY = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


def last_state(lake: Lake, step: str, t: Table) -> dict[str, Any] | None:
    """The ``detail`` of ``step``'s most recently recorded mark, of any day, if ``t`` (a table
    the step writes) holds exactly what that run left: the same table, and no commit since
    but layout-only ones (compaction, vacuum). None otherwise (never run, a run killed after
    publishing, another writer such as forget-user): the caller must not trust what it
    believes ``t`` holds, and recomputes it all."""
    if not lake.exists(STEP_MARKS):
        return None
    import pyarrow.dataset as ds

    rows = read_rows(lake, STEP_MARKS, ds.field("step") == step)
    if not rows:
        return None
    mark = max(rows, key=lambda r: r["recorded_at"])
    left = json.loads(mark["inputs"]).get(t.name, "")
    dt = lake.delta(t)
    if dt is None or ":" not in left:
        return None
    table_id, _, version = left.rpartition(":")
    if table_id != dt.metadata().id or int(version) > dt.version():
        return None
    since = [c for c in dt.history(dt.version() - int(version))
             if int(c.get("version", -1)) > int(version)]
    if len(since) != dt.version() - int(version) or any(
            c.get("operation") not in LAYOUT_ONLY for c in since):
        return None
    return json.loads(mark["detail"] or "{}")


def _plain(inputs: dict[str, Any]) -> dict[str, Any]:
    """JSON-comparable form (what a stored mark reads back as)."""
    return json.loads(json.dumps(inputs, sort_keys=True, default=str))


def skipped_note(mark: dict[str, Any]) -> str:
    when = mark.get("recorded_at")
    when = when.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(when, datetime) else when
    return f"inputs unchanged since run {mark.get('run_id') or '?'} completed it at {when}"
