"""Errors the CLI turns into one line (finlake/failures.py) instead of a traceback."""

from __future__ import annotations


class ServiceUnavailable(ConnectionError):
    """A configured service (Spark Connect, Redis, PostgreSQL, an S3 endpoint) cannot be
    reached; the message names it, where it was looked for and which setting points there.

    Raised ``from None``: a Dagster run reports the innermost cause of a failure, which
    would be the client library's error instead of this line (its text is in the line)."""
