"""Wealth: daily balances and net worth, recurring payments."""
