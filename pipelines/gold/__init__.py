"""Gold by (user, month) cell: spend, cash flow, trends, budgets, unusual activity."""
