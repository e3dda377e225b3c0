"""Spending tables: gold spend, cash flow and trends, recurring payments, budgets and unusual
activity. Registered in lake/tables.py.
"""

from __future__ import annotations

from lake.table import Table

MONTHLY_SPEND = Table(
    name="monthly_spend",
    layer="gold",
    description="Spend per user x month x category (posted, live, non-transfer rows).",
    columns=(
        ("user_id", "string"),
        ("month", "string"),
        ("category_primary", "string"),
        ("category", "string"),
        ("amount", "decimal(18,2)"),
        ("txn_count", "bigint"),
    ),
    keys=("user_id", "month", "category"),
    partition_by=("month",),
)

DAILY_SPEND = Table(
    name="daily_spend",
    layer="gold",
    description="Spend per user x day x category (posted, live, expense rows; refunds netted).",
    columns=(
        ("user_id", "string"),
        ("date", "date"),
        ("category_primary", "string"),
        ("category", "string"),
        ("amount", "decimal(18,2)"),
        ("txn_count", "bigint"),
        ("month", "string"),
    ),
    keys=("user_id", "date", "category"),
    partition_by=("month",),
)

MONTHLY_CASHFLOW = Table(
    name="monthly_cashflow",
    layer="gold",
    description="Income vs expense per user x month; transfers between own accounts shown apart.",
    columns=(
        ("user_id", "string"),
        ("month", "string"),
        ("income", "decimal(18,2)"),
        ("expense", "decimal(18,2)"),
        ("net", "decimal(18,2)"),  # income - expense
        ("transfers_in", "decimal(18,2)"),
        ("transfers_out", "decimal(18,2)"),
        ("txn_count", "bigint"),
    ),
    keys=("user_id", "month"),
    partition_by=("month",),
)

SPEND_TRENDS = Table(
    name="spend_trends",
    layer="gold",
    description="Spend per user x month x primary category with month-over-month change and "
                "3/6/12-month averages (months without spend count as zero).",
    columns=(
        ("user_id", "string"),
        ("month", "string"),
        ("category_primary", "string"),
        ("amount", "decimal(18,2)"),
        ("prev_month_amount", "decimal(18,2)"),
        ("mom_change", "decimal(18,2)"),
        ("mom_change_pct", "double"),
        ("avg_3m", "decimal(18,2)"),
        ("avg_6m", "decimal(18,2)"),
        ("avg_12m", "decimal(18,2)"),
    ),
    keys=("user_id", "month", "category_primary"),
    partition_by=("month",),
)

RECURRING_PAYMENTS = Table(
    name="recurring_payments",
    layer="gold",
    description="Detected subscriptions and bills with cadence, next date, price/miss flags.",
    columns=(
        ("user_id", "string"),
        ("merchant_key", "string"),
        ("cadence", "string"),
        ("occurrences", "int"),
        ("typical_amount", "decimal(18,2)"),
        ("last_amount", "decimal(18,2)"),
        ("last_date", "date"),
        ("next_expected_date", "date"),
        ("price_increase", "boolean"),
        ("missed_payment", "boolean"),
        ("detail", "string"),
    ),
    keys=("user_id", "merchant_key"),
)

BUDGETS = Table(
    name="budgets",
    layer="silver",
    description="Budgets people set themselves (overrides only; recommendations are computed).",
    columns=(
        ("user_id", "string"),
        ("category_primary", "string"),
        ("amount", "decimal(18,2)"),
        ("set_by", "string"),  # cli | dashboard
        ("set_at", "timestamp"),
    ),
    keys=("user_id", "category_primary"),
)

BUDGET_PROGRESS = Table(
    name="budget_progress",
    layer="gold",
    description="Month-to-date spend against the effective budget (manual, history or "
                "income template) per user x month x primary category.",
    columns=(
        ("user_id", "string"),
        ("month", "string"),
        ("category_primary", "string"),
        ("budget", "decimal(18,2)"),
        ("budget_source", "string"),  # manual | history | template | none
        ("spent", "decimal(18,2)"),
        ("share", "double"),  # spent / budget
        ("state", "string"),  # ok | approaching | exceeded | no_budget
        ("as_of", "date"),
    ),
    keys=("user_id", "month", "category_primary"),
    partition_by=("month",),
)

EXPENSE_DAYS = Table(
    name="expense_days",
    layer="gold",
    description="Unusual activity's running statistics: a user's expense rows per day and "
                "merchant (payments, amount paid, rows), kept by cell like every gold table, "
                "so a night judges its payments without re-reading 14 months of silver.",
    columns=(
        ("user_id", "string"),
        ("month", "string"),
        ("posted_date", "date"),
        ("merchant_key", "string"),  # "#none": rows without a merchant key
        ("payments", "bigint"),  # expense rows with money out (amount > 0)
        ("paid", "decimal(18,2)"),  # their amounts' sum
        ("expenses", "bigint"),  # every expense row (refunds too)
    ),
    keys=("user_id", "month", "posted_date", "merchant_key"),
    partition_by=("month",),
)

UNUSUAL_ACTIVITY = Table(
    name="unusual_activity",
    layer="gold",
    description="Transactions and categories far from the user's own baseline, with the reason.",
    columns=(
        ("user_id", "string"),
        ("month", "string"),
        ("kind", "string"),  # category_spike | merchant_outlier | new_merchant_large
        ("subject", "string"),  # primary category or txn_id
        ("txn_id", "string"),
        ("date", "date"),
        ("merchant_key", "string"),
        ("category_primary", "string"),
        ("amount", "decimal(18,2)"),
        ("baseline", "decimal(18,2)"),
        ("reason", "string"),
    ),
    keys=("user_id", "month", "kind", "subject"),
    partition_by=("month",),
)
