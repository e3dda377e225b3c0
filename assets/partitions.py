"""Partitions, defined once and imported everywhere."""

import dagster as dg

FIRST_SYNC_DATE = "2024-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_SYNC_DATE, timezone="UTC")
