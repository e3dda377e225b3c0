"""What counts as spending: the one rule gold's spend (pipelines/gold/spend.py) and the
dashboard's drill-down (dashboard/data/txns.py) both follow. Plain data, no Spark.

Amounts follow the partner's sign (Plaid): positive is money out, negative money in. Each
countable transaction is one flow:

* ``transfer``: money moving between the person's own accounts or debts (the TRANSFER_IN and
  TRANSFER_OUT primaries, a credit-card payment) and borrowed money coming in
  (LOAN_DISBURSEMENTS): neither income nor spend.
* ``income``: the INCOME primary, and money coming in that has no category (NULL, a code no
  taxonomy knows, Plaid's OTHER): an uncategorised ACH deposit is income until someone says
  otherwise, never negative spending. Net cash flow is the same either way.
* ``expense``: everything else. A refund (money in) in a spending category such as groceries
  stays an expense and nets against that category's spend, as in Mint or Monarch; a month
  with more refunds than purchases in a category shows that category below zero.
"""

from __future__ import annotations

UNCATEGORISED = "UNCATEGORIZED"
EXPENSE, INCOME, TRANSFER = "expense", "income", "transfer"
INCOME_PRIMARY = "INCOME"
TRANSFER_PRIMARY = ("TRANSFER_IN", "TRANSFER_OUT", "LOAN_DISBURSEMENTS")
TRANSFER_DETAILED = ("LOAN_PAYMENTS_CREDIT_CARD_PAYMENT",)
# Primaries that say nothing about what money was for: money in there is income.
NO_CATEGORY_PRIMARY = (UNCATEGORISED, "OTHER")
# Primaries never shown as spending (whatever the amount).
NOT_SPEND_PRIMARY = (INCOME_PRIMARY, *TRANSFER_PRIMARY)

