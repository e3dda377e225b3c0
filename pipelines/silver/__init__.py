"""Silver: transaction and account rows, pending matching, the MERGE, the ledger of changed
gold cells, and the raw-silver reconciliation."""
