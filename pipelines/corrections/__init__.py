"""Corrections redone through silver and gold: a person's category, re-categorisation after
rules or overrides change, and released quarantine records."""
