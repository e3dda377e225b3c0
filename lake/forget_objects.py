"""Forget a person's objects outside the tables (step 3 of :mod:`lake.forget`): raw pages,
released fixes and rejected bodies under ``user=U`` of every sync date, with the directories
named after them and their items; per-item sync cursors and schedules; pending sync
requests; forget requests for them that a stopped run left behind; staged Parquet rows
(rewritten without the person); quality reports that name them."""

from __future__ import annotations

import json

from lake.lake import Lake
from lake.raw import RAW_PREFIX, STATE_PREFIX
from lake.traces import tokens_in

SCHEDULE_PREFIX = "state/schedule"
SYNC_REQUESTS = "requests/sync/"
STAGING_PREFIX = "_staging/"
REPORTS_PREFIX = "quality/reports/"
REQUEST_PREFIX = "requests/forget/"  # the id to forget waits here (see jobs/forget.py)


def delete_objects(lake: Lake, user_id: str, items: set[str], identifiers: set[str],
                   current_request: str | None = None) -> tuple[dict[str, int], int]:
    """Delete the person's objects; returns (objects deleted per kind, staged files
    rewritten). ``current_request``: the forget request of this run (its caller deletes it)."""
    store = lake.store
    wanted = {i.encode() for i in identifiers}
    plan: dict[str, list[str]] = {"raw": [], "state": [], "requests": [], "reports": [],
                                  "forget_requests": []}
    for key in store.list(RAW_PREFIX + "/"):
        if f"/user={user_id}/" in key:
            plan["raw"].append(key)
    for item in items:
        for key in (f"{STATE_PREFIX}/item={item}.json", f"{SCHEDULE_PREFIX}/item={item}.json"):
            if store.exists(key):
                plan["state"].append(key)
    for key in store.list(SYNC_REQUESTS):
        if tokens_in(store.get(key), wanted):
            plan["requests"].append(key)
    for key in store.list(REPORTS_PREFIX):
        if tokens_in(store.get(key), wanted):
            plan["reports"].append(key)
    for key in store.list(REQUEST_PREFIX):  # left by runs that stopped (the caller's excepted)
        if key != current_request and _requested_user(store.get(key)) == user_id:
            plan["forget_requests"].append(key)
    for keys in plan.values():
        for key in keys:
            store.delete(key)
    store.prune(RAW_PREFIX)  # the emptied user=U/item=I directories: their names hold ids
    return {kind: len(keys) for kind, keys in plan.items()}, _rewrite_staging(lake, user_id)


def users_being_forgotten(lake: Lake) -> set[str]:
    """People with a forget request that has not finished: nothing may be synced for them."""
    return {u for key in lake.store.list(REQUEST_PREFIX)
            if (u := _requested_user(lake.store.get(key)))}


def forget_requested(lake: Lake, user_id: str) -> bool:
    """Whether a forget of ``user_id`` was requested and has not finished (a stopped run)."""
    return any(_requested_user(lake.store.get(key)) == user_id
               for key in lake.store.list(REQUEST_PREFIX))


def _requested_user(body: bytes) -> str | None:
    try:
        return json.loads(body).get("user_id")
    except (ValueError, AttributeError):
        return None


def _rewrite_staging(lake: Lake, user_id: str) -> int:
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
        keep = pc.invert(pc.fill_null(pc.equal(table["user_id"], user_id), False))
        if pc.all(keep).as_py():
            continue
        buf = io.BytesIO()
        pq.write_table(table.filter(keep), buf, compression="zstd")
        lake.store.put(key, buf.getvalue())
        n += 1
    return n
