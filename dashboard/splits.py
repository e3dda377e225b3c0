"""Splitting a transaction from the dashboard: the person's split of one of their
transactions (read through the scoped DuckDB), and saving or removing it.

Like dashboard/annotate.py: the signed-in :class:`~dashboard.auth.Principal` only, on their
own transactions (anybody else's is refused as if it did not exist), everything checked
before anything is written (pipelines/corrections/split_parts.py), a refusal raised as
:class:`~dashboard.actions.ActionError` with what to do, and the change recorded in the
audit log with counts only (pipelines/corrections/splits.py writes it).

The form takes amounts in the transaction's own direction, as people think of them: a $50.00
purchase is split as 30 + 20 (a refund inside it is a negative part), and so is $50.00 of
money in. The lake keeps the partner's sign (positive is money out); :func:`save` turns a
money-in transaction's parts round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from dashboard.actions import SOURCE, ActionError
from dashboard.auth import DASHBOARD, Principal
from dashboard.data import queries
from lake.tables import TRANSACTION_SPLITS
from pipelines.corrections import splits
from pipelines.corrections.split_parts import SplitError, parse_amount

if TYPE_CHECKING:
    from lake.lake import Lake


@dataclass(frozen=True)
class Shown:
    """A transaction's split as the form shows it: parts (code, amount in the transaction's
    direction) and whether it still counts (``stale``: the bank changed the amount since)."""

    parts: list[tuple[str, Decimal]]
    stale: bool


def _direction(amount: Decimal) -> int:
    """1 for money out (and zero), -1 for money in: the partner's sign of the transaction."""
    return -1 if amount < 0 else 1


def current(lake: Lake, who: Principal, txn_id: str) -> Shown | None:
    """The person's split of their transaction ``txn_id`` (None: none, or not theirs)."""
    df = queries.frame(
        lake, who,
        "SELECT s.part, s.category, s.amount, s.txn_amount, t.amount AS amount_now, t.status "
        "FROM transaction_splits s LEFT JOIN transactions t ON t.txn_id = s.txn_id "
        "AND t.user_id = $user WHERE s.user_id = $user AND s.txn_id = $txn_id ORDER BY s.part",
        {"txn_id": str(txn_id)})
    if df.empty:
        return None
    now, made_for = df["amount_now"].iloc[0], Decimal(str(df["txn_amount"].iloc[0]))
    amounts = [Decimal(str(a)) for a in df["amount"]]
    stale = (df["status"].iloc[0] != "live" or now is None or Decimal(str(now)) != made_for
             or sum(amounts) != made_for)
    sign = _direction(made_for)
    return Shown([(str(c), a * sign) for c, a in zip(df["category"], amounts, strict=True)],
                 bool(stale))


def _own(lake: Lake, who: Principal, txn_id: str) -> str:
    """The person's id, when ``txn_id`` is theirs (else the refusal)."""
    user = queries.scope_of(who)
    found = queries.frame(lake, who, "SELECT 1 FROM transactions WHERE user_id = $user "
                                     "AND txn_id = $txn_id", {"txn_id": str(txn_id)})
    if found.empty:
        raise ActionError("That transaction is not one of yours (or no longer exists).")
    return user


def save(lake: Lake, who: Principal, txn_id: str, parts: Sequence[tuple[str | None, str]]
         ) -> splits.Split:
    """Split the person's transaction ``txn_id`` into ``parts`` ((category code, amount as
    typed in the transaction's direction); rows with neither are skipped). Nothing is
    written unless every part is right and they add up to the transaction's amount."""
    user = _own(lake, who, txn_id)
    given = [(c, a) for c, a in parts if c or str(a or "").strip()]
    try:
        if any(not c for c, _ in given):
            raise SplitError("A part has an amount but no category: pick one, or clear its "
                             "amount.")
        row = splits.resolve(lake, user, str(txn_id))
        sign = _direction(Decimal(row["amount"]))
        signed = [(c, parse_amount(a) * sign) for c, a in given]
        saved = splits.set_split(lake, user, str(row["txn_id"]), signed, actor=DASHBOARD,
                                 source=SOURCE)
    except SplitError as error:
        raise ActionError(str(error)) from None
    queries.changed(lake, TRANSACTION_SPLITS)
    return saved


def clear(lake: Lake, who: Principal, txn_id: str) -> bool:
    """Take the split of the person's transaction ``txn_id`` away; whether it had one."""
    user = _own(lake, who, txn_id)
    cleared = splits.clear_split(lake, user, str(txn_id), actor=DASHBOARD)
    if cleared:
        queries.changed(lake, TRANSACTION_SPLITS)
    return cleared
