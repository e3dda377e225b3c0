"""Domain transforms, one folder per domain, in the order the data flows.

``categories`` (reference data, rules, model) < ``raw`` (contract, intake) | ``health``
(institutions, freshness, alert delivery) < ``silver`` (rows, pending matching, MERGE, ledger
of changed cells, reconciliation) < ``gold`` (spend, budgets, unusual activity) < ``wealth``
(net worth, recurring payments) < ``corrections`` (a person's category, re-categorisation,
released records). Each domain's ``refresh`` module is its one lake-facing step; the rest is
DataFrame in, DataFrame out. pyproject's import contract keeps the order.
"""
