"""A person's word on probable duplicates: "not a duplicate". Registered in lake/tables.py.

The nightly flags a transaction the partner re-sent under a new id as a probable duplicate
(silver status ``duplicate``, pipelines/silver/reissued.py); a row here takes it out of that
rule for good, so it counts again, across nights, replays and rebuilds from raw. Keyed by the
person and silver's ``txn_id`` (a hash of account and partner id: stable under partner
modifications).
"""

from __future__ import annotations

from lake.table import Table

DUPLICATE_KEEPS = Table(
    name="duplicate_keeps",
    layer="silver",
    description="Transactions a person said are not duplicates (kept though the partner's "
                "copy looked re-issued): they always count; set with `finlake duplicate keep`.",
    columns=(
        ("user_id", "string"),
        ("txn_id", "string"),
        ("account_id", "string"),
        ("posted_month", "string"),  # the transaction's silver partition (prunes the apply)
        ("source", "string"),  # cli
        ("created_at", "timestamp"),
    ),
    keys=("user_id", "txn_id"),
)
