"""Forget a person: every table row, raw object, state object, old table version and
credential of theirs, then prove nothing is left.

Steps (each prints a line with counts and timing):

1. **Collect identifiers** while the data exists: the user id, item, credentials and account
   ids (credentials, accounts, raw keys ``user=U/item=I``), transaction ids.
2. **Delete rows** of the person from every table that has a ``user_id`` column (delta-rs
   ``DELETE``), but for their credentials (the partner link, needed to revoke it) and their
   audit pseudonym (``audit_subjects``) for now. ``audit_log`` is append-only: its rows name
   people only by that pseudonym, so they can no longer be tied to anyone once it is gone.
3. **Delete objects**: raw pages, released fixes and rejected bodies under ``user=U`` of every
   sync date (and the directories named after the person and their items); per-item sync
   cursors and schedules; pending sync requests; earlier forget requests for them that a
   stopped run left behind; staged Parquet rows (rewritten without the person); quality
   reports that name them.
4. **Remove old versions** of every table that changed, or whose unused files or log still
   hold the person (a run stopped half-way left them): see :mod:`lake.history`. Time travel
   on those tables starts again at that point: the price of making deletion effective at
   once, and why forgetting runs in the lake-writer pool, never beside the nightly.
5. **Revoke** every linked item at the partner (``/item/remove``) through ``revoke``, now
   that the data is gone: a person's links are never revoked while their data stays. A
   failure stops here; running forget again finds the credentials and finishes.
6. **Delete the credentials and the pseudonym**, and their tables' old versions.
7. **Verify**: every table cell, unused data file and log file, every object, for every
   identifier; any hit fails the deletion with where it was.

Each step can be repeated: a forget stopped anywhere (a crash, a partner that is down) is
finished by running it again. The caller (jobs/forget.py) also purges Dagster runs that
mention the person and writes the deletion certificate to the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.crashpoints import crash_point
from lake.forget_objects import delete_objects
from lake.history import drop_history, unused_files_with
from lake.lake import Lake
from lake.raw import RAW_PREFIX
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, AUDIT_SUBJECTS, CREDENTIALS, REGISTRY, Table
from lake.traces import Hits, scan_log, scan_objects, scan_tables

# Deleted once the partner links are revoked: the credentials hold the tokens that revoke
# them, and the revocations are audited under the person's pseudonym.
LINKS = (CREDENTIALS, AUDIT_SUBJECTS)


class ForgetError(RuntimeError):
    """Forgetting could not finish; the message says what is left and what to do."""


@dataclass
class Identifiers:
    user_id: str
    items: set[str] = field(default_factory=set)
    credentials: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    transactions: set[str] = field(default_factory=set)
    subject: str | None = None  # audit pseudonym (kept in the certificate, unlinkable after)

    def all(self) -> set[str]:
        return {self.user_id} | self.items | self.credentials | self.accounts | self.transactions

    def counts(self) -> dict[str, int]:
        return {"items": len(self.items), "accounts": len(self.accounts),
                "transactions": len(self.transactions)}


@dataclass
class Deletion:
    """What forgetting did: the body of the deletion certificate."""

    identifiers: Identifiers
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    objects_deleted: dict[str, int] = field(default_factory=dict)
    objects_rewritten: int = 0
    files_vacuumed: int = 0
    log_files_removed: int = 0
    tables_cleaned: int = 0  # tables whose old versions were removed
    items_revoked: int = 0
    dagster_runs_deleted: int = 0
    verification: Hits = field(default_factory=Hits)
    seconds: dict[str, float] = field(default_factory=dict)

    def certificate(self) -> dict[str, Any]:
        """No identifier of the person: their pseudonym, counts, table versions, timings."""
        return {
            "subject": self.identifiers.subject,
            "found": self.identifiers.counts(),
            "items_revoked": self.items_revoked,
            "tables": self.tables,
            "rows_deleted": sum(t["rows_deleted"] for t in self.tables.values()),
            "objects_deleted": self.objects_deleted,
            "objects_rewritten": self.objects_rewritten,
            "old_files_vacuumed": self.files_vacuumed,
            "log_files_removed": self.log_files_removed,
            "dagster_runs_deleted": self.dagster_runs_deleted,
            "verification": {"clean": self.verification.clean,
                             "scanned": self.verification.scanned},
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def user_tables() -> list[Table]:
    """Tables holding rows about a person (the append-only audit log excepted)."""
    return [t for t in REGISTRY.values() if "user_id" in t.column_names and t is not AUDIT_LOG]


def collect(lake: Lake, user_id: str) -> Identifiers:
    import pyarrow.dataset as ds

    from lake.tables import ACCOUNTS, TRANSACTIONS

    ids = Identifiers(user_id)
    mine = ds.field("user_id") == user_id
    for r in read_rows(lake, CREDENTIALS, mine):
        ids.items.add(r["item_id"])
        ids.credentials.add(r["credentials_id"])
    for r in read_rows(lake, ACCOUNTS, mine):
        ids.accounts.add(r["account_id"])
        ids.items.add(r["item_id"])
    dt = lake.delta(TRANSACTIONS)
    if dt is not None:
        cols = ["txn_id", "partner_txn_id", "pending_partner_txn_id", "account_id", "item_id"]
        from lake.arrow import arrow_schema

        # As registered (string, not the string_view delta-rs writes), then filtered.
        rows = dt.to_pyarrow_dataset(schema=arrow_schema(TRANSACTIONS)).to_table(
            columns=cols + ["user_id"]).filter(mine).to_pylist()
        for r in rows:
            ids.transactions |= {v for v in (r["txn_id"], r["partner_txn_id"],
                                             r["pending_partner_txn_id"]) if v}
            ids.accounts.add(r["account_id"])
            ids.items.add(r["item_id"])
    for key in lake.store.list(RAW_PREFIX + "/"):
        if f"/user={user_id}/item=" in key:
            ids.items.add(key.split(f"/user={user_id}/item=", 1)[1].split("/", 1)[0])
    ids.items.discard(None)
    ids.accounts.discard(None)
    return ids


def delete_rows(lake: Lake, ids: Identifiers, deletion: Deletion, tables: list[Table],
                say: Callable[[str], None]) -> list[Table]:
    """DELETE the person's rows from ``tables``; returns the tables that changed."""
    changed = []
    for t in tables:
        dt = lake.delta(t)
        if dt is None:
            continue
        metrics = dt.delete(_rows_of(t, ids.user_id))
        n = int(metrics.get("num_deleted_rows") or 0)
        if n:
            changed.append(t)
            deletion.tables[t.name] = {"rows_deleted": n, "version": lake.delta(t).version()}
            say(f"    {t.name:<22} {n:>8,} rows deleted")
    return changed


def _rows_of(t: Table, user_id: str) -> str:
    """The DELETE predicate for a person's rows of ``t``. A quarantine row written before
    unreadable pages were given the user of their raw key (soak seed 2385) has no user_id; its
    raw object, under ``user=U/``, says whose it is."""
    mine = f"user_id = {_literal(user_id)}"
    if "raw_ref" not in t.column_names:
        return mine
    return (f"{mine} OR (user_id IS NULL AND "
            f"strpos(raw_ref, {_literal(f'/user={user_id}/')}) > 0)")


def history_holds(lake: Lake, t: Table, ids: Identifiers) -> bool:
    """Whether the table's log names the person, or a data file its current version does not
    use holds their rows (what a forget stopped before removing old versions leaves)."""
    if not lake.exists(t):
        return False
    if not scan_log(lake, t, {i.encode() for i in ids.all()}).clean:
        return True
    return unused_files_with(lake, t, "user_id", ids.user_id)[1] > 0


def verify(lake: Lake, ids: Identifiers) -> Hits:
    hits = scan_tables(lake, ids.all())
    hits.merge(scan_objects(lake, ids.all()))
    for t in user_tables():
        if lake.exists(t):
            read, holding = unused_files_with(lake, t, "user_id", ids.user_id)
            hits.count("unused data files", read)
            hits.add(f"table {t.name}: {holding} unused data files", [ids.user_id] * holding)
    return hits


def forget(lake: Lake, user_id: str, *, revoke: Callable[[str], None] | None,
           say: Callable[[str], None] = print, current_request: str | None = None) -> Deletion:
    """Forget ``user_id`` in the lake (steps 1-6 of the module doc). ``revoke(item_id)`` revokes
    one linked item at the partner (None: the partner is not reachable from here);
    ``current_request`` is the forget request this run serves (the caller deletes it)."""
    t0 = time.perf_counter()
    ids = collect(lake, user_id)
    subject = [r["subject"] for r in read_rows(lake, AUDIT_SUBJECTS, _mine(user_id))]
    ids.subject = subject[0] if subject else None
    linked = sorted(ids.items & _linked_items(lake, user_id))
    deletion = Deletion(ids)
    deletion.seconds["collect"] = time.perf_counter() - t0
    say(f"  identifiers: {len(ids.items)} items, {len(ids.accounts)} accounts, "
        f"{len(ids.transactions):,} transaction ids ({deletion.seconds['collect']:.1f}s)")

    tick = time.perf_counter()
    data = [t for t in user_tables() if t not in LINKS]
    changed = delete_rows(lake, ids, deletion, data, say)
    deletion.seconds["delete_rows"] = time.perf_counter() - tick
    say(f"  rows: {sum(v['rows_deleted'] for v in deletion.tables.values()):,} deleted from "
        f"{len(deletion.tables)} tables ({deletion.seconds['delete_rows']:.1f}s)")

    tick = time.perf_counter()
    deletion.objects_deleted, deletion.objects_rewritten = delete_objects(
        lake, ids.user_id, ids.items, ids.all(), current_request)
    deletion.seconds["delete_objects"] = time.perf_counter() - tick
    say(f"  objects: {deletion.objects_deleted} deleted, {deletion.objects_rewritten} staged "
        f"files rewritten ({deletion.seconds['delete_objects']:.1f}s)")
    tick = time.perf_counter()
    left = [t for t in data if t not in changed and history_holds(lake, t, ids)]
    deletion.seconds["old_versions"] = time.perf_counter() - tick
    if not (changed or left or linked or ids.subject or any(deletion.objects_deleted.values())):
        # The message does not repeat the id: it lands in the run's event log.
        raise ForgetError("no data for that user id in this lake (nothing was changed): check "
                          "the id, e.g. finlake sql \"SELECT DISTINCT user_id FROM accounts\"")
    crash_point("forget.before_old_versions")
    _drop_old_versions(lake, changed + left, deletion)

    tick = time.perf_counter()
    for item in linked:
        if revoke is None:
            break
        revoke(item)  # raises: only the credentials are left, run again
        deletion.items_revoked += 1
    deletion.seconds["revoke"] = time.perf_counter() - tick
    say(f"  revoked {deletion.items_revoked}/{len(linked)} linked items at the partner "
        f"({deletion.seconds['revoke']:.1f}s)")
    crash_point("forget.after_revoke")

    tick = time.perf_counter()
    links = delete_rows(lake, ids, deletion, list(LINKS), say)
    deletion.seconds["delete_rows"] += time.perf_counter() - tick
    _drop_old_versions(lake, links + [t for t in LINKS if t not in links
                                      and history_holds(lake, t, ids)], deletion)
    say(f"  old versions: {deletion.files_vacuumed} data files vacuumed, "
        f"{deletion.log_files_removed} log files removed from {deletion.tables_cleaned} "
        f"tables ({deletion.seconds['old_versions']:.1f}s)")
    return deletion


def _drop_old_versions(lake: Lake, tables: list[Table], deletion: Deletion) -> None:
    tick = time.perf_counter()
    for table in tables:
        files, logs = drop_history(lake, table)
        deletion.files_vacuumed += files
        deletion.log_files_removed += logs
        deletion.tables_cleaned += 1
    deletion.seconds["old_versions"] = (deletion.seconds.get("old_versions", 0.0)
                                        + time.perf_counter() - tick)


def verify_deletion(lake: Lake, deletion: Deletion, say: Callable[[str], None] = print,
                    extra: Hits | None = None) -> None:
    """Scan the lake (and ``extra`` findings, e.g. Dagster's) for any identifier left."""
    t = time.perf_counter()
    hits = verify(lake, deletion.identifiers)
    if extra is not None:
        hits.merge(extra)
    deletion.verification = hits
    deletion.seconds["verify"] = time.perf_counter() - t
    scanned = ", ".join(f"{n:,} {what}" for what, n in sorted(hits.scanned.items()))
    if not hits.clean:
        where = "; ".join(f"{place}" for place in sorted(hits.found)[:10])
        raise ForgetError(f"traces of the user remain in {len(hits.found)} places: {where}. "
                          "Nothing was re-created; run forget-user again after fixing the "
                          "writer that keeps them")
    say(f"  verified: no identifier left in {scanned} ({deletion.seconds['verify']:.1f}s)")


def _mine(user_id: str) -> Any:
    import pyarrow.dataset as ds

    return ds.field("user_id") == user_id


def _linked_items(lake: Lake, user_id: str) -> set[str]:
    return {r["item_id"] for r in read_rows(lake, CREDENTIALS, _mine(user_id))}
