"""A small hand-built lake for the analyst queries (docs/analyst_queries.md).

Five users (ana, ben, cara, dev, eli), three institutions, January to March 2024; the newest
sync day is 2024-03-31. Every table is written row by row here, gold included: gold is not
derived from silver, so each query's expected result follows from the rows of the tables it
reads (tests/lake/test_analyst_queries.py works them out next to each expectation). Rows that a
query must ignore are marked "(ignored: ...)" with the rule that drops them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from lake.lake import Lake
from lake.tables import (
    BUDGET_PROGRESS,
    CATEGORIES,
    CUSTOM_CATEGORIES,
    INSTITUTION_HEALTH,
    INSTITUTIONS,
    MONTHLY_SPEND,
    NET_WORTH_DAILY,
    QUALITY_RESULTS,
    QUARANTINE,
    RECURRING_PAYMENTS,
    SYNC_JOBS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
)
from pipelines.categories.reference import categories
from tests.support.lake_fixtures import txn, write_table

ANA, BEN, CARA, DEV, ELI = "ana", "ben", "cara", "dev", "eli"
FIRST, HARBOR, NEO = "ins_first", "ins_harbor", "ins_neo"
ITEM_INSTITUTION = {f"{ANA}-item": FIRST, f"{BEN}-item": FIRST, f"{CARA}-item": HARBOR,
                    f"{DEV}-item": HARBOR, f"{ELI}-item": NEO, f"{ANA}-neo": NEO}
CREATED = datetime(2024, 1, 1, tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def money(text: str) -> Decimal:
    return Decimal(text)


def institutions() -> list[dict[str, Any]]:
    return [
        {"institution_id": FIRST, "name": "First Bank", "partner": "plaid",
         "rate_limit_qps": 10, "refresh_every_days": 1, "sends_pending": True},
        {"institution_id": HARBOR, "name": "Harbor Credit Union", "partner": "plaid",
         "rate_limit_qps": 2, "refresh_every_days": 1, "sends_pending": False},
        {"institution_id": NEO, "name": "Neo Bank", "partner": "plaid",
         "rate_limit_qps": 50, "refresh_every_days": 3, "sends_pending": True},
    ]


def job(user: str, day: str, status: str, seconds: float, *, attempt: int = 1,
        error_class: str | None = None, minute: int = 0, item: str = "") -> dict[str, Any]:
    """One sync attempt, started at 02:MM UTC the morning after its sync date."""
    item = item or f"{user}-item"
    started = datetime.combine(d(day) + timedelta(days=1), time(2, minute), UTC)
    return {"job_id": f"{item}-{day}-{attempt}", "run_id": f"run-{day}", "sync_date": d(day),
            "trigger": "nightly", "user_id": user, "item_id": item,
            "institution_id": ITEM_INSTITUTION[item], "attempt": attempt,
            "started_at": started, "finished_at": started + timedelta(seconds=seconds),
            "status": status, "error_class": error_class, "seconds": seconds,
            "txns_added": 1 if status == "success" else None}


def sync_jobs() -> list[dict[str, Any]]:
    return [
        # First successes: the joining months (cohorts) 2024-01, 2024-01, 2024-02, 2024-02,
        # 2024-03. Dev's first attempt, in January, failed: he joined in February.
        job(ANA, "2024-01-10", "success", 2.0),
        job(BEN, "2024-01-20", "success", 3.0),
        job(DEV, "2024-01-28", "deferred", 30.0, error_class="INSTITUTION_DOWN"),
        job(CARA, "2024-02-05", "success", 40.0),  # (ignored by p95: before the 30 days)
        job(DEV, "2024-02-15", "success", 40.0),  # (ignored by p95: before the 30 days)
        job(ELI, "2024-03-02", "success", 1.0),  # first day of the 30-day window
        # The last days. Ben's credentials fail three nights running: expired on the third.
        job(BEN, "2024-03-29", "deferred", 0.3, error_class="INVALID_CREDENTIALS"),
        job(BEN, "2024-03-30", "deferred", 0.3, error_class="INVALID_CREDENTIALS"),
        job(BEN, "2024-03-31", "failed", 0.3, error_class="INVALID_CREDENTIALS"),
        job(ANA, "2024-03-30", "success", 2.0),
        job(ANA, "2024-03-31", "success", 6.0),
        job(CARA, "2024-03-30", "success", 3.0),
        job(CARA, "2024-03-31", "retrying", 0.5, error_class="RATE_LIMITED"),
        job(CARA, "2024-03-31", "success", 5.0, attempt=2, minute=1),
        # Dev needed MFA on the 30th and re-linked; on the 31st Harbor's circuit was open.
        # The sweep only tries active credentials, so the skip shows he is not waiting.
        job(DEV, "2024-03-30", "failed", 0.4, error_class="MFA_REQUIRED"),
        job(DEV, "2024-03-31", "skipped", 0.0, attempt=0, error_class="CIRCUIT_OPEN"),
        job(ELI, "2024-03-31", "failed", 0.4, error_class="MFA_REQUIRED"),
        # Ana's second item: a first credential failure (1 of 3) is not expiry yet.
        job(ANA, "2024-03-28", "success", 3.0, item=f"{ANA}-neo"),
        job(ANA, "2024-03-31", "deferred", 0.3, error_class="INVALID_CREDENTIALS",
            item=f"{ANA}-neo"),
    ]


def health(inst: str, day: str, items: int, ok: int, status: str, lag: float | None,
           stale: int, due: int | None = None) -> dict[str, Any]:
    return {"institution_id": inst, "sync_date": d(day), "items": items, "items_succeeded": ok,
            "items_empty": 0, "success_rate": ok / items if items else None,
            "error_classes": "", "status": status, "items_due": items if due is None else due,
            "items_stale": stale, "lag_hours": lag, "sla_met": stale == 0}


def institution_health() -> list[dict[str, Any]]:
    return [
        health(FIRST, "2024-02-20", 2, 2, "healthy", 100.0, 0),  # (ignored: before 30 days)
        health(FIRST, "2024-03-30", 2, 1, "degraded", 30.0, 1),
        health(FIRST, "2024-03-31", 2, 1, "degraded", 54.0, 1),
        health(HARBOR, "2024-03-30", 2, 1, "degraded", 6.0, 1),
        health(HARBOR, "2024-03-31", 1, 1, "healthy", 6.0, 1, due=2),  # dev skipped: stale
        health(NEO, "2024-03-28", 1, 1, "healthy", 2.0, 0),
        health(NEO, "2024-03-31", 2, 0, "down", 702.0, 2),
    ]


_PRIMARY = {c["category"]: c["category_primary"] for c in categories()}


def spend(user: str, month: str, category: str, amount: str, count: int = 1,
          primary: str | None = None) -> dict[str, Any]:
    return {"user_id": user, "month": month, "category": category,
            "category_primary": primary or _PRIMARY.get(category, "UNCATEGORIZED"),
            "amount": money(amount), "txn_count": count}


def monthly_spend() -> list[dict[str, Any]]:
    return [
        spend(ANA, "2024-01", "FOOD_AND_DRINK_GROCERIES", "100.00"),
        spend(ANA, "2024-01", "RENT_AND_UTILITIES_RENT", "1000.00"),
        spend(ANA, "2024-02", "FOOD_AND_DRINK_GROCERIES", "120.00"),
        spend(ANA, "2024-02", "FOOD_AND_DRINK_COFFEE", "30.00"),
        spend(ANA, "2024-02", "RENT_AND_UTILITIES_RENT", "1000.00"),
        spend(ANA, "2024-03", "FOOD_AND_DRINK_GROCERIES", "80.00"),
        spend(ANA, "2024-03", "RENT_AND_UTILITIES_RENT", "1000.00"),
        spend(BEN, "2024-01", "ENTERTAINMENT_TV_AND_MOVIES", "200.00"),
        # (ben spent nothing in 2024-02)
        spend(BEN, "2024-03", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", "300.00", 2),
        # Cara's January is history from before she joined in February.
        spend(CARA, "2024-01", "FOOD_AND_DRINK_GROCERIES", "50.00"),
        spend(CARA, "2024-02", "FOOD_AND_DRINK_GROCERIES", "150.00"),
        spend(CARA, "2024-02", "UNCATEGORIZED", "50.00"),
        spend(CARA, "2024-03", "FOOD_AND_DRINK_GROCERIES", "90.00"),
        spend(DEV, "2024-02", "ENTERTAINMENT_TV_AND_MOVIES", "100.00"),
        spend(DEV, "2024-03", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", "-20.00"),  # refund
        spend(DEV, "2024-03", "CUSTOM_PETS", "40.00", primary="GENERAL_MERCHANDISE"),
        spend(DEV, "2024-03", "TRANSPORTATION_GAS", "60.00"),
        spend(ELI, "2024-03", "FOOD_AND_DRINK_RESTAURANT", "70.00"),
    ]


def custom_categories() -> list[dict[str, Any]]:
    return [
        {"user_id": CARA, "category": "CUSTOM_PETS", "category_primary": "GENERAL_MERCHANDISE",
         "display_name": "Pets", "created_at": CREATED},
        {"user_id": DEV, "category": "CUSTOM_KIDS_ALLOWANCE", "category_primary": "TRANSFER_OUT",
         "display_name": "Kids allowance", "created_at": CREATED},
    ]


def transactions() -> list[dict[str, Any]]:
    """Silver rows; the newest countable posting is 2024-03-28, so the three-month merchant
    window starts on 2024-01-01."""
    groceries, rent = "FOOD_AND_DRINK_GROCERIES", "RENT_AND_UTILITIES_RENT"
    tv, market = "ENTERTAINMENT_TV_AND_MOVIES", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"
    other_goods, to_account = ("GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
                               "TRANSFER_OUT_ACCOUNT_TRANSFER")
    return [
        txn(ANA, 1, d("2023-12-20"), "2000.00", "APPLE STORE",
            "GENERAL_MERCHANDISE_ELECTRONICS"),  # (ignored: before the window)
        txn(ANA, 2, d("2024-01-05"), "100.00", "WHOLE FOODS", groceries),
        txn(ANA, 3, d("2024-01-07"), "1000.00", "LANDLORD", rent),
        txn(ANA, 4, d("2024-01-12"), "15.49", "NETFLIX", tv),
        txn(ANA, 5, d("2024-02-05"), "120.00", "WHOLE FOODS", groceries),
        txn(ANA, 6, d("2024-02-07"), "1000.00", "LANDLORD", rent),
        txn(ANA, 7, d("2024-02-09"), "30.00", "BLUE BOTTLE", "FOOD_AND_DRINK_COFFEE"),
        txn(ANA, 8, d("2024-02-12"), "15.49", "NETFLIX", tv),
        txn(ANA, 9, d("2024-02-15"), "-3000.00", "ACME PAYROLL",
            "INCOME_SALARY"),  # (ignored: income)
        txn(ANA, 10, d("2024-03-01"), "500.00", "SAVINGS TRANSFER",
            "TRANSFER_OUT_SAVINGS"),  # (ignored: transfer)
        txn(ANA, 11, d("2024-03-05"), "80.00", "WHOLE FOODS", groceries),
        txn(ANA, 12, d("2024-03-07"), "1000.00", "LANDLORD", rent),
        txn(ANA, 13, d("2024-03-10"), "800.00", "CHASE CARD PAYMENT",
            "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT"),  # (ignored: card payment)
        txn(ANA, 14, d("2024-03-12"), "15.49", "NETFLIX", tv),
        txn(ANA, 15, d("2024-03-30"), "900.00", "UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES",
            pending=True),  # (ignored: pending)
        txn(ANA, 16, d("2024-03-21"), "99.99", "AMAZON", market, status="removed",
            removed_at=CREATED),  # (ignored: removed)
        txn(ANA, 17, d("2024-03-22"), "45.00", "AMAZON", market, pending=True,
            status="superseded", superseded_by="p-ana-16"),  # (ignored: superseded)
        txn(BEN, 1, d("2024-01-12"), "15.49", "NETFLIX", tv, merchant="Netflix.com"),
        txn(BEN, 2, d("2024-01-20"), "60.00", "WHOLE FOODS", groceries,
            user_category="FOOD_AND_DRINK_RESTAURANT"),
        txn(BEN, 3, d("2024-02-12"), "15.49", "NETFLIX", tv, merchant="Netflix.com"),
        txn(BEN, 4, d("2024-02-15"), "-3000.00", "ACME PAYROLL",
            "INCOME_SALARY"),  # (ignored: income)
        txn(BEN, 5, d("2024-03-03"), "300.00", "AMAZON", market),
        txn(BEN, 6, d("2024-03-12"), "17.99", "NETFLIX", tv, merchant="Netflix.com"),
        txn(BEN, 7, d("2024-03-18"), "-40.00", "AMAZON", market),  # a refund: nets
        # Paying the babysitter: a transfer the user recategorised as a service: spend.
        txn(BEN, 8, d("2024-03-19"), "700.00", "VENMO", to_account,
            user_category="GENERAL_SERVICES_CHILDCARE"),
        txn(BEN, 9, d("2024-03-25"), "650.00", "AMEX", "GENERAL_SERVICES_OTHER_GENERAL_SERVICES",
            user_category="LOAN_PAYMENTS_CREDIT_CARD_PAYMENT"),  # (ignored: his card payment)
        txn(CARA, 1, d("2024-01-15"), "40.00", "GYM", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS"),
        txn(CARA, 2, d("2024-02-03"), "150.00", "WHOLE FOODS", groceries),
        txn(CARA, 3, d("2024-02-10"), "50.00", "CORNER SHOP", None, merchant=None),
        txn(CARA, 4, d("2024-02-15"), "-3000.00", "ACME PAYROLL",
            "INCOME_SALARY"),  # (ignored: income)
        txn(CARA, 5, d("2024-02-20"), "250.00", "PET PALACE", other_goods,
            user_category="CUSTOM_PETS"),  # her own category, under Shopping: spend
        txn(CARA, 6, d("2024-03-03"), "90.00", "WHOLE FOODS", groceries),
        txn(CARA, 7, d("2024-03-08"), "255.00", "ZELLE", other_goods,
            user_category=to_account),  # (ignored: recategorised as a transfer)
        txn(DEV, 1, d("2024-02-14"), "15.49", "NETFLIX", tv),
        txn(DEV, 2, d("2024-02-20"), "139.00", "AMAZON PRIME", market),
        txn(DEV, 3, d("2024-02-25"), "30.00", "CORNER SHOP", None, merchant=None),
        txn(DEV, 4, d("2024-03-04"), "60.00", "SHELL", "TRANSPORTATION_GAS"),
        txn(DEV, 5, d("2024-03-09"), "400.00", "KIDS ALLOWANCE", other_goods,
            user_category="CUSTOM_KIDS_ALLOWANCE"),  # (ignored: his category is a transfer)
        txn(ELI, 1, d("2024-03-02"), "40.00", "SHELL", "TRANSPORTATION_GAS"),
        txn(ELI, 2, d("2024-03-06"), "1000.00", "POS DEBIT", other_goods, merchant=None,
            merchant_key=""),  # (ignored: no merchant)
        txn(ELI, 3, d("2024-03-27"), "12.00", "COFFEE CLUB", "FOOD_AND_DRINK_COFFEE"),
        txn(ELI, 4, d("2024-03-28"), "15.49", "NETFLIX", tv),
    ]


def series(user: str, merchant_key: str, cadence: str, typical: str, last: str | None = None,
           *, price_increase: bool = False, missed: bool = False) -> dict[str, Any]:
    return {"user_id": user, "merchant_key": merchant_key, "cadence": cadence,
            "occurrences": 3, "typical_amount": money(typical),
            "last_amount": money(last or typical), "last_date": d("2024-03-12"),
            "next_expected_date": d("2024-04-12"), "price_increase": price_increase,
            "missed_payment": missed, "detail": f"{cadence} since 2024-01-12"}


def recurring_payments() -> list[dict[str, Any]]:
    return [
        series(ANA, "landlord", "monthly", "1000.00"),
        series(ANA, "savings transfer", "monthly", "500.00"),
        series(ANA, "netflix", "monthly", "15.49"),
        series(BEN, "netflix", "monthly", "15.49", "17.99", price_increase=True),
        series(ELI, "coffee club", "weekly", "12.00"),
        series(DEV, "amazon prime", "yearly", "139.00"),
        series(CARA, "gym", "monthly", "40.00", missed=True),
    ]


def progress(user: str, month: str, primary: str, budget: str | None, spent: str,
             state: str, as_of: str, source: str = "history") -> dict[str, Any]:
    b, s = (money(budget) if budget else None), money(spent)
    return {"user_id": user, "month": month, "category_primary": primary, "budget": b,
            "budget_source": source if b else "none", "spent": s,
            "share": float(s / b) if b else None, "state": state, "as_of": d(as_of)}


def budget_progress() -> list[dict[str, Any]]:
    food, rent, fun = "FOOD_AND_DRINK", "RENT_AND_UTILITIES", "ENTERTAINMENT"
    return [
        progress(ANA, "2024-01", food, "120", "100", "approaching", "2024-01-31"),
        progress(ANA, "2024-01", rent, "1000", "1000", "exceeded", "2024-01-31"),
        progress(ANA, "2024-02", food, "120", "150", "exceeded", "2024-02-29"),
        progress(ANA, "2024-02", rent, "1000", "1000", "exceeded", "2024-02-29"),
        progress(BEN, "2024-01", fun, "250", "200", "approaching", "2024-01-31", "manual"),
        progress(BEN, "2024-02", fun, "250", "0", "ok", "2024-02-29", "manual"),
        progress(CARA, "2024-02", food, "400", "150", "ok", "2024-02-29", "template"),
        progress(CARA, "2024-02", "UNCATEGORIZED", None, "50", "no_budget",
                 "2024-02-29"),  # (ignored: no budget)
        # (ignored: March is month-to-date, as of the 28th)
        progress(ANA, "2024-03", food, "120", "80", "ok", "2024-03-28"),
        progress(BEN, "2024-03", "GENERAL_MERCHANDISE", "100", "300", "exceeded", "2024-03-28"),
    ]


def worth(user: str, day: str, net: str, stale: int = 0) -> dict[str, Any]:
    n = money(net)
    assets = max(n, Decimal("0.00"))
    return {"user_id": user, "date": d(day), "assets": assets, "liabilities": assets - n,
            "net_worth": n, "accounts": 2, "stale_accounts": stale, "month": day[:7]}


def net_worth_daily() -> list[dict[str, Any]]:
    return [
        worth(ANA, "2024-03-27", "5000.00"),  # (ignored: not her latest day)
        worth(ANA, "2024-03-28", "12000.00"),
        worth(BEN, "2024-03-27", "100000.00"),  # (ignored: not his latest day)
        worth(BEN, "2024-03-28", "-2500.00"),
        worth(CARA, "2024-03-28", "3000.00"),
        worth(DEV, "2024-03-20", "40000.00", stale=1),  # his newest day, a week older
        worth(ELI, "2024-03-28", "800.00"),
    ]


def flag(user: str, month: str, kind: str, amount: str, baseline: str) -> dict[str, Any]:
    return {"user_id": user, "month": month, "kind": kind, "subject": f"{user}-{kind}",
            "amount": money(amount), "baseline": money(baseline), "reason": "hand-made"}


def unusual_activity() -> list[dict[str, Any]]:
    return [
        flag(ANA, "2024-02", "category_spike", "450.00", "150.00"),
        flag(ANA, "2024-03", "merchant_outlier", "480.00", "80.00"),
        flag(BEN, "2024-03", "merchant_outlier", "300.00", "60.00"),
        flag(BEN, "2024-03", "new_merchant_large", "700.00", "50.00"),
        flag(CARA, "2024-03", "category_spike", "400.00", "150.00"),
    ]


def held(n: int, source: str, reason: str, item: str | None, day: str,
         status: str = "quarantined") -> dict[str, Any]:
    return {"record_id": f"q{n}", "source": source, "raw_ref": f"raw/{n}.json",
            "user_id": item and item.removesuffix("-item"), "item_id": item, "reason": reason,
            "record": "{}", "sync_date": d(day), "quarantined_at": CREATED, "status": status}


def quarantine() -> list[dict[str, Any]]:
    txns, page = "transactions_sync", "transactions_sync_page"
    return [
        held(1, txns, "amount missing or not a number; unknown currency", "ana-item",
             "2024-03-30"),
        held(2, txns, "unknown currency", "ben-item", "2024-03-29", "released"),
        held(3, txns, "unknown currency", "cara-item", "2024-03-31"),
        held(4, page, "malformed JSON page (JSONDecodeError: Expecting value: line 1 column 1 "
             "(char 0))", None, "2024-03-31"),
        held(5, page, "malformed JSON page (JSONDecodeError: Unterminated string starting at: "
             "line 1 column 9 (char 8))", None, "2024-03-30"),
        held(6, "accounts", "unknown balance currency", "dev-item", "2024-03-31"),
        held(7, txns, "account not linked to this item", "eli-item", "2024-03-28", "released"),
    ]


def audit(n: int, suite: str, layer: str, day: str, at: str, passed: bool,
          failures: list[tuple[str, str]] = ()) -> dict[str, Any]:
    failed = [{"expectation": e, "severity": s, "why": "", "success": False, "observed": "1"}
              for e, s in failures]
    return {"validation_id": f"v{n}", "suite": suite, "suite_version": 1, "layer": layer,
            "scope": day, "rows_validated": 10, "passed": passed,
            "errors": sum(s == "error" for _, s in failures),
            "warnings": sum(s == "warning" for _, s in failures),
            "failures": json.dumps(failed), "report_ref": f"quality/reports/{n}.html",
            "validated_at": datetime.fromisoformat(at).replace(tzinfo=UTC), "sync_date": d(day)}


def quality_results() -> list[dict[str, Any]]:
    null_id = "expect_column_values_to_not_be_null(txn_id)"
    return [
        audit(1, "silver_transactions", "silver", "2024-02-01", "2024-02-02T02:10", False,
              [(null_id, "error")]),  # (ignored: before the 30 days)
        # raw 2024-03-30 was blocked, then passed on a re-run: it stands as passed.
        audit(2, "raw_changes", "raw", "2024-03-30", "2024-03-31T02:05", False,
              [("quarantine_share", "error")]),
        audit(3, "raw_changes", "raw", "2024-03-30", "2024-03-31T09:00", True),
        audit(4, "raw_changes", "raw", "2024-03-31", "2024-04-01T02:05", True,
              [("expect_column_values_to_be_in_set(iso_currency_code)", "warning")]),
        audit(5, "silver_transactions", "silver", "2024-03-30", "2024-03-31T02:06", True),
        audit(6, "silver_transactions", "silver", "2024-03-31", "2024-04-01T02:06", False,
              [(null_id, "error")]),
        audit(7, "monthly_spend", "gold", "2024-03-31", "2024-04-01T02:20", True),
    ]


def analyst_lake(home: Path) -> Lake:
    """The lake at ``home/lake`` (where ``FINLAKE_HOME=home`` puts it)."""
    lake = Lake(str(Path(home) / "lake"))
    for table, rows in (
        (CATEGORIES, categories()),
        (INSTITUTIONS, institutions()),
        (SYNC_JOBS, sync_jobs()),
        (INSTITUTION_HEALTH, institution_health()),
        (MONTHLY_SPEND, monthly_spend()),
        (CUSTOM_CATEGORIES, custom_categories()),
        (TRANSACTIONS, transactions()),
        (RECURRING_PAYMENTS, recurring_payments()),
        (BUDGET_PROGRESS, budget_progress()),
        (NET_WORTH_DAILY, net_worth_daily()),
        (UNUSUAL_ACTIVITY, unusual_activity()),
        (QUARANTINE, quarantine()),
        (QUALITY_RESULTS, quality_results()),
    ):
        write_table(lake, table, rows)
    return lake
