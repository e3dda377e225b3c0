"""Which assets each job materialises: the one list of the nightly's assets."""

from assets.categories import category_model, crowd_rules
from assets.health import institution_health
from assets.spend import alert_outbox, gold_spend
from assets.transactions import raw_transaction_pages, silver_transactions
from assets.wealth import net_worth, recurring_payments

# The daily-partitioned assets of the nightly job (gold_spend: its six specs), in run order.
NIGHTLY_ASSETS = [raw_transaction_pages, silver_transactions, gold_spend, institution_health,
                  net_worth, recurring_payments, alert_outbox]
# A replay re-merges pages already landed: no partner calls, so no sync and no health.
REPLAY_ASSETS = [a for a in NIGHTLY_ASSETS if a not in (raw_transaction_pages, institution_health)]
WEEKLY_ASSETS = [crowd_rules, category_model]
ALL_ASSETS = NIGHTLY_ASSETS + WEEKLY_ASSETS
