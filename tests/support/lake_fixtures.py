"""Tiny Delta lakes for tests that read the lake without Spark (DuckDB, dashboard)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from lake.arrow import arrow_schema
from lake.lake import Lake
from lake.tables import (
    ACCOUNTS,
    ALERTS,
    BALANCES_DAILY,
    BUDGET_PROGRESS,
    BUDGETS,
    CATEGORIES,
    CREDENTIALS,
    INSTITUTION_HEALTH,
    INSTITUTIONS,
    LOGINS,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    NET_WORTH_DAILY,
    RECURRING_PAYMENTS,
    SPEND_TRENDS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
    Table,
)
from pipelines.categories.reference import categories
from pipelines.gold.flows import NO_CATEGORY_PRIMARY, NOT_SPEND_PRIMARY, TRANSFER_DETAILED

REFRESHED_AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def write_table(lake: Lake, table: Table, rows: list[dict[str, Any]]) -> None:
    """Overwrite ``table`` in ``lake`` with ``rows`` (missing columns are null)."""
    write_deltalake(
        lake.uri(table),
        pa.Table.from_pylist(rows, schema=arrow_schema(table)),
        mode="overwrite",
        partition_by=list(table.partition_by) or None,
        storage_options=lake.storage_options() or None,
    )


def txn(user: str, n: int, day: date, amount: str, description: str, category: str | None,
        **extra: Any) -> dict[str, Any]:
    """A silver transaction row with sensible defaults; ``extra`` overrides any column."""
    row: dict[str, Any] = {
        "txn_id": f"{user}-t{n}",
        "user_id": user,
        "item_id": f"{user}-item",
        "account_id": f"{user}-checking",
        "partner_txn_id": f"p-{user}-{n}",
        "pending": False,
        "amount": Decimal(amount),
        "currency": "USD",
        "posted_date": day,
        "authorized_date": day,
        "description": description,
        "merchant": description.title(),
        "merchant_key": description.lower(),
        "payment_channel": "online",
        "category": category,
        "category_source": "rule",
        "status": "live",
        "source_seq": f"{n:08d}",
        "sync_date": day,
        "updated_at": REFRESHED_AT,
        "posted_month": day.strftime("%Y-%m"),
    }
    row.update(extra)
    return row


ALICE, BOB = "alice", "bob"
# Dashboard logins of the small lake: login -> (user id or None for the analyst, password).
ANALYST = "ana"
LOGIN_PASSWORDS = {ALICE: "alice-correct-horse", BOB: "bob-battery-staple",
                   ANALYST: "ana-aggregates-only"}


def transactions() -> list[dict[str, Any]]:
    return [
        txn(ALICE, 1, date(2024, 1, 5), "82.40", "WHOLE FOODS", "FOOD_AND_DRINK_GROCERIES"),
        txn(ALICE, 2, date(2024, 1, 15), "-2500.00", "ACME PAYROLL", "INCOME_SALARY"),
        txn(ALICE, 3, date(2024, 2, 3), "4.75", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE",
            user_category="FOOD_AND_DRINK_RESTAURANT"),
        txn(ALICE, 4, date(2024, 2, 10), "1234.56", "AMAZON",
            "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
        txn(ALICE, 5, date(2024, 2, 11), "99.99", "DUPLICATE CHARGE",
            "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE", status="removed",
            removed_at=REFRESHED_AT),
        txn(ALICE, 6, date(2024, 2, 20), "18.20", "UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES",
            pending=True),
        txn(BOB, 1, date(2024, 1, 7), "1500.00", "LANDLORD", "RENT_AND_UTILITIES_RENT"),
        txn(BOB, 2, date(2024, 2, 7), "1500.00", "LANDLORD", "RENT_AND_UTILITIES_RENT"),
        txn(BOB, 3, date(2024, 2, 12), "15.49", "NETFLIX", "ENTERTAINMENT_TV_AND_MOVIES"),
        txn(BOB, 4, date(2024, 2, 14), "300.00", "SAVINGS TRANSFER",
            "TRANSFER_OUT_SAVINGS"),
        txn(BOB, 5, date(2024, 2, 16), "-20.00", "NETFLIX REFUND", None),
    ]


def spend_rows(txns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``monthly_spend`` as pipelines/gold/spend.py defines it (live, posted, expenses only:
    the rule of pipelines/gold/flows.py)."""
    primary = {c["category"]: c["category_primary"] for c in categories()}
    cells: dict[tuple[str, str, str, str], list[Decimal]] = defaultdict(list)
    for r in txns:
        if r["status"] != "live" or r["pending"]:
            continue
        cat = r.get("user_category") or r["category"] or "UNCATEGORIZED"
        prim = primary.get(cat, "UNCATEGORIZED")
        money_in_uncategorised = prim in NO_CATEGORY_PRIMARY and r["amount"] < 0
        if prim in NOT_SPEND_PRIMARY or cat in TRANSFER_DETAILED or money_in_uncategorised:
            continue
        cells[(r["user_id"], r["posted_month"], prim, cat)].append(r["amount"])
    return [
        {"user_id": u, "month": m, "category_primary": p, "category": c,
         "amount": sum(v, Decimal("0.00")), "txn_count": len(v)}
        for (u, m, p, c), v in sorted(cells.items())
    ]


def accounts(now: datetime) -> list[dict[str, Any]]:
    """Alice: two fresh accounts at Platypus, one at Gingham whose sign-in expired.
    Bob: a checking account at Platypus not synced for 5 days, one at Tartan (down)."""
    def acct(user: str, aid: str, item: str, ins: str, name: str, mask: str, typ: str,
             balance: str, synced: datetime, **extra: Any) -> dict[str, Any]:
        return {"account_id": aid, "user_id": user, "item_id": item, "institution_id": ins,
                "name": name, "mask": mask, "type": typ, "subtype": None,
                "balance_current": Decimal(balance), "balance_available": Decimal(balance),
                "currency": "USD", "last_synced_at": synced, "needs_review": False, **extra}
    fresh, old = now - timedelta(hours=2), now - timedelta(days=5)
    return [
        acct(ALICE, "alice-checking", "alice-item", "ins_1", "Everyday Checking", "0001",
             "depository", "5230.10", fresh),
        acct(ALICE, "alice-card", "alice-item", "ins_1", "Platinum Card", "4242", "credit",
             "1250.00", fresh),
        acct(ALICE, "alice-savings", "alice-item2", "ins_2", "Rainy Day Savings", "7777",
             "depository", "12000.00", old),
        acct(BOB, "bob-checking", "bob-item", "ins_1", "Checking", "1234", "depository",
             "830.55", old),
        acct(BOB, "bob-loan", "bob-item2", "ins_3", "Car Loan", "9090", "loan", "8400.00",
             fresh - timedelta(hours=30)),
    ]


def ops_rows(now: datetime) -> dict[Table, list[dict[str, Any]]]:
    """Credentials, institutions and their health, consistent with :func:`accounts`."""
    def cred(user: str, item: str, ins: str, status: str) -> dict[str, Any]:
        return {"credentials_id": f"cred-{item}", "user_id": user, "institution_id": ins,
                "item_id": item, "encrypted_token": "sealed", "wrapped_key": "wrapped",
                "key_id": "local", "status": status, "failure_count": 0,
                "created_at": now - timedelta(days=400)}
    def health(ins: str, status: str) -> dict[str, Any]:
        return {"institution_id": ins, "sync_date": now.date(), "items": 10,
                "items_succeeded": 10 if status == "healthy" else 2, "items_empty": 0,
                "success_rate": 1.0 if status == "healthy" else 0.2, "status": status}
    return {
        CREDENTIALS: [cred(ALICE, "alice-item", "ins_1", "active"),
                      cred(ALICE, "alice-item2", "ins_2", "expired"),
                      cred(BOB, "bob-item", "ins_1", "active"),
                      cred(BOB, "bob-item2", "ins_3", "active")],
        INSTITUTIONS: [
            {"institution_id": "ins_1", "name": "First Platypus Bank", "partner": "plaid",
             "rate_limit_qps": 10, "refresh_every_days": 1, "sends_pending": True},
            {"institution_id": "ins_2", "name": "Gingham Credit Union", "partner": "plaid",
             "rate_limit_qps": 2, "refresh_every_days": 3, "sends_pending": False},
            {"institution_id": "ins_3", "name": "Tartan Bank", "partner": "plaid",
             "rate_limit_qps": 10, "refresh_every_days": 1, "sends_pending": True}],
        INSTITUTION_HEALTH: [health("ins_1", "healthy"), health("ins_2", "healthy"),
                             health("ins_3", "down")],
    }


def gold_rows(now: datetime) -> dict[Table, list[dict[str, Any]]]:
    """Wealth, budgets, cash flow, trends, alerts and recurring payments for alice and bob."""
    d = Decimal
    nw, balances = [], []
    for i in range(60):
        day = date(2024, 1, 1) + timedelta(days=i)
        assets = d("15000.00") + d(i * 20)
        nw.append({"user_id": ALICE, "date": day, "assets": assets,
                   "liabilities": d("1250.00"), "net_worth": assets - d("1250.00"),
                   "accounts": 3, "stale_accounts": 0, "month": day.strftime("%Y-%m")})
        # the same day per account: checking and savings hold the assets, the card is owed
        for aid, typ, balance in (("alice-checking", "depository", d("3000.00") + d(i * 20)),
                                  ("alice-savings", "depository", d("12000.00")),
                                  ("alice-card", "credit", d("1250.00"))):
            balances.append({"account_id": aid, "user_id": ALICE, "type": typ, "date": day,
                             "balance": balance, "observed": True,
                             "month": day.strftime("%Y-%m")})
    def progress(user: str, prim: str, budget: str | None, spent: str, source: str,
                 state: str) -> dict[str, Any]:
        b = d(budget) if budget else None
        return {"user_id": user, "month": "2024-02", "category_primary": prim,
                "budget": b, "budget_source": source, "spent": d(spent),
                "share": float(d(spent) / b) if b else None, "state": state,
                "as_of": date(2024, 2, 29)}
    def flow(user: str, month: str, income: str, expense: str, n: int) -> dict[str, Any]:
        return {"user_id": user, "month": month, "income": d(income), "expense": d(expense),
                "net": d(income) - d(expense), "transfers_in": d("0.00"),
                "transfers_out": d("0.00"), "txn_count": n}
    def trend(user: str, prim: str, amount: str, prev: str) -> dict[str, Any]:
        a, p = d(amount), d(prev)
        return {"user_id": user, "month": "2024-02", "category_primary": prim, "amount": a,
                "prev_month_amount": p, "mom_change": a - p,
                "mom_change_pct": float((a - p) / p) if p else None,
                # January and February: two months of history, whatever the window
                "avg_3m": ((a + p) / 2).quantize(d("0.01")),
                "avg_6m": ((a + p) / 2).quantize(d("0.01")),
                "avg_12m": ((a + p) / 2).quantize(d("0.01"))}
    return {
        NET_WORTH_DAILY: nw,
        BALANCES_DAILY: balances,
        BUDGETS: [{"user_id": ALICE, "category_primary": "GENERAL_MERCHANDISE",
                   "amount": d("1000.00"), "set_by": "cli", "set_at": REFRESHED_AT}],
        BUDGET_PROGRESS: [
            progress(ALICE, "FOOD_AND_DRINK", "100.00", "4.75", "history", "ok"),
            progress(ALICE, "GENERAL_MERCHANDISE", "1000.00", "1234.56", "manual", "exceeded"),
            progress(ALICE, "TRANSPORTATION", None, "0.00", "none", "no_budget"),
            progress(BOB, "RENT_AND_UTILITIES", "1600.00", "1500.00", "template",
                     "approaching")],
        MONTHLY_CASHFLOW: [flow(ALICE, "2024-01", "2500.00", "82.40", 2),
                           flow(ALICE, "2024-02", "0.00", "1239.31", 2),
                           flow(BOB, "2024-01", "0.00", "1500.00", 1),
                           flow(BOB, "2024-02", "20.00", "1515.49", 3)],
        SPEND_TRENDS: [trend(ALICE, "FOOD_AND_DRINK", "4.75", "82.40"),
                       trend(ALICE, "GENERAL_MERCHANDISE", "1234.56", "0.00"),
                       trend(BOB, "RENT_AND_UTILITIES", "1500.00", "1500.00")],
        ALERTS: [{"alert_key": "a1", "kind": "budget_exceeded", "user_id": ALICE,
                  "subject": "GENERAL_MERCHANDISE",
                  "detail": "Shopping: spent $1,234.56 of $1,000.00 (123%), over this "
                            "month's budget", "period": "2024-02",
                  "created_at": REFRESHED_AT, "sent_at": None, "sent_to": None}],
        UNUSUAL_ACTIVITY: [{"user_id": ALICE, "month": "2024-02", "kind": "merchant_outlier",
                            "subject": "alice-t4", "txn_id": "alice-t4",
                            "date": date(2024, 2, 10), "merchant_key": "amazon",
                            "category_primary": "GENERAL_MERCHANDISE",
                            "amount": d("1234.56"), "baseline": d("40.00"),
                            "reason": "$1,234.56 at Amazon is 30.9x your usual $40.00 there"}],
        RECURRING_PAYMENTS: [{"user_id": BOB, "merchant_key": "netflix", "cadence": "monthly",
                              "occurrences": 6, "typical_amount": d("13.99"),
                              "last_amount": d("15.49"), "last_date": date(2024, 2, 12),
                              "next_expected_date": date(2024, 3, 12),
                              "price_increase": True, "missed_payment": False,
                              "detail": "monthly since 2023-09-12, last $15.49 (was $13.99)"},
                             {"user_id": BOB, "merchant_key": "landlord", "cadence": "monthly",
                              "occurrences": 12, "typical_amount": d("1500.00"),
                              "last_amount": d("1500.00"), "last_date": date(2024, 2, 7),
                              "next_expected_date": date(2024, 3, 7),
                              "price_increase": False, "missed_payment": False,
                              "detail": None}],
    }


def spend_lake(home: Path) -> Lake:
    """A lake at ``home/lake`` with only transactions, monthly_spend and categories."""
    lake = Lake(str(Path(home) / "lake"))
    rows = transactions()
    write_table(lake, TRANSACTIONS, rows)
    write_table(lake, MONTHLY_SPEND, spend_rows(rows))
    write_table(lake, CATEGORIES, categories())
    return lake


@cache
def _password_hash(password: str) -> str:
    from dashboard import auth

    return auth.HASHER.hash(password)  # argon2id: hashed once per test process


def login_rows() -> list[dict[str, Any]]:
    """Logins for alice and bob (role user) and an analyst, with LOGIN_PASSWORDS."""
    return [{"login": login, "user_id": None if login == ANALYST else login,
             "role": "analyst" if login == ANALYST else "user",
             "password_hash": _password_hash(password), "created_at": REFRESHED_AT,
             "disabled": False} for login, password in LOGIN_PASSWORDS.items()]


def small_lake(home: Path, now: datetime | None = None) -> Lake:
    """A lake at ``home/lake`` (where FINLAKE_HOME=home puts it) with two users' data:
    silver, gold and the sync state the dashboard shows (sync times relative to ``now``),
    and dashboard logins for both and for an analyst (:func:`login_rows`)."""
    now = now or datetime.now(UTC)
    lake = spend_lake(home)
    write_table(lake, ACCOUNTS, accounts(now))
    for t, table_rows in {**ops_rows(now), **gold_rows(now)}.items():
        write_table(lake, t, table_rows)
    write_table(lake, LOGINS, login_rows())
    return lake
