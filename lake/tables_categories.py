"""Categorisation tables: the taxonomy, merchant rules and the categories and overrides people set.
Registered in lake/tables.py.
"""

from __future__ import annotations

from lake.table import Table

MERCHANT_RULES = Table(
    name="merchant_rules",
    layer="reference",
    description="Merchant key -> category rules: curated seed and crowd rules (k-anonymous).",
    columns=(
        ("merchant_key", "string"),
        ("category", "string"),
        ("source", "string"),  # seed | crowd
        ("version", "int"),
        ("votes", "int"),  # distinct users behind a crowd rule
    ),
    keys=("merchant_key",),
)

CATEGORIES = Table(
    name="categories",
    layer="reference",
    description="Category taxonomy (Plaid PFC v2 codes) with display names.",
    columns=(
        ("category", "string"),
        ("category_primary", "string"),
        ("display_name", "string"),
        ("primary_display_name", "string"),
    ),
    keys=("category",),
)

CATEGORY_OVERRIDES = Table(
    name="category_overrides",
    layer="silver",
    description="A user's own category for a merchant (always categorise this merchant as ...).",
    columns=(
        ("user_id", "string"),
        ("merchant_key", "string"),
        ("category", "string"),
        ("source", "string"),  # dashboard | cli
        ("created_at", "timestamp"),
    ),
    keys=("user_id", "merchant_key"),
)

TRANSACTION_OVERRIDES = Table(
    name="transaction_overrides",
    layer="silver",
    description="A person's category for one transaction, set from the dashboard; the next "
                "nightly (or replay) run copies it to silver's user_category and refreshes gold.",
    columns=(
        ("user_id", "string"),
        ("txn_id", "string"),
        ("category", "string"),
        ("source", "string"),  # dashboard | cli
        ("created_at", "timestamp"),
        ("posted_month", "string"),  # the transaction's silver partition (prunes the apply)
    ),
    keys=("user_id", "txn_id"),
)

CUSTOM_CATEGORIES = Table(
    name="custom_categories",
    layer="silver",
    description="Categories users added, under one of the taxonomy's primary categories.",
    columns=(
        ("user_id", "string"),
        ("category", "string"),
        ("category_primary", "string"),
        ("display_name", "string"),
        ("created_at", "timestamp"),
    ),
    keys=("user_id", "category"),
)
