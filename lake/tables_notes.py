"""What people write on their own transactions: tags (short labels) and one note each.
Registered in lake/tables.py.

Both are keyed by the person and silver's ``txn_id`` (a hash of account and partner id, so a
partner modification keeps it); a posting that replaces a pending transaction gets the pending
one's tags and note (pipelines/silver/merge.py, ``apply_supersession``).
"""

from __future__ import annotations

from lake.table import Table

TRANSACTION_TAGS = Table(
    name="transaction_tags",
    layer="silver",
    description="A person's tags on their transactions (one row per tag: lower-case labels "
                "such as holiday-2026), set from the dashboard or the CLI.",
    columns=(
        ("user_id", "string"),
        ("txn_id", "string"),
        ("tag", "string"),
        ("source", "string"),  # dashboard | cli | carried (from the pending transaction)
        ("created_at", "timestamp"),
    ),
    keys=("user_id", "txn_id", "tag"),
)

TRANSACTION_NOTES = Table(
    name="transaction_notes",
    layer="silver",
    description="A person's free-text note on one of their transactions, set from the "
                "dashboard or the CLI.",
    columns=(
        ("user_id", "string"),
        ("txn_id", "string"),
        ("note", "string"),
        ("source", "string"),  # dashboard | cli | carried (from the pending transaction)
        ("updated_at", "timestamp"),
    ),
    keys=("user_id", "txn_id"),
)
