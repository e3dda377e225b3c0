"""Short random ids (run, validation, staging ids) that can never be read as a number.

A hex id is all digits now and then (one 16-character id in ~1,900, one 12-character id in
~280), and a run of 10-17 digits is exactly what an account number looks like: the redaction,
the release scan and any DLP tool a partner runs over our logs would take it for one. So ids
start with a letter and never hold more than five digits in a row.
"""

from __future__ import annotations

import re
import uuid

_LONG_DIGITS = re.compile(r"\d{6}")


def new_id(length: int = 12, prefix: str = "") -> str:
    """`prefix` then `length` random hex characters, the first a letter, no six digits in a row."""
    if length < 2:
        raise ValueError("an id needs at least 2 characters")
    while True:
        token = uuid.uuid4().hex[:length]
        if token[0].isalpha() and not _LONG_DIGITS.search(token):
            return prefix + token
