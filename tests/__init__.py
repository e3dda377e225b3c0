"""finlake's tests: one folder per package of the product, support/ for shared builders,
e2e/ for whole runs."""
