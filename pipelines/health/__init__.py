"""Health: institutions' sync outcomes, freshness against the SLA, and alert delivery."""
