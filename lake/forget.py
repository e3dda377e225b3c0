"""Forget a person: every table row, raw object, state object, old table version and
credential of theirs, then prove nothing is left.

Steps (each prints a line with counts and timing):

1. **Collect identifiers** while the data exists: the user id, item, credentials and account
   ids (credentials, accounts, raw keys ``user=U/item=I``), transaction ids.
2. **Revoke** every linked item at the partner (``/item/remove``) through ``revoke``; a
   failure stops here with nothing deleted (the token is still needed to retry).
3. **Delete rows** of the person from every table that has a ``user_id`` column (delta-rs
   ``DELETE``; credentials included, so the sealed token and its wrapped data key go too).
   ``audit_log`` is append-only: its rows name people only by the pseudonym in
   ``audit_subjects``, whose row is deleted here, so they can no longer be tied to anyone.
4. **Delete objects**: raw pages, released fixes and rejected bodies under ``user=U`` of every
   sync date; per-item sync cursors and schedules; pending sync requests; staged Parquet rows
   (rewritten without the person); quality reports that name them.
5. **Remove old versions** of every table that changed: ``VACUUM`` with zero retention (the
   deleted rows live on in the files older versions point to), then a checkpoint, and the
   Delta log before it (commit files hold column statistics and the DELETE predicate, which
   name the person) is removed with older checkpoints. Time travel on those tables starts
   again at the checkpoint: that is the price of making deletion effective at once, and why
   forgetting runs in the lake-writer pool, never beside the nightly.
6. **Verify**: every table cell and log file, every object, for every identifier; any hit
   fails the deletion with where it was.

The caller (jobs/forget.py) also purges Dagster runs that mention the person and writes the
deletion certificate to the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lake.catalog import Lake
from lake.raw import RAW_PREFIX, STATE_PREFIX
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, AUDIT_SUBJECTS, CREDENTIALS, REGISTRY, Table
from lake.traces import Hits, scan_objects, scan_tables

SCHEDULE_PREFIX = "state/schedule"
SYNC_REQUESTS = "requests/sync/"
STAGING_PREFIX = "_staging/"
REPORTS_PREFIX = "quality/reports/"


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


def delete_rows(lake: Lake, ids: Identifiers, deletion: Deletion,
                say: Callable[[str], None]) -> list[Table]:
    """DELETE the person's rows everywhere; returns the tables that changed."""
    changed = []
    for t in user_tables():
        dt = lake.delta(t)
        if dt is None:
            continue
        metrics = dt.delete(f"user_id = {_literal(ids.user_id)}")
        n = int(metrics.get("num_deleted_rows") or 0)
        if n:
            changed.append(t)
            deletion.tables[t.name] = {"rows_deleted": n, "version": lake.delta(t).version()}
            say(f"    {t.name:<22} {n:>8,} rows deleted")
    return changed


def delete_objects(lake: Lake, ids: Identifiers, deletion: Deletion) -> None:
    store = lake.store
    wanted = {i.encode() for i in ids.all()}
    plan: dict[str, list[str]] = {"raw": [], "state": [], "requests": [], "reports": []}
    for key in store.list(RAW_PREFIX + "/"):
        if f"/user={ids.user_id}/" in key:
            plan["raw"].append(key)
    for item in ids.items:
        for key in (f"{STATE_PREFIX}/item={item}.json", f"{SCHEDULE_PREFIX}/item={item}.json"):
            if store.exists(key):
                plan["state"].append(key)
    from lake.traces import tokens_in

    for key in store.list(SYNC_REQUESTS):
        if tokens_in(store.get(key), wanted):
            plan["requests"].append(key)
    for key in store.list(REPORTS_PREFIX):
        if tokens_in(store.get(key), wanted):
            plan["reports"].append(key)
    for kind, keys in plan.items():
        for key in keys:
            store.delete(key)
        deletion.objects_deleted[kind] = len(keys)
    deletion.objects_rewritten = _rewrite_staging(lake, ids)


def _rewrite_staging(lake: Lake, ids: Identifiers) -> int:
    """Staged Parquet (write-audit-publish leftovers) rewritten without the person's rows."""
    import io

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    n = 0
    for key in lake.store.list(STAGING_PREFIX):
        if not key.endswith(".parquet"):
            continue
        table = pq.read_table(io.BytesIO(lake.store.get(key)))
        if "user_id" not in table.column_names:
            continue
        keep = pc.invert(pc.fill_null(pc.equal(table["user_id"], ids.user_id), False))
        if pc.all(keep).as_py():
            continue
        buf = io.BytesIO()
        pq.write_table(table.filter(keep), buf, compression="zstd")
        lake.store.put(key, buf.getvalue())
        n += 1
    return n


def drop_history(lake: Lake, t: Table) -> tuple[int, int]:
    """Vacuum with zero retention every data file the current version does not use (also
    ones no version ever referenced, e.g. written by a commit that lost a race), checkpoint,
    and remove the log before the checkpoint. Only while nothing else writes ``t``. Returns
    (data files vacuumed, log files removed)."""
    dt = lake.delta(t)
    vacuumed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False,
                         full=True)
    dt = lake.delta(t)
    version = dt.version()
    dt.create_checkpoint()
    removed = 0
    prefix = f"{t.key}/_delta_log/"
    for key in lake.store.list(prefix):
        name = key[len(prefix):]
        if "/" in name or not name[:20].isdigit():
            continue  # _last_checkpoint, folders
        # The checkpointed version's own commit stays: delta-rs needs it to commit the next
        # version ("Invalid table version"); after a vacuum that removed files it is the
        # VACUUM END entry.
        if int(name[:20]) < version:
            lake.store.delete(key)
            removed += 1
    return len(vacuumed), removed


def verify(lake: Lake, ids: Identifiers) -> Hits:
    hits = scan_tables(lake, ids.all())
    hits.merge(scan_objects(lake, ids.all()))
    return hits


def forget(lake: Lake, user_id: str, *, revoke: Callable[[str], None] | None,
           say: Callable[[str], None] = print) -> Deletion:
    """Forget ``user_id`` in the lake (steps 1-6 of the module doc). ``revoke(item_id)`` revokes
    one linked item at the partner (None: the partner is not reachable from here)."""
    t0 = time.perf_counter()
    ids = collect(lake, user_id)
    deletion = Deletion(ids)
    deletion.seconds["collect"] = time.perf_counter() - t0
    say(f"  identifiers: {len(ids.items)} items, {len(ids.accounts)} accounts, "
        f"{len(ids.transactions):,} transaction ids ({deletion.seconds['collect']:.1f}s)")

    t = time.perf_counter()
    linked = sorted(ids.items & _linked_items(lake, user_id))
    for item in linked:
        if revoke is None:
            break
        revoke(item)  # raises: nothing deleted yet, run again
        deletion.items_revoked += 1
    deletion.seconds["revoke"] = time.perf_counter() - t
    say(f"  revoked {deletion.items_revoked}/{len(linked)} linked items at the partner "
        f"({deletion.seconds['revoke']:.1f}s)")

    t = time.perf_counter()
    subject = [r["subject"] for r in read_rows(lake, AUDIT_SUBJECTS, _mine(user_id))]
    ids.subject = subject[0] if subject else None
    changed = delete_rows(lake, ids, deletion, say)
    deletion.seconds["delete_rows"] = time.perf_counter() - t
    say(f"  rows: {sum(v['rows_deleted'] for v in deletion.tables.values()):,} deleted from "
        f"{len(deletion.tables)} tables ({deletion.seconds['delete_rows']:.1f}s)")

    t = time.perf_counter()
    delete_objects(lake, ids, deletion)
    deletion.seconds["delete_objects"] = time.perf_counter() - t
    say(f"  objects: {deletion.objects_deleted} deleted, {deletion.objects_rewritten} staged "
        f"files rewritten ({deletion.seconds['delete_objects']:.1f}s)")
    if not changed and not any(deletion.objects_deleted.values()):
        # The message does not repeat the id: it lands in the run's event log.
        raise ForgetError("no data for that user id in this lake (nothing was changed): check "
                          "the id, e.g. finlake sql \"SELECT DISTINCT user_id FROM accounts\"")

    t = time.perf_counter()
    for table in changed:
        files, logs = drop_history(lake, table)
        deletion.files_vacuumed += files
        deletion.log_files_removed += logs
    deletion.seconds["old_versions"] = time.perf_counter() - t
    say(f"  old versions: {deletion.files_vacuumed} data files vacuumed, "
        f"{deletion.log_files_removed} log files removed from {len(changed)} tables "
        f"({deletion.seconds['old_versions']:.1f}s)")
    return deletion


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
