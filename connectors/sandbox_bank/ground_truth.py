"""Compare the lake's silver transactions with the sandbox partner's ground truth (its
``/sandbox/truth`` endpoint)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from decimal import Decimal

from connectors.credentials import CredentialStore
from core.redaction import redact
from lake.lake import Lake
from lake.raw import load_cursor
from lake.tables import TRANSACTIONS


@dataclass
class Reconciliation:
    items: int = 0
    truth_rows: int = 0
    silver_live_rows: int = 0
    lost: int = 0
    duplicated: int = 0
    phantom: int = 0
    mismatched: int = 0

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.phantom or self.mismatched)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "exact": self.exact})


def partner_truth(bank_url: str, token: str, cursor: str | None) -> list[dict]:
    from connectors.linking import sandbox_call

    return sandbox_call(bank_url, "/sandbox/truth",
                        {"access_token": token, "cursor": cursor})["transactions"]


def _text(description: str | None) -> str | None:
    """A description as the lake keeps it: raw pages land with numbers masked."""
    return description and redact(description, registered=False)


def _fingerprint(amount: object, day: object, pending: object) -> tuple[str, str, bool]:
    return (f"{Decimal(str(amount)):.2f}", str(day)[:10], bool(pending))


def reconcile(lake: Lake, creds: CredentialStore, bank_url: str,
              items: set[str] | None = None) -> Reconciliation:
    """Lost, duplicated, phantom and mismatched transactions per item, as of its cursor.

    ``duplicated`` counts keys present more than once plus pending rows still live while a
    live posted row links to them (the same purchase counted twice).
    """
    out = Reconciliation()
    dt = lake.delta(TRANSACTIONS)
    silver = dt.to_pyarrow_table().to_pylist() if dt is not None else []
    by_item: dict[str, list[dict]] = {}
    for row in silver:
        by_item.setdefault(row["item_id"], []).append(row)
    for cred in creds.all():
        if items is not None and cred.item_id not in items:
            continue
        out.items += 1
        cursor, _ = load_cursor(lake.store, cred.item_id)
        truth = {(t["account_id"], t["transaction_id"]): t
                 for t in partner_truth(bank_url, creds.token(cred), cursor)}
        rows = by_item.get(cred.item_id, [])
        live = [r for r in rows if r["status"] == "live"]
        # A pending row we superseded (a posting replaced it) is accounted for even while
        # the partner still lists it; it is not live, so it never counts twice.
        superseded = {(r["account_id"], r["partner_txn_id"]) for r in rows
                      if r["status"] == "superseded"}
        counts = Counter((r["account_id"], r["partner_txn_id"]) for r in live)
        out.truth_rows += len(truth)
        out.silver_live_rows += len(live)
        out.duplicated += sum(n - 1 for n in counts.values() if n > 1)
        linked = {(r["account_id"], r["pending_partner_txn_id"]) for r in live
                  if not r["pending"] and r["pending_partner_txn_id"]}
        out.duplicated += sum(1 for r in live if r["pending"]
                              and (r["account_id"], r["partner_txn_id"]) in linked)
        out.lost += sum(1 for k in truth if k not in counts and k not in superseded)
        out.phantom += sum(1 for k in counts if k not in truth)
        for r in live:
            t = truth.get((r["account_id"], r["partner_txn_id"]))
            if t is not None and (
                _fingerprint(r["amount"], r["posted_date"], r["pending"])
                != _fingerprint(t["amount"], t["date"], t["pending"])
                or _text(r["description"]) != _text(t["name"])
            ):
                out.mismatched += 1
    return out
