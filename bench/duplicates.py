"""Precision and recall of the probable-duplicate flags (pipelines/silver/reissued.py) over
a sandbox world whose partner re-issues transactions under new ids (the ``reissued_ids``
fault on every institution).

    .venv/bin/python -m bench.duplicates [--seed 11] [--users 6] [--days 6] [--rate 0.5]

A re-issue pair of the truth is found when exactly one of its two rows is flagged (the pair
counts once); it is missed when neither is. A flagged row in no pair is a false alarm (a
real purchase left out of the totals). Also printed: identical purchases the world has that
are no re-issue (what could be merged by mistake) and the partner-truth reconciliation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

START = date(2026, 3, 1)


def measure(root: Path, *, seed: int = 11, users: int = 6, days: int = 6,
            rate: float = 0.5, count: int = 2, page_size: int = 100,
            reverse: bool = False) -> dict:
    """Build the world under ``root``, sync it for ``days`` days (one sync every 2 days
    after 5 days of history), merge every day into silver (newest first with ``reverse``:
    copies before their originals) and score the flags."""
    from connectors.credentials import CredentialStore
    from connectors.linking import link_sandbox
    from connectors.partner import partner_client
    from connectors.sandbox_bank.bank import SandboxBank
    from connectors.sandbox_bank.faults import Fault
    from connectors.sandbox_bank.ground_truth import reconcile
    from connectors.sandbox_bank.server import serve
    from connectors.sync import sync_item
    from connectors.vault import LocalKeyProvider, Vault
    from lake.lake import Lake
    from lake.raw import load_cursor
    from lake.spark import spark_session
    from lake.tables import TRANSACTIONS
    from pipelines.categories.refresh import seed_reference
    from pipelines.silver.refresh import merge_partition

    bank = SandboxBank.open(root / "bank", seed=seed, users=users, history_start=START,
                            clock=START + timedelta(days=5), enforce_rate_limits=False)
    bank.set_fault_plan({i["institution_id"]: [Fault("reissued_ids", rate, count=count)]
                         for i in bank.institutions()}, seed)
    lake = Lake(str(root / "lake"))
    creds = CredentialStore(lake, Vault(LocalKeyProvider(root / "keys")))
    spark = spark_session()
    seed_reference(spark, lake)
    sync_days = [START + timedelta(days=5 + 2 * i) for i in range(days)]
    t0 = time.perf_counter()
    with serve(bank) as running:
        api = partner_client(running.url, "bench", "bench")
        link_sandbox(api, running.url, creds)
        for day in sync_days:
            bank.advance_to(day)
            for cred in creds.all():
                sync_item(api, lake.store, cred, creds.token(cred), day, count=page_size)
        synced = time.perf_counter() - t0
        pairs: list[tuple[tuple[str, str], tuple[str, str]]] = []
        for cred in creds.all():
            cursor = load_cursor(lake.store, cred.item_id)[0]
            pairs += [((r["account_id"], r["transaction_id"]), (r["account_id"], r["reissue_of"]))
                      for r in bank.truth_reissues(creds.token(cred), cursor)]
        t1 = time.perf_counter()
        for day in (reversed(sync_days) if reverse else sync_days):
            merge_partition(spark, lake, day)
        merged = time.perf_counter() - t1
        rec = reconcile(lake, creds, running.url)
    rows = lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()
    scores = score(rows, pairs)
    return {**scores, "seed": seed, "users": users, "sync_days": days, "rate": rate,
            "count": count, "merge_order": "newest first" if reverse else "in order",
            "flagged_ids": sorted(r["partner_txn_id"] for r in rows
                                  if r["status"] == "duplicate"),
            "superseded_by": sorted((r["partner_txn_id"], r["superseded_by"]) for r in rows
                                    if r["superseded_by"]),
            "silver_rows": len(rows), "reconcile": json.loads(rec.to_json()),
            "sync_seconds": round(synced, 1), "merge_seconds": round(merged, 1)}


def score(rows: list[dict], pairs: list[tuple[tuple[str, str], tuple[str, str]]]) -> dict:
    """Precision and recall of silver's ``duplicate`` flags against the truth's pairs."""
    status = {(r["account_id"], r["partner_txn_id"]): r["status"] for r in rows}
    flagged = {k for k, s in status.items() if s == "duplicate"}
    in_pairs = {k for pair in pairs for k in pair}
    found = sum(1 for a, b in pairs if (a in flagged) != (b in flagged))
    missed = sum(1 for a, b in pairs if a not in flagged and b not in flagged)
    false = len(flagged - in_pairs) + sum(1 for a, b in pairs if a in flagged and b in flagged)
    groups = Counter(_content(r) for r in rows if r["status"] in ("live", "duplicate")
                     and not r["pending"] and (r["account_id"], r["partner_txn_id"])
                     not in in_pairs)
    return {"reissue_pairs": len(pairs), "flagged": len(flagged), "true_positives": found,
            "false_positives": false, "missed": missed,
            "precision": round(found / (found + false), 4) if found + false else 1.0,
            "recall": round(found / len(pairs), 4) if pairs else 1.0,
            "identical_purchases_not_reissued": sum(n for n in groups.values() if n > 1)}


def _content(r: dict) -> tuple:
    import re

    desc = re.sub(r"[^a-z0-9]+", " ", (r["description"] or "").lower()).strip()
    return (r["user_id"], r["account_id"], str(r["amount"]), str(r["posted_date"]), desc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--users", type=int, default=6)
    p.add_argument("--days", type=int, default=6)
    p.add_argument("--rate", type=float, default=0.5)
    p.add_argument("--count", type=int, default=2)
    p.add_argument("--reverse", action="store_true",
                   help="merge the days newest first (copies before their originals)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="finlake-dups-") as tmp:
        out = measure(Path(tmp), seed=args.seed, users=args.users, days=args.days,
                      rate=args.rate, count=args.count, reverse=args.reverse)
    out.pop("superseded_by"), out.pop("flagged_ids")
    print(json.dumps(out, indent=2))
    return 0 if out["reconcile"]["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
