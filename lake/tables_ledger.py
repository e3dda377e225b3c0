"""The silver ledger the partner feeds: transactions, accounts, the records that failed the raw
contract, the user x month cells a sync day changed, and the inputs each day's steps last
completed with (a replay with the same inputs skips to its checks). Registered in lake/tables.py.
"""

from __future__ import annotations

from lake.table import Table

TRANSACTIONS = Table(
    name="transactions",
    layer="silver",
    description="Every partner transaction instance (pending and posted), latest state.",
    columns=(
        ("txn_id", "string"),
        ("user_id", "string"),
        ("item_id", "string"),
        ("account_id", "string"),
        ("partner_txn_id", "string"),
        ("pending", "boolean"),
        ("pending_partner_txn_id", "string"),
        ("amount", "decimal(18,2)"),
        ("currency", "string"),
        ("posted_date", "date"),
        ("authorized_date", "date"),
        ("description", "string"),
        ("merchant", "string"),
        ("merchant_key", "string"),
        ("payment_channel", "string"),
        ("category", "string"),
        ("category_source", "string"),
        ("category_confidence", "double"),
        ("user_category", "string"),
        ("status", "string"),  # live | removed | superseded | duplicate (a re-issued copy)
        ("removed_at", "timestamp"),
        ("superseded_by", "string"),  # partner id of the posted row replacing this pending
        ("supersede_method", "string"),  # link | heuristic
        ("partner_duplicate", "boolean"),  # partner re-sent this id as new with other details
        ("source_seq", "string"),  # stream position of the newest change applied
        ("content_seq", "string"),  # stream position of the newest content (added/modified)
        ("raw_ref", "string"),
        ("sync_date", "date"),
        ("updated_at", "timestamp"),
        ("posted_month", "string"),
    ),
    keys=("account_id", "partner_txn_id"),
    partition_by=("posted_month",),
)

# The institution of a manual account: one the person fills from their bank's files
# (``finlake import``), never synced from a partner (it has no credentials).
MANUAL_INSTITUTION = "manual"

ACCOUNTS = Table(
    name="accounts",
    layer="silver",
    description="Linked accounts with their latest balances.",
    columns=(
        ("account_id", "string"),
        ("user_id", "string"),
        ("item_id", "string"),
        ("institution_id", "string"),
        ("name", "string"),
        ("mask", "string"),
        ("type", "string"),
        ("subtype", "string"),
        ("balance_current", "decimal(18,2)"),
        ("balance_available", "decimal(18,2)"),
        ("currency", "string"),
        ("source_seq", "string"),
        ("last_synced_at", "timestamp"),
        ("needs_review", "boolean"),  # the partner's balance jumped implausibly; not applied
        ("review_reason", "string"),
        ("reported_balance", "decimal(18,2)"),  # the balance held back for review
    ),
    keys=("account_id",),
)

QUARANTINE = Table(
    name="quarantine",
    layer="silver",
    description="Partner records that failed the raw contract, with the reason and raw object.",
    columns=(
        ("record_id", "string"),
        ("source", "string"),  # transactions_sync | transactions_sync_page | ..._section | accounts
        ("raw_ref", "string"),  # the raw object the record came in
        ("user_id", "string"),
        ("item_id", "string"),
        ("source_seq", "string"),  # its place in the change stream (kept by a release)
        ("change_kind", "string"),  # added | modified | removed | accounts
        ("reason", "string"),
        ("record", "string"),
        ("sync_date", "date"),
        ("quarantined_at", "timestamp"),
        ("status", "string"),  # quarantined | released
        ("released_at", "timestamp"),
        ("released_ref", "string"),  # the raw object holding the fixed record
    ),
    keys=("record_id",),
    partition_by=("sync_date",),
)

GOLD_CHANGES = Table(
    name="gold_changes",
    layer="ops",
    description="The user x month cells a sync day changed in silver: what gold recomputes. "
                "Written before the silver MERGE, so a crash cannot lose a cell.",
    columns=(
        ("sync_date", "date"),
        ("user_id", "string"),
        ("month", "string"),
    ),
    keys=("sync_date", "user_id", "month"),
    partition_by=("sync_date",),
)

SERIES_CHANGES = Table(
    name="series_changes",
    layer="ops",
    description="The (user, merchant) series a sync day changed in silver, the merchant a "
                "modified row leaves included: what recurring payments recompute. Written "
                "before the silver MERGE, so a crash cannot lose one.",
    columns=(
        ("sync_date", "date"),
        ("user_id", "string"),
        ("merchant_key", "string"),
    ),
    keys=("sync_date", "user_id", "merchant_key"),
    partition_by=("sync_date",),
)

STEP_MARKS = Table(
    name="step_marks",
    layer="ops",
    description="What each nightly step of a day saw when it last completed (raw pages' "
                "fingerprint, input tables' versions): a replay that finds the same skips "
                "to its checks. No personal data: hashes, versions and counts only.",
    columns=(
        ("step", "string"),
        ("day", "date"),
        ("inputs", "string"),  # JSON: what the step's result is a function of
        ("detail", "string"),  # JSON: the step's figures then (counts, checks)
        ("run_id", "string"),
        ("recorded_at", "timestamp"),
    ),
    keys=("step", "day"),
)
