"""The dashboard's data layer: every page reads the lake through these modules.

* ``queries``: the scoped, cached DuckDB access (:func:`queries.frame` for one signed-in
  person, the connection and result cache, :func:`queries.scoped_sql`).
* ``taxonomy``: category names and choices as a person sees them.
* ``money``: accounts, net worth, budgets, alerts, unusual activity, spending, cash flow,
  trends and recurring payments.
* ``txns``: the transaction search (:class:`txns.TxnFilter`) and one transaction's look-ups.
* ``aggregates``: the analyst's de-identified figures across people (analyst sandbox).
"""
