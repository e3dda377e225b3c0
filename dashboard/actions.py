"""What people change from the dashboard: a transaction's category (one, several at once, or
confirmed as shown), a merchant rule, budgets, the alerts they dismissed.

Writes go to small Delta tables with delta-rs (no Spark in the dashboard process) and are
checked first; a rejected change raises :class:`ActionError` with a message for the person.
The nightly run (or ``finlake nightly --replay``) applies category changes to silver and gold;
the transaction list shows them at once. A budget counts on the budgets page at once.

Every change takes the signed-in :class:`~dashboard.auth.Principal` and touches only that
person's rows; it is recorded in the audit log (category codes and budget amounts only).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from dashboard.auth import DASHBOARD, Principal
from dashboard.data import money, queries, taxonomy, txns
from lake.audit_log import AuditLog, audit
from lake.delta import sql_literal
from lake.small_tables import upsert_rows
from lake.tables import ALERT_DISMISSALS, BUDGETS, CATEGORY_OVERRIDES, TRANSACTION_OVERRIDES
from pipelines.categories.reference import categories

if TYPE_CHECKING:
    from lake.lake import Lake

SOURCE = "dashboard"


class ActionError(ValueError):
    """A change the dashboard refused, with what to do instead."""


def _check_category(lake: Lake, who: Principal, *codes: str) -> None:
    known = dict(taxonomy.category_choices(lake, who))
    for code in codes:
        if code not in known:
            raise ActionError(f"Unknown category {code!r}: pick one from the list.")


def recategorise(lake: Lake, who: Principal, txn_id: str, category: str) -> None:
    """Set one of the person's transactions to ``category`` (never changed automatically).
    A transaction of anybody else is refused as if it did not exist."""
    recategorise_many(lake, who, {txn_id: category})


def recategorise_many(lake: Lake, who: Principal, changes: Mapping[str, str]) -> int:
    """Set several of the person's transactions at once (transaction id -> category); how
    many. All are checked first: one that is anybody else's, or an unknown category, refuses
    the whole change and nothing is written."""
    return _set_categories(lake, who, {str(t): c for t, c in changes.items()})


def confirm_categories(lake: Lake, who: Principal, txn_ids: Iterable[str]) -> int:
    """The person says the category shown for each of ``txn_ids`` is right: it is kept as
    their own (a per-transaction category equal to it, which the nightly copies to silver's
    ``user_category``), so it leaves the review queue and is never changed automatically.
    How many. A transaction without a category has nothing to confirm: refused, like one of
    anybody else's, and nothing is written."""
    ids = list(dict.fromkeys(str(t) for t in txn_ids))
    found = txns.transactions_by_id(lake, who, ids)
    shown = dict(zip(found["txn_id"], found["category"], strict=True))
    _check_found(ids, shown)
    known = dict(taxonomy.category_choices(lake, who))
    if any(shown[t] not in known for t in ids):
        raise ActionError("A transaction without a category has nothing to confirm: "
                              "choose its category instead. Nothing was changed.")
    return _set_categories(lake, who, {t: shown[t] for t in ids}, confirmed=True)


def _check_found(txn_ids: Collection[str], found: Mapping[str, object]) -> None:
    """Refuse the change unless every one of ``txn_ids`` was ``found`` among the person's."""
    if all(t in found for t in txn_ids):
        return
    if len(txn_ids) == 1:
        raise ActionError("That transaction is not one of yours (or no longer exists).")
    raise ActionError("One of those transactions is not one of yours (or no longer exists): "
                      "nothing was changed.")


def _set_categories(lake: Lake, who: Principal, changes: dict[str, str],
                    confirmed: bool = False) -> int:
    """Write ``changes`` (transaction id -> category) as the person's own, checked first, in
    one commit; one audit row per transaction (its category; ``confirmed`` when the person
    kept the category shown), in one commit."""
    user = queries.scope_of(who)
    if not changes:
        return 0
    found = txns.transactions_by_id(lake, who, list(changes))
    months = dict(zip(found["txn_id"], found["posted_month"], strict=True))
    _check_found(changes, months)
    _check_category(lake, who, *sorted(set(changes.values())))
    now = datetime.now(UTC)
    upsert_rows(lake, TRANSACTION_OVERRIDES, [
        {"user_id": user, "txn_id": txn_id, "category": category, "source": SOURCE,
         "created_at": now, "posted_month": months[txn_id]}
        for txn_id, category in changes.items()])
    queries.changed(lake, TRANSACTION_OVERRIDES)
    log = AuditLog(lake)
    for category in changes.values():
        log.record(DASHBOARD, "override_transaction", user,
                   {"category": category, **({"confirmed": True} if confirmed else {})})
    log.flush()
    return len(changes)


def categorise_merchant(lake: Lake, who: Principal, merchant_key: str, category: str) -> None:
    """Always categorise the person's transactions at ``merchant_key`` as ``category``."""
    user = queries.scope_of(who)
    if not merchant_key:
        raise ActionError("This transaction has no recognised merchant; set its category "
                          "on its own instead.")
    if not txns.has_merchant(lake, who, merchant_key):
        raise ActionError("None of your transactions is at that merchant.")
    _check_category(lake, who, category)
    upsert_rows(lake, CATEGORY_OVERRIDES, [{
        "user_id": user, "merchant_key": merchant_key, "category": category,
        "source": SOURCE, "created_at": datetime.now(UTC)}])
    queries.changed(lake, CATEGORY_OVERRIDES)
    audit(lake, DASHBOARD, "override_merchant", user_id=user, category=category)


def primaries() -> dict[str, str]:
    """Primary category code -> display name, for budgets."""
    return {c["category_primary"]: c["primary_display_name"] for c in categories()}


def parse_amount(text: str | float) -> Decimal:
    try:
        value = Decimal(str(text).replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value <= 0 or value >= Decimal("1e12"):
        raise ActionError(f"{text!r} is not a positive amount, e.g. 400 or 250.50.")
    return value.quantize(Decimal("0.01"))


def set_budget(lake: Lake, who: Principal, category_primary: str,
               amount: str | float) -> Decimal:
    """The person's monthly budget for a primary category (overrides the recommendation)."""
    user = queries.scope_of(who)
    if category_primary not in primaries():
        raise ActionError(f"{category_primary!r} is not a budget category.")
    value = parse_amount(amount)
    upsert_rows(lake, BUDGETS, [{"user_id": user, "category_primary": category_primary,
                                 "amount": value, "set_by": SOURCE,
                                 "set_at": datetime.now(UTC)}])
    queries.changed(lake, BUDGETS)
    audit(lake, DASHBOARD, "set_budget", user_id=user, category=category_primary,
          amount=str(value))
    return value


def clear_budget(lake: Lake, who: Principal, category_primary: str) -> None:
    """Drop the person's own budget (the recommendation applies again from the next run)."""
    user = queries.scope_of(who)
    if category_primary not in primaries():
        raise ActionError(f"{category_primary!r} is not a budget category.")
    dt = lake.delta(BUDGETS)
    if dt is not None:
        dt.delete(f"user_id = {sql_literal(user)} AND "
                  f"category_primary = {sql_literal(category_primary)}")
    queries.changed(lake, BUDGETS)
    audit(lake, DASHBOARD, "clear_budget", user_id=user, category=category_primary)


def dismiss_alert(lake: Lake, who: Principal, alert_key: str) -> None:
    """Hide one of the person's alerts from their Overview for good (a nightly raising the
    same alert again finds its key and adds nothing). Anybody else's alert is refused as if it
    did not exist."""
    user = queries.scope_of(who)
    kind = money.alert_kind(lake, who, alert_key)
    if kind is None:
        raise ActionError("That alert is not one of yours (or no longer exists).")
    upsert_rows(lake, ALERT_DISMISSALS, [{"user_id": user, "alert_key": str(alert_key),
                                          "dismissed_at": datetime.now(UTC)}], update=False)
    queries.changed(lake, ALERT_DISMISSALS)
    audit(lake, DASHBOARD, "dismiss_alert", user_id=user, kind=kind)
