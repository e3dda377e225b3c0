"""A person's split transactions: one transaction's amount shared between categories.
Registered in lake/tables.py.

One row per part, keyed by the person, silver's ``txn_id`` and the part's number. The parts of
a split sum exactly to the amount the transaction had when it was split (``txn_amount``); gold
counts each part in its own category while the transaction still has that amount, and the
transaction as a whole (its own category) once the partner changed it (the split is then
listed for review). Written by pipelines/corrections/splits.py.
"""

from __future__ import annotations

from lake.table import Table

TRANSACTION_SPLITS = Table(
    name="transaction_splits",
    layer="silver",
    description="A person's split transactions: each part's category and amount (the parts "
                "sum to the transaction's amount when it was split), set from the dashboard "
                "or the CLI; gold counts the parts instead of the whole.",
    columns=(
        ("user_id", "string"),
        ("txn_id", "string"),
        ("part", "int"),  # 1, 2, ... in the order the person gave them
        ("category", "string"),  # a PFC v2 detailed code or one of the person's own
        ("amount", "decimal(18,2)"),  # the partner's sign: positive is money out
        ("txn_amount", "decimal(18,2)"),  # the transaction's amount the split was made for
        ("posted_month", "string"),  # the transaction's month then (its gold cell)
        ("source", "string"),  # dashboard | cli
        ("created_at", "timestamp"),
    ),
    keys=("user_id", "txn_id", "part"),
)
