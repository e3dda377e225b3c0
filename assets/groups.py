"""Which assets each job materialises: the one list of the nightly's assets."""

from assets.categories import category_model, crowd_rules
from assets.health import institution_health
from assets.spend import GOLD_SPEND, alert_outbox, gold_spend
from assets.table_assets import input_specs
from assets.transactions import raw_transaction_pages, silver_transactions
from assets.wealth import net_worth, recurring_payments

# The daily-partitioned assets of the nightly job (the multi-assets with the tables their
# step writes besides its own asset), in run order.
NIGHTLY_ASSETS = [raw_transaction_pages, silver_transactions, gold_spend, institution_health,
                  net_worth, recurring_payments, alert_outbox]
# A replay re-merges pages already landed: no partner calls, so no sync and no health.
REPLAY_ASSETS = [a for a in NIGHTLY_ASSETS if a not in (raw_transaction_pages, institution_health)]
WEEKLY_ASSETS = [crowd_rules, category_model]
ALL_ASSETS = NIGHTLY_ASSETS + WEEKLY_ASSETS
# The tables people write (budgets, overrides, linked institutions): external assets.
INPUT_ASSETS = input_specs()
# The nightly's steps (one asset each, gold_spend's six tables included) whose partition must
# land by the SLA deadline: the freshness checks watch these.
FRESHNESS_KEYS = ["raw_transaction_pages", "silver_transactions", *GOLD_SPEND,
                  "institution_health", "net_worth", "recurring_payments", "alert_outbox"]
