"""Benchmark: the day's intake (raw contract + staging), record by record vs columnar.

    .venv/bin/python -m bench.intake_columnar [--records 200000] [--pages 1000] [--bad 0.005]
        [--repeat 2]

Lands ``records`` Plaid-shaped transactions (``connectors/sandbox_bank`` records: many null
fields, nested location and payment_meta; some modified and removed; ``bad`` of them broken
on purpose) in ``pages`` pages of several items, with their accounts, through ``lake/raw.py``
into a local lake in a temporary directory. Then, side by side in one run, times:

- ``old``: the former ``stage_landed_pages`` (a copy below: 8 threads fetch and run
  ``parse_page`` record by record, dicts, ``pa.Table.from_pylist``, staged Parquet),
- ``new, in-process``: ``pipelines/raw/intake.py`` with its worker pool disabled,
- ``new, pool (cold)``: with the pool of ``min(2, cpus)`` workers, including their start,
- ``new, pool (warm)``: the pool reused, as by a later partition of the same process,

each as wall seconds, CPU seconds (this process and the workers) and CPU/wall, and checks
that every run staged the same changes and accounts and quarantined the same rows.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

SYNC_DAY = date(2026, 11, 20)
MERCHANTS = ["Starbucks", "Shell", "Amazon", "Whole Foods", "Uber", "Netflix", None]
BREAKS = [("amount", "12.50"), ("date", "2026/11/19"), ("iso_currency_code", "usd"),
          ("pending", None), ("transaction_id", ""), ("date", "2031-01-01")]


def record(rng: random.Random, i: int, account: str) -> dict[str, Any]:
    from connectors.sandbox_bank.changes import to_plaid

    merchant = rng.choice(MERCHANTS)
    day = SYNC_DAY - timedelta(days=rng.randrange(3))
    return to_plaid({
        "account_id": account, "amount": round(rng.uniform(-200, 400), 2),
        "iso_currency_code": "USD", "date": day.isoformat(),
        "authorized_date": (day - timedelta(days=rng.randrange(2))).isoformat(),
        "merchant_entity_id": None, "merchant_name": merchant,
        "name": f"{(merchant or 'ACME PAYROLL').upper()} #{rng.randrange(9999)} SEATTLE WA",
        "payment_channel": rng.choice(["in store", "online", "other"]),
        "pending": rng.random() < 0.08, "pending_transaction_id": None,
        "transaction_id": f"{rng.getrandbits(128):032x}{i}"})


def land(lake: Any, records: int, pages: int, bad: float, seed: int) -> None:
    """``records`` records in ``pages`` pages: items of 1 to 4 pages, each page listing
    the item's accounts; a few modifications and removals."""
    from lake.raw import UpdateRef, complete_update, land_page

    rng = random.Random(seed)
    per_page = records // pages
    attempt = f"{SYNC_DAY:%Y%m%d}T020000000000Z"
    landed_at = f"{SYNC_DAY.isoformat()}T02:00:00+00:00"
    page_no, item = 0, 0
    while page_no < pages:
        n = min(rng.randint(1, 4), pages - page_no)
        item += 1
        user, item_id = f"user_{item % 700:04d}", f"item_{item:05d}"
        accounts = [{"account_id": f"{item_id}_acc_{a}", "name": "Checking", "mask": "0000",
                     "official_name": "Bank Checking", "type": "depository",
                     "subtype": "checking", "balances": {
                         "available": 100.0, "current": 100.0, "limit": None,
                         "iso_currency_code": "USD", "unofficial_currency_code": None}}
                    for a in range(rng.randint(2, 5))]
        ref = UpdateRef(SYNC_DAY, user, item_id, 13107, attempt)
        keys = []
        for p in range(1, n + 1):
            recs = [record(rng, page_no * per_page + i, rng.choice(accounts)["account_id"])
                    for i in range(per_page)]
            for r in recs:
                if rng.random() < bad:
                    field, value = rng.choice(BREAKS)
                    r[field] = value
            cut = per_page * 9 // 10
            removed = [{"transaction_id": r["transaction_id"], "account_id": r["account_id"]}
                       for r in recs[cut + (per_page - cut) // 2:]]
            body = {"added": recs[:cut], "modified": recs[cut:cut + (per_page - cut) // 2],
                    "removed": removed, "accounts": accounts, "next_cursor": f"c{p}",
                    "has_more": p < n,
                    "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE"}
            keys.append(land_page(lake.store, ref, p, body, "ins_1", landed_at))
            page_no += 1
        complete_update(lake.store, ref, keys, landed_at, {})


def old_stage_landed_pages(lake: Any, sync_date: date) -> Any:
    """``stage_landed_pages`` as it was before the columnar intake (commit ea5e8ca)."""
    import pyarrow as pa

    from lake import raw
    from lake.staging import new_run, put_arrow
    from pipelines.categories.reference import currencies
    from pipelines.raw.contract import parse_page
    from pipelines.raw.intake import ACCOUNT_SCHEMA, CHANGE_SCHEMA, Intake, _foreign_row

    keys = raw.partition_pages(lake.store, sync_date)
    out = Intake(sync_date, new_run("intake", sync_date))
    known = frozenset(currencies())
    now = datetime.now(UTC)
    changes: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []

    def check(key: str) -> Any:
        return parse_page(lake.store.get(key), key, sync_date, known, now)

    with ThreadPoolExecutor(8) as pool:
        for page in pool.map(check, keys):
            out.stats.add(page.stats)
            out.rejected.extend(page.rejected)
            changes.extend(page.changes)
            accounts.extend(page.accounts)
    linked: dict[str, set[str]] = {}
    for a in accounts:
        linked.setdefault(a["item_id"], set()).add(a["account_id"])
    ok = [c for c in changes if c["account_id"] in linked.get(c["item_id"], ())]
    for c in changes:
        if c["account_id"] not in linked.get(c["item_id"], ()):
            out.stats.changes -= 1
            out.stats.quarantined += 1
            out.stats.reasons["account not linked to this item"] += 1
            out.rejected.append(_foreign_row(c, now))
    if ok:
        out.changes_uri = put_arrow(lake, f"{out.staging}/changes.parquet",
                                    pa.Table.from_pylist(ok, schema=CHANGE_SCHEMA))
    if accounts:
        out.accounts_uri = put_arrow(lake, f"{out.staging}/accounts.parquet",
                                     pa.Table.from_pylist(accounts, schema=ACCOUNT_SCHEMA))
    return out


def cpu_seconds() -> float:
    """CPU time of this process and of the intake's live worker processes."""
    from pipelines.raw import intake

    total = time.process_time()
    if intake._pool is not None:
        tick = os.sysconf("SC_CLK_TCK")
        for pid in list(intake._pool[1]._processes or {}):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError):
                pass
    return total


def outcome(lake: Any, run: Any) -> tuple:
    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(lake.store.get(f"{run.staging}/{name}.parquet")))
              for name in ("changes", "accounts")]
    rejected = [{k: v for k, v in r.items() if k != "quarantined_at"} for r in run.rejected]
    stats = run.stats.as_dict()
    return tuple(t.schema for t in tables), tuple(t.to_pylist() for t in tables), rejected, stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("--records", 200_000), ("--pages", 1000), ("--bad", 0.005),
                          ("--repeat", 2), ("--seed", 7)):
        ap.add_argument(flag, type=type(default), default=default)
    args = ap.parse_args(argv)

    from lake.lake import Lake
    from pipelines.raw import intake

    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(f"{tmp}/lake")
        t = time.perf_counter()
        land(lake, args.records, args.pages, args.bad, args.seed)
        size = sum(f.stat().st_size for f in (lake.store.root / "raw").rglob("*.json"))
        print(f"landed {args.records:,} records in {args.pages:,} pages ({size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - t:.1f}s; {os.cpu_count()} cpus")
        min_pages = intake.POOL_MIN_PAGES
        runs = {"old": lambda: old_stage_landed_pages(lake, SYNC_DAY),
                "new, in-process": lambda: intake.stage_landed_pages(lake, SYNC_DAY),
                "new, pool (cold)": lambda: intake.stage_landed_pages(lake, SYNC_DAY),
                "new, pool (warm)": lambda: intake.stage_landed_pages(lake, SYNC_DAY)}
        best: dict[str, tuple[float, float]] = {}
        first = None
        for rep in range(args.repeat):
            for name, run in runs.items():
                intake.POOL_MIN_PAGES = 10**9 if name == "new, in-process" else min_pages
                if name.endswith("(cold)"):
                    intake._drop_pool()
                c0, t0 = cpu_seconds(), time.perf_counter()
                result = run()
                wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                got = outcome(lake, result)
                first = first or got
                assert got == first, f"{name} staged or quarantined something else"
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu)
                print(f"  run {rep + 1} {name:18s} {wall:6.2f} s wall {cpu:6.2f} s cpu",
                      flush=True)
        old = best["old"][0]
        print(f"best of {args.repeat} ({first[3]['changes']:,} changes, "
              f"{first[3]['quarantined_records']:,} quarantined records, "
              f"{first[3]['accounts']:,} accounts; every run identical):")
        for name, (wall, cpu) in best.items():
            print(f"  {name:18s} {wall:6.2f} s  {old / wall:5.2f}x  cpu {cpu:6.2f} s  "
                  f"cpu/wall {cpu / wall:4.2f}  {args.records / wall:10,.0f} records/s")


if __name__ == "__main__":
    main()
