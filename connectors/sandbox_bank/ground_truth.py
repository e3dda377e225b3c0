"""Compare the lake's silver transactions with the sandbox partner's ground truth (its
``/sandbox/truth`` endpoint).

The partner's live records are silver's ``live`` rows and its ``duplicate`` rows (a copy the
partner re-issued under a new id, flagged and counted once: pipelines/silver/reissued.py).
The truth also says which ids re-issue which (the ``reissued_ids`` fault): a pair whose rows
are both counted is one purchase counted twice (``duplicated``), and a flagged row that is no
re-issue is a purchase left out of every total (``merged``).
"""

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
    reissued: int = 0  # re-issued ids in the truth (each a copy of another live id)
    flagged: int = 0  # silver rows flagged as probable duplicates
    merged: int = 0  # flagged rows that are no re-issue: a real purchase counted nowhere

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.phantom or self.mismatched
                    or self.merged)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "exact": self.exact})


def partner_truth(bank_url: str, token: str, cursor: str | None) -> list[dict]:
    return partner_truth_and_reissues(bank_url, token, cursor)[0]


def partner_truth_and_reissues(bank_url: str, token: str, cursor: str | None
                               ) -> tuple[list[dict], list[dict]]:
    """The partner's live transactions as of ``cursor`` and which of their ids re-issue
    which (``transaction_id``, ``account_id``, ``reissue_of``)."""
    from connectors.linking import sandbox_call

    got = sandbox_call(bank_url, "/sandbox/truth", {"access_token": token, "cursor": cursor})
    return got["transactions"], got.get("reissues") or []


def _text(description: str | None) -> str | None:
    """A description as the lake keeps it: raw pages land with numbers masked."""
    return description and redact(description, registered=False)


def _fingerprint(amount: object, day: object, pending: object) -> tuple[str, str, bool]:
    return (f"{Decimal(str(amount)):.2f}", str(day)[:10], bool(pending))


def reconcile(lake: Lake, creds: CredentialStore, bank_url: str,
              items: set[str] | None = None) -> Reconciliation:
    """Lost, duplicated, phantom and mismatched transactions per item, as of its cursor.

    ``duplicated`` counts keys present more than once plus pending rows still live while a
    live posted row links to them, plus re-issue pairs of the truth whose rows both count
    (each the same purchase counted twice). ``merged`` counts flagged rows the truth does not
    know as re-issues.
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
        listed, reissues = partner_truth_and_reissues(bank_url, creds.token(cred), cursor)
        truth = {(t["account_id"], t["transaction_id"]): t for t in listed}
        rows = by_item.get(cred.item_id, [])
        live = [r for r in rows if r["status"] in ("live", "duplicate")]
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
        status = {(r["account_id"], r["partner_txn_id"]): r["status"] for r in live}
        pairs = [((p["account_id"], p["transaction_id"]), (p["account_id"], p["reissue_of"]))
                 for p in reissues]
        out.reissued += len(pairs)
        out.flagged += sum(1 for v in status.values() if v == "duplicate")
        out.duplicated += sum(1 for copy, first in pairs
                              if status.get(copy) == "live" and status.get(first) == "live")
        in_pairs = {k for pair in pairs for k in pair}
        out.merged += sum(1 for k, v in status.items() if v == "duplicate" and k not in in_pairs)
        for r in live:
            t = truth.get((r["account_id"], r["partner_txn_id"]))
            if t is not None and (
                _fingerprint(r["amount"], r["posted_date"], r["pending"])
                != _fingerprint(t["amount"], t["date"], t["pending"])
                or _text(r["description"]) != _text(t["name"])
            ):
                out.mismatched += 1
    return out
