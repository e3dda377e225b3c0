"""The table registry: every lake table's name, layer, schema, keys and partitioning.

Writers, readers, quality checks, DuckDB views and the dashboard all take table facts from
here; no table path or schema is spelled anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    layer: str  # raw | silver | gold | reference | ops
    columns: tuple[tuple[str, str], ...]  # (name, Spark SQL type)
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""
    properties: tuple[tuple[str, str], ...] = ()  # Delta table properties set at creation

    @property
    def key(self) -> str:
        """Object-store key (relative to the lake root) of the table's directory."""
        return f"tables/{self.layer}/{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def ddl(self) -> str:
        return ", ".join(f"{c} {t}" for c, t in self.columns)


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
        ("status", "string"),  # live | removed | superseded
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

CREDENTIALS = Table(
    name="credentials",
    layer="ops",
    description="Partner items; access tokens stored only envelope-encrypted.",
    columns=(
        ("credentials_id", "string"),
        ("user_id", "string"),
        ("institution_id", "string"),
        ("item_id", "string"),
        ("encrypted_token", "string"),
        ("wrapped_key", "string"),
        ("key_id", "string"),
        ("status", "string"),
        ("failure_count", "int"),
        ("created_at", "timestamp"),
    ),
    keys=("credentials_id",),
)

INSTITUTIONS = Table(
    name="institutions",
    layer="reference",
    description="Partner institutions with their rate limits and refresh cadence.",
    columns=(
        ("institution_id", "string"),
        ("name", "string"),
        ("partner", "string"),
        ("rate_limit_qps", "int"),
        ("refresh_every_days", "int"),
        ("sends_pending", "boolean"),
    ),
    keys=("institution_id",),
)

SYNC_JOBS = Table(
    name="sync_jobs",
    layer="audit",
    description="One row per partner sync attempt: outcome, error class, counts, timings.",
    columns=(
        ("job_id", "string"),
        ("run_id", "string"),
        ("sync_date", "date"),
        ("trigger", "string"),  # nightly | on_demand
        ("user_id", "string"),
        ("item_id", "string"),
        ("institution_id", "string"),
        ("attempt", "int"),
        ("started_at", "timestamp"),
        ("finished_at", "timestamp"),
        ("status", "string"),  # success | retrying | deferred | failed | skipped
        ("error_class", "string"),
        ("error_code", "string"),
        ("detail", "string"),
        ("pages", "int"),
        ("txns_added", "int"),
        ("txns_modified", "int"),
        ("txns_removed", "int"),
        ("rate_wait_seconds", "double"),
        ("seconds", "double"),
    ),
    keys=("job_id",),
    partition_by=("sync_date",),
)

INSTITUTION_HEALTH = Table(
    name="institution_health",
    layer="gold",
    description="Per institution and day: items synced, success rate, silent-empty detection, "
                "freshness SLA (due, stale, lag).",
    columns=(
        ("institution_id", "string"),
        ("sync_date", "date"),
        ("items", "int"),
        ("items_succeeded", "int"),
        ("items_empty", "int"),
        ("success_rate", "double"),
        ("error_classes", "string"),
        ("status", "string"),  # healthy | degraded | silent | down | no_attempts
        ("items_due", "int"),  # freshness SLA (pipelines/health/freshness.py): due for the day
        ("items_stale", "int"),  # due but not synced by the deadline
        ("lag_hours", "double"),  # deadline - oldest last success among due items
        ("sla_met", "boolean"),
    ),
    keys=("institution_id", "sync_date"),
)

ALERTS = Table(
    name="alerts",
    layer="gold",
    description="Alert outbox; ``alert_key`` makes every alert idempotent.",
    columns=(
        ("alert_key", "string"),
        ("kind", "string"),
        ("user_id", "string"),
        ("subject", "string"),
        ("detail", "string"),
        ("period", "string"),
        ("created_at", "timestamp"),
        ("sent_at", "timestamp"),
        ("sent_to", "string"),  # the sink that took it: log | webhook
    ),
    keys=("alert_key",),
)

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
    ),
    keys=("account_id", "date"),
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

QUALITY_RESULTS = Table(
    name="quality_results",
    layer="audit",
    description="Every audit run: suite and version, what it validated, outcome per severity, "
                "the failed expectations and the HTML report (GX data docs) it wrote.",
    columns=(
        ("validation_id", "string"),
        ("suite", "string"),
        ("suite_version", "int"),
        ("layer", "string"),
        ("scope", "string"),  # the partition (sync date) or "rebuild"
        ("rows_validated", "bigint"),
        ("passed", "boolean"),  # no error-severity expectation failed
        ("errors", "int"),
        ("warnings", "int"),
        ("failures", "string"),  # JSON: the failed expectations with their figures
        ("report_ref", "string"),
        ("validated_at", "timestamp"),
        ("sync_date", "date"),
    ),
    keys=("validation_id",),
    partition_by=("sync_date",),
)

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
                "analyst), its role and a password hash from a memory-hard KDF.",
    columns=(
        ("login", "string"),
        ("user_id", "string"),  # null for role analyst
        ("role", "string"),  # user | analyst
        ("password_hash", "string"),
        ("created_at", "timestamp"),
        ("disabled", "boolean"),
    ),
    keys=("login",),
)

# Analysts' de-identified tables (lake/analyst_tables.py): these columns identify a person,
# an account or a transaction and are replaced by keyed pseudonyms (joins still work); the
# free-text and partner-id columns are left out; operational tables are never shown.
PSEUDONYMISED_COLUMNS = frozenset({"user_id", "account_id", "item_id", "txn_id",
                                   "credentials_id", "job_id", "record_id"})
WITHHELD_COLUMNS = frozenset({"description", "partner_txn_id", "pending_partner_txn_id",
                              "raw_ref", "record", "detail_text"})

REGISTRY: dict[str, Table] = {
    t.name: t
    for t in (TRANSACTIONS, ACCOUNTS, QUARANTINE, MONTHLY_SPEND, MERCHANT_RULES, CATEGORIES,
              CREDENTIALS, INSTITUTIONS, SYNC_JOBS, INSTITUTION_HEALTH, ALERTS,
              CATEGORY_OVERRIDES, TRANSACTION_OVERRIDES, CUSTOM_CATEGORIES,
              BALANCE_OBSERVATIONS, BALANCES_DAILY,
              NET_WORTH_DAILY, RECURRING_PAYMENTS, DAILY_SPEND, MONTHLY_CASHFLOW, SPEND_TRENDS,
              BUDGETS, BUDGET_PROGRESS, UNUSUAL_ACTIVITY, GOLD_CHANGES, QUALITY_RESULTS,
              AUDIT_LOG, AUDIT_SUBJECTS, LOGINS)
}


def table(name: str) -> Table:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
