"""Split a person's transaction between categories, or take the split away (delta-rs, no Spark).

The CLI (finlake/commands/split.py, under the writer lease) and the dashboard
(dashboard/views/splits.py) call these. A split is checked first (the rules are in
pipelines/corrections/split_parts.py), written in one Delta commit to ``transaction_splits``,
and recorded in the audit log with counts only: never a category, an amount or an id.

Only a live, posted transaction of the person's can be split. A pending one is refused (its
amount often changes when it posts: a tip, a currency conversion; split it once it has
posted); a pending one that has already posted sends the split to the posted transaction, as
tags do. Removed transactions and copies the bank sent again are refused.

Gold counts the parts (pipelines/gold/spend.py, ``with_parts``) while the transaction still
has the amount the split was made for; once the partner changes the amount or removes the
transaction the split is *stale*: gold counts the transaction as a whole in its own category
and the dashboard's review queue lists it until the person splits it again or clears it.
Each night :func:`log_split_cells` tells gold which (person, month) cells splits changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lake.arrow import arrow_schema
from lake.audit_log import audit
from lake.delta import sql_literal
from lake.objectstore import ObjectNotFound
from lake.small_tables import append_rows, read_rows
from lake.tables import CUSTOM_CATEGORIES, TRANSACTION_SPLITS, TRANSACTIONS
from pipelines.corrections.split_parts import SplitError, check_parts

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lake.lake import Lake

ACTION = "split_transaction"
STATE_KEY = "state/transaction_splits.json"  # the table version gold last heard of
# Why a split no longer counts (``Split.stale``).
AMOUNT_CHANGED, REMOVED = "amount_changed", "removed"


@dataclass
class Split:
    """A transaction's split: its parts in order, the amount they were made for, the
    transaction's amount now, and why the split no longer counts (None: it does)."""

    txn_id: str
    parts: list[tuple[str, Decimal]]
    txn_amount: Decimal
    amount_now: Decimal | None
    stale: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"txn_id": self.txn_id, "split_for": str(self.txn_amount),
                "amount_now": None if self.amount_now is None else str(self.amount_now),
                "stale": self.stale,
                "parts": [{"category": c, "amount": str(a)} for c, a in self.parts]}


def _txn(lake: Lake, user_id: str, txn_id: str) -> dict | None:
    import pyarrow.dataset as ds

    rows = read_rows(lake, TRANSACTIONS, (ds.field("user_id") == user_id)
                     & (ds.field("txn_id") == txn_id))
    return rows[0] if rows else None


def resolve(lake: Lake, user_id: str, txn_id: str) -> dict:
    """The silver row of the person's transaction a split of ``txn_id`` is for: that
    transaction, or the posted one a pending one has become. Raises :class:`SplitError` when
    ``user_id`` has no such transaction (anybody else's is refused the same way), or it is
    pending, removed or a copy the bank sent again."""
    import pyarrow.dataset as ds

    row = _txn(lake, user_id, txn_id)
    if row is None:
        raise SplitError(f"No transaction {txn_id!r} of user {user_id!r}: check the id "
                         "(finlake sql \"SELECT txn_id, description FROM transactions\").")
    if row["status"] == "superseded" and row["superseded_by"]:
        posted = read_rows(lake, TRANSACTIONS, (ds.field("account_id") == row["account_id"])
                           & (ds.field("partner_txn_id") == row["superseded_by"]))
        if posted and posted[0]["user_id"] == user_id:
            row = posted[0]
    if row["status"] == "removed" or row["status"] == "superseded":
        raise SplitError(f"Transaction {txn_id!r} was removed by the bank: there is nothing "
                         "to split. Nothing was changed.")
    if row["status"] != "live":
        raise SplitError(f"Transaction {txn_id!r} is a copy your bank sent again and counts "
                         "nowhere: split the original instead. Nothing was changed.")
    if row["pending"]:
        raise SplitError(f"Transaction {txn_id!r} is still pending and its amount may change "
                         "when it posts: split it once it has posted. Nothing was changed.")
    return row


def known_categories(lake: Lake, user_id: str) -> set[str]:
    """The categories a part may have: the taxonomy's detailed codes and the person's own."""
    import pyarrow.dataset as ds

    from pipelines.categories.reference import categories

    codes = {c["category"] for c in categories()}
    codes |= {r["category"] for r in read_rows(lake, CUSTOM_CATEGORIES,
                                               ds.field("user_id") == user_id)}
    return codes


def _parts_of(lake: Lake, user_id: str, txn_id: str) -> list[dict]:
    import pyarrow.dataset as ds

    rows = read_rows(lake, TRANSACTION_SPLITS, (ds.field("user_id") == user_id)
                     & (ds.field("txn_id") == txn_id))
    return sorted(rows, key=lambda r: r["part"])


def split_of(lake: Lake, user_id: str, txn_id: str) -> Split | None:
    """The person's split of ``txn_id`` (None: not split), and whether it still counts."""
    rows = _parts_of(lake, user_id, txn_id)
    if not rows:
        return None
    txn = _txn(lake, user_id, txn_id)
    parts = [(r["category"], Decimal(r["amount"])) for r in rows]
    made_for = Decimal(rows[0]["txn_amount"])
    now = None if txn is None else Decimal(txn["amount"])
    if txn is None or txn["status"] != "live":
        stale: str | None = REMOVED
    elif now != made_for or sum(a for _, a in parts) != now:
        stale = AMOUNT_CHANGED
    else:
        stale = None
    return Split(txn_id, parts, made_for, now, stale)


def set_split(lake: Lake, user_id: str, txn_id: str, parts: Sequence[tuple[object, object]],
              *, actor: str, source: str) -> Split:
    """Split the person's transaction ``txn_id`` into ``parts`` ((category, amount), in order),
    replacing any split it had, in one commit. Everything is checked first (the transaction
    is theirs, live and posted; :func:`~pipelines.corrections.split_parts.check_parts`): a
    refusal raises :class:`SplitError` and writes nothing. Returns the split stored."""
    row = resolve(lake, user_id, txn_id)
    target, amount = str(row["txn_id"]), Decimal(row["amount"])
    checked = check_parts(parts, amount, known_categories(lake, user_id))
    before = split_of(lake, user_id, target)
    if before is not None and before.parts == checked and before.stale is None:
        return before  # the same split again: nothing to write
    now = datetime.now(UTC)
    rows = [{"user_id": user_id, "txn_id": target, "part": i, "category": c, "amount": a,
             "txn_amount": amount, "posted_month": row["posted_month"], "source": source,
             "created_at": now} for i, (c, a) in enumerate(checked, start=1)]
    dt = lake.delta(TRANSACTION_SPLITS)
    if dt is None:
        append_rows(lake, TRANSACTION_SPLITS, rows)
    else:
        this = f"t.user_id = {sql_literal(user_id)} AND t.txn_id = {sql_literal(target)}"
        (dt.merge(pa.Table.from_pylist(rows, schema=arrow_schema(TRANSACTION_SPLITS)),
                  predicate="t.user_id = s.user_id AND t.txn_id = s.txn_id AND t.part = s.part",
                  source_alias="s", target_alias="t")
         .when_matched_update_all()
         .when_not_matched_insert_all()
         .when_not_matched_by_source_delete(predicate=this)
         .execute())
    audit(lake, actor, ACTION, user_id, split="set", parts=len(checked),
          replaced=before is not None)
    return Split(target, checked, amount, amount, None)


def clear_split(lake: Lake, user_id: str, txn_id: str, *, actor: str) -> bool:
    """Take the split of the person's transaction ``txn_id`` away (it counts as a whole in its
    own category again); whether it had one. A stale split (the transaction changed or was
    removed) can be cleared too."""
    if not _parts_of(lake, user_id, txn_id):
        return False
    dt = lake.delta(TRANSACTION_SPLITS)
    if dt is not None:
        dt.delete(f"user_id = {sql_literal(user_id)} AND txn_id = {sql_literal(txn_id)}")
    audit(lake, actor, ACTION, user_id, split="cleared")
    return True


# --- telling gold ------------------------------------------------------------------------------

_COMPARED = ("user_id", "txn_id", "part", "category", "amount", "txn_amount")


def _rows_at(lake: Lake, version: int | None) -> list[dict] | None:
    """The table's rows at ``version`` ([] for none; None when that version is unreadable,
    e.g. vacuumed)."""
    from deltalake import DeltaTable

    if version is None or version < 0:
        return []
    try:
        dt = DeltaTable(lake.uri(TRANSACTION_SPLITS), version=version,
                        storage_options=lake.storage_options() or None)
        return dt.to_pyarrow_table().to_pylist()
    except Exception:  # the version's log or files are gone
        return None


def _load_state(lake: Lake) -> dict[str, Any]:
    try:
        return json.loads(lake.store.get(STATE_KEY))
    except ObjectNotFound:
        return {}


def log_split_cells(spark: SparkSession, lake: Lake, sync_date: date | None) -> list[str]:
    """Log, for ``sync_date``'s gold, the (person, month) cells of every split added, changed
    or cleared since the last call (the table's version is remembered in ``STATE_KEY``);
    the months. Nothing is read with Spark unless the table has a new version. The cell is
    the month the split was made in and, if the partner has since moved the transaction,
    the month it is in now (looked for in the months around it)."""
    from pyspark.sql import functions as F

    from lake import delta
    from pipelines.silver.changes import log_changes
    from pipelines.silver.merge import neighbour_months

    dt = lake.delta(TRANSACTION_SPLITS)
    state = _load_state(lake)
    if dt is None or sync_date is None or state.get("version") == dt.version():
        return []
    now = dt.to_pyarrow_table().to_pylist()
    before = _rows_at(lake, state.get("version"))
    key = [tuple(r[c] for c in _COMPARED) for r in now]
    if before is None:  # the version gold last heard of is gone: every split counts as new
        changed = now
    else:
        old = {tuple(r[c] for c in _COMPARED) for r in before}
        kept = set(key)
        changed = [r for r, k in zip(now, key, strict=True) if k not in old]
        changed += [r for r in before if tuple(r[c] for c in _COMPARED) not in kept]
    cells = {(r["user_id"], r["posted_month"]) for r in changed if r["posted_month"]}
    if changed:
        ids = spark.createDataFrame(sorted({(r["user_id"], r["txn_id"]) for r in changed}),
                                    "user_id string, txn_id string")
        around = neighbour_months(sorted({m for _, m in cells}))
        silver = delta.read_table(spark, lake, TRANSACTIONS)
        if around:
            silver = silver.filter(F.col("posted_month").isin(around))
        cells |= {(r["user_id"], r["posted_month"]) for r in silver.join(
            F.broadcast(ids), ["user_id", "txn_id"], "left_semi").select(
            "user_id", "posted_month").distinct().collect()}
    if cells:
        log_changes(spark, lake, sync_date, spark.createDataFrame(
            sorted(cells), "user_id string, month string"))
    lake.store.put(STATE_KEY, json.dumps({"version": dt.version()}).encode())
    return sorted({m for _, m in cells})


__all__ = ["ACTION", "AMOUNT_CHANGED", "REMOVED", "Split", "SplitError", "clear_split",
           "known_categories", "log_split_cells", "resolve", "set_split", "split_of"]
