"""Intake: a partition's landed raw pages through the raw contract into staged Parquet.

Reads every page of the day's complete updates (and released fixes), checks each record
(``pipelines/raw/contract.py``, columnar in ``pipelines/raw/columnar.py``), writes the valid
change records and account snapshots as staged Parquet for Spark, and returns the rejected
records for the quarantine table.

Pages are independent: threads fetch them, in order, while chunks of them are checked, in a
small pool of worker processes (``min(2, cpus)``, started once per process and reused) when
the partition is large, else in this process; results are merged in page order, so rows,
``source_seq`` and quarantine rows do not depend on how the work was split. Spawned workers
import the program's main module, as multiprocessing does: a script that runs intake needs
the ``if __name__ == "__main__":`` guard (should the workers die, intake checks in-process).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lake import raw
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.staging import new_run, put_arrow
from lake.tables import ACCOUNTS
from pipelines.categories.reference import currencies
from pipelines.raw.columnar import ACCOUNT_SCHEMA, CHANGE_SCHEMA, Checked, check_pages
from pipelines.raw.contract import ContractStats, record_id

log = logging.getLogger(__name__)

FETCH_THREADS = 8
CHUNK_PAGES = 50     # pages checked together (the progress step, 2,000, is a multiple)
POOL_MIN_PAGES = 400  # smaller partitions are checked here: a worker takes ~1 s to start
AHEAD = 4            # chunks in flight per worker (bounds the bodies held in memory)
_pool: tuple[int, ProcessPoolExecutor, int] | None = None  # (owner pid, pool, workers)


@dataclass
class Intake:
    sync_date: date
    staging: str
    stats: ContractStats = field(default_factory=ContractStats)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    changes_uri: str | None = None
    accounts_uri: str | None = None
    seconds: float = 0.0


def stage_landed_pages(lake: Lake, sync_date: date, only: tuple[str, str] | None = None,
                       progress: Any = None) -> Intake | None:
    """Check the partition's pages; stage what passed. None when nothing has landed."""
    t0 = time.perf_counter()
    keys = raw.partition_pages(lake.store, sync_date, *(only or (None, None)))
    if not keys:
        return None
    out = Intake(sync_date, new_run("intake", sync_date))
    args = (sync_date, frozenset(currencies()), datetime.now(UTC))
    try:
        changes, accounts = _check_all(lake, keys, args, out, progress,
                                       len(keys) >= POOL_MIN_PAGES)
    except BrokenProcessPool:  # a worker died (memory?): start over here, in this process
        log.warning("%s raw contract: a worker process died; checking in-process", sync_date)
        _drop_pool()
        out = Intake(sync_date, out.staging)
        changes, accounts = _check_all(lake, keys, args, out, progress, False)
    now = args[2]
    changes, foreign = _split_foreign(changes, linked_accounts(lake, accounts, changes))
    for c in foreign:
        out.stats.changes -= 1
        out.stats.quarantined += 1
        out.stats.reasons["account not linked to this item"] += 1
        out.rejected.append(_foreign_row(c, now))
    if changes.num_rows:
        out.changes_uri = put_arrow(lake, f"{out.staging}/changes.parquet", changes)
    if accounts.num_rows:
        out.accounts_uri = put_arrow(lake, f"{out.staging}/accounts.parquet", accounts)
    out.seconds = time.perf_counter() - t0
    log.info("%s raw contract: %s (%.1fs)", sync_date, out.stats.as_dict(), out.seconds)
    return out


def _check_all(lake: Lake, keys: list[str], args: tuple, out: Intake, progress: Any,
               pooled: bool) -> tuple[pa.Table, pa.Table]:
    """Every page checked, in chunks, results merged in page order."""
    changes: list[pa.Table] = []
    accounts: list[pa.Table] = []
    done = 0
    for n, checked in _checked_chunks(lake, keys, args, pooled):
        out.stats.add(checked.stats)
        out.rejected.extend(checked.rejected)
        changes.extend(checked.changes)
        accounts.extend(checked.accounts)
        done += n
        if progress and (done % 2000 == 0 or done == len(keys)):
            progress(f"raw contract: {done}/{len(keys)} pages, {out.stats.changes} changes, "
                     f"{out.stats.quarantine_rows} quarantined")
    return (pa.concat_tables(changes or [CHANGE_SCHEMA.empty_table()]).combine_chunks(),
            pa.concat_tables(accounts or [ACCOUNT_SCHEMA.empty_table()]).combine_chunks())


def _checked_chunks(lake: Lake, keys: list[str], args: tuple, pooled: bool
                    ) -> Iterator[tuple[int, Checked]]:
    """(pages, outcome) of each chunk in order: fetched by threads, checked by the worker
    processes (``pooled``) or here."""
    chunks = [keys[i:i + CHUNK_PAGES] for i in range(0, len(keys), CHUNK_PAGES)]
    with ThreadPoolExecutor(FETCH_THREADS) as fetch:
        bodies = _fetched(lake.store.get, chunks, fetch)
        if not pooled:
            for pages in bodies:
                yield len(pages), check_pages(pages, *args)
            return
        pool, workers = _workers()
        pending: deque[tuple[int, Future[Checked]]] = deque()
        for pages in bodies:
            pending.append((len(pages), pool.submit(check_pages, pages, *args)))
            if len(pending) >= AHEAD * workers:
                n, future = pending.popleft()
                yield n, future.result()
        while pending:
            n, future = pending.popleft()
            yield n, future.result()


def _fetched(get: Callable[[str], bytes], chunks: list[list[str]], fetch: ThreadPoolExecutor
             ) -> Iterator[list[tuple[str, bytes]]]:
    """Each chunk's (key, body) pairs in order, the next ``AHEAD`` chunks fetched meanwhile."""
    queue: deque[tuple[list[str], list[Future[bytes]]]] = deque()
    for chunk in chunks:
        queue.append((chunk, [fetch.submit(get, key) for key in chunk]))
        if len(queue) > AHEAD:
            keys, futures = queue.popleft()
            yield [(k, f.result()) for k, f in zip(keys, futures, strict=True)]
    while queue:
        keys, futures = queue.popleft()
        yield [(k, f.result()) for k, f in zip(keys, futures, strict=True)]


def _workers() -> tuple[ProcessPoolExecutor, int]:
    """This process's pool of checkers (spawned: no fork of a process running threads and
    Spark; reused by later partitions, shut down at exit)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        workers = max(1, min(2, os.cpu_count() or 1))
        _pool = (os.getpid(), ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")), workers)
    return _pool[1], _pool[2]


def _drop_pool() -> None:
    global _pool
    if _pool is not None and _pool[0] == os.getpid():
        _pool[1].shutdown(wait=False, cancel_futures=True)
    _pool = None


def linked_accounts(lake: Lake, accounts: pa.Table, changes: pa.Table) -> dict[str, set[str]]:
    """Each item's accounts: those its pages list now, and those it listed before."""
    linked: dict[str, set[str]] = {}
    for item, account in _pairs(accounts):
        linked.setdefault(item, set()).add(account)
    unknown = {item for item, account in _pairs(changes)
               if account not in linked.get(item, ())}
    if unknown and lake.exists(ACCOUNTS):
        import pyarrow.dataset as ds

        for r in read_rows(lake, ACCOUNTS, ds.field("item_id").isin(sorted(unknown))):
            linked.setdefault(r["item_id"], set()).add(r["account_id"])
    return linked


def _pairs(table: pa.Table) -> list[tuple[str, str]]:
    """The distinct (item_id, account_id) of a table's rows."""
    if not table.num_rows:
        return []
    pairs = table.select(["item_id", "account_id"]).group_by(
        ["item_id", "account_id"], use_threads=False).aggregate([])
    return list(zip(pairs["item_id"].to_pylist(), pairs["account_id"].to_pylist(),
                    strict=True))


def _split_foreign(changes: pa.Table, linked: dict[str, set[str]]
                   ) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Split off changes whose account is not one of their item's accounts (a partner mix-up
    would otherwise file one person's transactions under another's name)."""
    foreign = {(i, a) for i, a in _pairs(changes) if a not in linked.get(i, ())}
    if not foreign:
        return changes, []
    mask = pa.array([pair in foreign for pair in zip(
        changes["item_id"].to_pylist(), changes["account_id"].to_pylist(), strict=True)])
    return changes.filter(pc.invert(mask)), changes.filter(mask).to_pylist()


def _foreign_row(c: dict[str, Any], now: datetime) -> dict[str, Any]:
    import json

    record = {k: c[k] for k in ("transaction_id", "account_id", "amount", "iso_currency_code",
                                "date", "name", "pending")}
    return {"record_id": record_id(c["raw_ref"], c["source_seq"]),
            "source": "transactions_sync", "raw_ref": c["raw_ref"], "user_id": c["user_id"],
            "item_id": c["item_id"], "source_seq": c["source_seq"],
            "change_kind": c["change_kind"], "reason": "account not linked to this item",
            "record": json.dumps(record, ensure_ascii=False, default=str),
            "sync_date": c["sync_date"], "quarantined_at": now, "status": "quarantined",
            "released_at": None, "released_ref": None}
