"""The table registry: every lake table's name, layer, schema, keys and partitioning.

Writers, readers, quality checks, DuckDB views and the dashboard all take table facts from
here; no table path or schema is spelled anywhere else. The ``Table`` type is in
lake/table.py and each domain's tables are declared in lake/tables_<domain>.py; import them
from this module.
"""

from __future__ import annotations

from lake.table import Table
from lake.tables_categories import (
    CATEGORIES,
    CATEGORY_OVERRIDES,
    CUSTOM_CATEGORIES,
    MERCHANT_RULES,
    TRANSACTION_OVERRIDES,
)
from lake.tables_duplicates import DUPLICATE_KEEPS
from lake.tables_health import (
    ALERT_DISMISSALS,
    ALERTS,
    CREDENTIALS,
    INSTITUTION_HEALTH,
    INSTITUTIONS,
    QUALITY_RESULTS,
    SYNC_JOBS,
)
from lake.tables_ledger import (
    ACCOUNTS,
    GOLD_CHANGES,
    QUARANTINE,
    SERIES_CHANGES,
    STEP_MARKS,
    TRANSACTIONS,
)
from lake.tables_notes import TRANSACTION_NOTES, TRANSACTION_TAGS
from lake.tables_rules import USER_RULES
from lake.tables_security import (
    AUDIT_LOG,
    AUDIT_SUBJECTS,
    LOGINS,
    PSEUDONYMISED_COLUMNS,
    WITHHELD_COLUMNS,
)
from lake.tables_spend import (
    BUDGET_PROGRESS,
    BUDGETS,
    DAILY_SPEND,
    EXPENSE_DAYS,
    MONTHLY_CASHFLOW,
    MONTHLY_SPEND,
    RECURRING_PAYMENTS,
    SPEND_TRENDS,
    UNUSUAL_ACTIVITY,
)
from lake.tables_splits import TRANSACTION_SPLITS
from lake.tables_wealth import BALANCE_OBSERVATIONS, BALANCES_DAILY, NET_WORTH_DAILY

__all__ = [
    "ACCOUNTS", "ALERTS", "ALERT_DISMISSALS", "AUDIT_LOG", "AUDIT_SUBJECTS",
    "BALANCE_OBSERVATIONS",
    "BALANCES_DAILY", "BUDGETS", "BUDGET_PROGRESS", "CATEGORIES", "CATEGORY_OVERRIDES",
    "CREDENTIALS", "CUSTOM_CATEGORIES", "DAILY_SPEND", "EXPENSE_DAYS", "GOLD_CHANGES",
    "INSTITUTIONS",
    "INSTITUTION_HEALTH", "LOGINS", "MERCHANT_RULES", "MONTHLY_CASHFLOW", "MONTHLY_SPEND",
    "NET_WORTH_DAILY", "PSEUDONYMISED_COLUMNS", "QUALITY_RESULTS", "QUARANTINE",
    "RECURRING_PAYMENTS", "REGISTRY", "SERIES_CHANGES", "SPEND_TRENDS", "STEP_MARKS", "SYNC_JOBS",
    "TRANSACTIONS", "TRANSACTION_OVERRIDES", "Table", "UNUSUAL_ACTIVITY", "WITHHELD_COLUMNS",
    "table",
    "TRANSACTION_NOTES", "TRANSACTION_TAGS",
    "USER_RULES",
    "DUPLICATE_KEEPS",
    "TRANSACTION_SPLITS",
]

REGISTRY: dict[str, Table] = {
    t.name: t
    for t in (TRANSACTIONS, ACCOUNTS, QUARANTINE, MONTHLY_SPEND, MERCHANT_RULES, CATEGORIES,
              CREDENTIALS, INSTITUTIONS, SYNC_JOBS, INSTITUTION_HEALTH, ALERTS,
              ALERT_DISMISSALS, CATEGORY_OVERRIDES, TRANSACTION_OVERRIDES, CUSTOM_CATEGORIES,
              BALANCE_OBSERVATIONS, BALANCES_DAILY,
              NET_WORTH_DAILY, RECURRING_PAYMENTS, DAILY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS,
              BUDGETS, BUDGET_PROGRESS, UNUSUAL_ACTIVITY, EXPENSE_DAYS, GOLD_CHANGES,
              SERIES_CHANGES, QUALITY_RESULTS,
              AUDIT_LOG, AUDIT_SUBJECTS, LOGINS, STEP_MARKS,
              TRANSACTION_TAGS, TRANSACTION_NOTES,
              USER_RULES,
              DUPLICATE_KEEPS,
              TRANSACTION_SPLITS)
}


def table(name: str) -> Table:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
