"""Sandbox bank: a deterministic HTTP server speaking Plaid's /transactions/sync."""
