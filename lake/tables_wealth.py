"""Wealth tables: observed balances, daily balances and net worth. Registered in lake/tables.py.
"""

from __future__ import annotations

from lake.table import Table

BALANCE_OBSERVATIONS = Table(
    name="balance_observations",
    layer="silver",
    description="The balance each sync day reported per account (after the sanity review).",
    columns=(
        ("account_id", "string"),
        ("user_id", "string"),
        ("type", "string"),
        ("date", "date"),
        ("balance_current", "decimal(18,2)"),
        ("needs_review", "boolean"),
        ("observed_at", "timestamp"),
        ("source_seq", "string"),
        ("month", "string"),  # of ``date``: a day's MERGE reads and rewrites one month
    ),
    keys=("account_id", "date"),
    partition_by=("month",),
    months_of=(("month", "date"),),  # unpartitioned before: lake/relayout.py
)

BALANCES_DAILY = Table(
    name="balances_daily",
    layer="gold",
    description="Balance per account and day; days without a sync carry the last known one.",
    columns=(
        ("account_id", "string"),
        ("user_id", "string"),
        ("type", "string"),
        ("date", "date"),
        ("balance", "decimal(18,2)"),
        ("observed", "boolean"),
        ("month", "string"),
    ),
    keys=("account_id", "date"),
    partition_by=("month",),
)

NET_WORTH_DAILY = Table(
    name="net_worth_daily",
    layer="gold",
    description="Assets - liabilities (credit cards, loans) per user and day.",
    columns=(
        ("user_id", "string"),
        ("date", "date"),
        ("assets", "decimal(18,2)"),
        ("liabilities", "decimal(18,2)"),
        ("net_worth", "decimal(18,2)"),
        ("accounts", "int"),
        ("stale_accounts", "int"),
        ("month", "string"),
    ),
    keys=("user_id", "date"),
    partition_by=("month",),
)
