"""Security tables: the append-only audit log, audit pseudonyms and dashboard sign-ins, and the
columns analysts never see as they are. Registered in lake/tables.py.
"""

from __future__ import annotations

from lake.table import Table

AUDIT_LOG = Table(
    name="audit_log",
    layer="audit",
    description="Append-only (delta.appendOnly): who did what, when: credential decryptions, "
                "overrides, budget changes, exports, sign-ins, key rotations, deletions. The "
                "person is a subject pseudonym (audit_subjects); detail holds no personal data.",
    columns=(
        ("audit_id", "string"),
        ("occurred_at", "timestamp"),
        ("actor", "string"),  # pipeline:<job> | cli:<os user> | dashboard | analyst:<os user>
        ("action", "string"),
        ("subject", "string"),  # pseudonym of the person concerned, or null
        ("detail", "string"),  # JSON: counts, codes, table versions; never ids or text
        ("day", "date"),
    ),
    keys=("audit_id",),
    partition_by=("day",),
    properties=(("delta.appendOnly", "true"),),
)

AUDIT_SUBJECTS = Table(
    name="audit_subjects",
    layer="ops",
    description="Each person's random audit pseudonym. Forgetting a person deletes their row, "
                "after which their audit_log rows can no longer be tied to anyone.",
    columns=(
        ("user_id", "string"),
        ("subject", "string"),
        ("created_at", "timestamp"),
    ),
    keys=("user_id",),
)

LOGINS = Table(
    name="logins",
    layer="ops",
    description="Dashboard sign-ins: a login name, the person it belongs to (or none for an "
                "analyst), its role, a password hash from a memory-hard KDF and the epoch "
                "its session cookies are signed with (renewed to end them all).",
    columns=(
        ("login", "string"),
        ("user_id", "string"),  # null for role analyst
        ("role", "string"),  # user | analyst
        ("password_hash", "string"),
        ("created_at", "timestamp"),
        ("disabled", "boolean"),
        ("session_epoch", "bigint"),  # null (lakes from before it) reads as 0
    ),
    keys=("login",),
)

# Analysts' de-identified tables (lake/analyst_tables.py): these columns identify a person,
# an account or a transaction and are replaced by keyed pseudonyms (joins still work); the
# free-text and partner-id columns are left out; operational tables are never shown.
PSEUDONYMISED_COLUMNS = frozenset({"user_id", "account_id", "item_id", "txn_id",
                                   "credentials_id", "job_id", "record_id"})
WITHHELD_COLUMNS = frozenset({"description", "partner_txn_id", "pending_partner_txn_id",
                              "raw_ref", "record", "detail_text",
                              "note"})  # a person's note on a transaction (lake/tables_notes.py)
