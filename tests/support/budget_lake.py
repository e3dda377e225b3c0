"""A realistic multi-person lake for budget tests: sixteen months of spend and payroll for
generated people, people made for each budget case, stored budget state and alerts."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

from core.months import month_end, month_range
from lake.lake import Lake
from lake.tables import (
    ALERTS,
    BUDGET_PROGRESS,
    BUDGETS,
    CATEGORIES,
    CUSTOM_CATEGORIES,
    TRANSACTIONS,
)
from pipelines.categories.reference import categories
from tests.support.lake_fixtures import txn, write_table

AS_OF = date(2025, 3, 12)
CURRENT = "2025-03"
FIRST = "2023-11"
SPENDS = (("KROGER", "FOOD_AND_DRINK_GROCERIES", 60), ("STARBUCKS", "FOOD_AND_DRINK_COFFEE", 6),
          ("SHELL", "TRANSPORTATION_GAS", 45), ("LANDLORD", "RENT_AND_UTILITIES_RENT", 900),
          ("AMC", "ENTERTAINMENT_TV_AND_MOVIES", 25), ("CVS", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS",
                                                       20))
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def day_in(month: str, d: int) -> date:
    return date(int(month[:4]), int(month[5:7]), min(d, month_end(month).day))


class History:
    """Silver rows of a realistic multi-user lake, numbered per user."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.n = 0

    def add(self, user: str, day: date, amount: str, desc: str, cat: str | None,
            **extra) -> None:
        self.n += 1
        self.rows.append(txn(user, self.n, day, amount, desc, cat, **extra))

    def steady(self, user: str, months: list[str], rng: random.Random, pay: str | None) -> None:
        for month in months:
            if pay:
                self.add(user, day_in(month, 1), f"-{pay}", "ACME PAYROLL", "INCOME_SALARY")
            for desc, cat, base in SPENDS:
                if rng.random() < 0.8:
                    amount = Decimal(base) * Decimal(rng.randint(50, 150)) / 100
                    self.add(user, day_in(month, rng.randint(1, 28)), f"{amount:.2f}", desc, cat)


def history() -> list[dict]:
    """Twelve generated people with 16 months (some with gaps or no payroll), and people made
    to hit each case: manual budgets (one of 0), the income template, no history at all,
    uncategorised, empty and custom categories, refunds, transfers, pending and removed rows,
    a row after the current month, unicode ids."""
    h, rng = History(), random.Random(21)
    all_months = month_range(FIRST, CURRENT)
    for i in range(12):
        months = [m for m in all_months if not (i % 4 == 1 and m in ("2024-10", "2024-12"))]
        h.steady(f"u{i:02d}", months[i % 3:], rng, pay=None if i % 5 == 0 else f"{3000 + i}")
    h.steady("bo", all_months, rng, pay="5200")  # manual budgets below
    h.steady("célia-🌍", ["2025-02", CURRENT], rng, pay="2600")  # two months: template
    h.add("dan", day_in(CURRENT, 2), "-4100.00", "ACME PAYROLL", "INCOME_SALARY")  # new
    h.add("eve", day_in(CURRENT, 3), "33.10", "MYSTERY", None)
    h.add("eve", day_in(CURRENT, 4), "12.00", "BLANK", "")
    h.add("eve", day_in(CURRENT, 20), "70.00", "LATER THIS MONTH", "FOOD_AND_DRINK_GROCERIES")
    h.steady("fay", month_range("2024-06", CURRENT), rng, pay="2800")
    for k, (amount, desc, cat, extra) in enumerate((
            ("-40.00", "KROGER REFUND", "FOOD_AND_DRINK_GROCERIES", {}),
            ("500.00", "TO SAVINGS", "TRANSFER_OUT_SAVINGS", {}),
            ("250.00", "CARD PAYMENT", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", {}),
            ("80.00", "UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", {"pending": True}),
            ("99.00", "DUPLICATE", "GENERAL_MERCHANDISE_ELECTRONICS", {"status": "removed"}),
            ("45.00", "POTTERY CLASS", "GENERAL_MERCHANDISE_BOOKSTORES",
             {"user_category": "fay:pottery"}))):
        for month in ("2025-01", CURRENT):
            h.add("fay", day_in(month, 5 + k), amount, desc, cat, **extra)
    h.add("fay", date(2025, 4, 2), "15.00", "NEXT MONTH", "FOOD_AND_DRINK_COFFEE")
    h.steady("gus", all_months, rng, pay="3100")
    for d in (3, 6, 9, 18):  # over budget this month, and more after AS_OF
        h.add("gus", day_in(CURRENT, d), "400.00", "KROGER", "FOOD_AND_DRINK_GROCERIES")
    h.steady("hal", all_months, rng, pay="3900")
    return h.rows


def touched(users: list[str]) -> list[tuple[str, str]]:
    """The cells of a day touching seven months: every person's current month, and for some
    late changes to six earlier months (closed), plus the month after the current one."""
    rng = random.Random(4)
    past = month_range("2024-09", "2025-02")
    out = {(u, CURRENT) for u in users}
    for u in users:
        out |= {(u, m) for m in rng.sample(past, rng.randint(0, 3))}
    return sorted(out | {("fay", "2025-04"), ("u03", "2024-09"), ("bo", "2024-12")})


USERS = [f"u{i:02d}" for i in range(12)] + ["bo", "célia-🌍", "dan", "eve", "fay", "gus",
                                            "hal"]


def stored_state() -> list[dict]:
    """Budget rows already there: gus's month is as of a later day (the run is a replay for
    him), hal's as of an earlier one; closed months hold rows that must be replaced, one of
    them for a category that no longer has spend or a budget."""
    def row(user: str, month: str, as_of: date, primary: str = "FOOD_AND_DRINK") -> dict:
        return {"user_id": user, "month": month, "category_primary": primary,
                "budget": Decimal("1.00"), "budget_source": "history", "spent": Decimal("0.00"),
                "share": 0.0, "state": "ok", "as_of": as_of}

    return [row("gus", CURRENT, date(2025, 3, 20)), row("hal", CURRENT, date(2025, 3, 5)),
            row("u03", "2024-09", month_end("2024-09"), "TRAVEL"),
            row("bo", "2024-12", month_end("2024-12"))]



def build(lake: Lake) -> Lake:
    """Write the lake: silver, categories (with a custom one), manual budgets, stored budget
    state and an alert already raised."""
    write_table(lake, TRANSACTIONS, history())
    write_table(lake, CATEGORIES, categories())
    write_table(lake, CUSTOM_CATEGORIES, [{
        "user_id": "fay", "category": "fay:pottery", "category_primary": "ENTERTAINMENT",
        "display_name": "Pottery", "created_at": T0}])
    write_table(lake, BUDGETS, [
        {"user_id": "bo", "category_primary": "FOOD_AND_DRINK", "amount": Decimal("150.00"),
         "set_by": "cli", "set_at": T0},
        {"user_id": "bo", "category_primary": "TRAVEL", "amount": Decimal("300.00"),
         "set_by": "dashboard", "set_at": T0},
        {"user_id": "bo", "category_primary": "TRANSPORTATION", "amount": Decimal("0.00"),
         "set_by": "cli", "set_at": T0},
        {"user_id": "dan", "category_primary": "ENTERTAINMENT", "amount": Decimal("50.00"),
         "set_by": "cli", "set_at": T0}])
    write_table(lake, BUDGET_PROGRESS, stored_state())
    write_table(lake, ALERTS, [{
        "alert_key": "stale", "kind": "budget_exceeded", "user_id": "gus",
        "subject": "FOOD_AND_DRINK", "detail": "old", "period": CURRENT, "created_at": T0}])
    return lake


