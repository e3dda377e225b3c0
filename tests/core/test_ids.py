"""Random ids never look like an account, routing or card number.

A 16-character hex validation id came out all digits once in CI ("9402632754654573") and the
release scan rightly read it as an account number; any DLP tool would, and so would our own
redaction, which would then mangle the id in logs.
"""

from __future__ import annotations

import re

import pytest

from core.ids import new_id
from core.redaction import redact
from tests.support.secret_scan import Scanner


def test_no_id_is_read_as_a_number_by_the_scan_or_the_redaction() -> None:
    scanner = Scanner({})
    for n in range(40_000):
        length = (12, 16)[n % 2]
        value = new_id(length, "cli-" if n % 3 == 0 else "")
        scanner.text("id", value)
        scanner.text("path", f"_staging/silver/sync_date=2026-02-02/run={value}/part-0.parquet")
        assert redact(value) == value
    assert scanner.hits == []


def test_ids_are_random_hex_of_the_length_asked_and_start_with_a_letter() -> None:
    ids = {new_id(16) for _ in range(5_000)}
    assert len(ids) == 5_000
    assert all(re.fullmatch(r"[a-f][0-9a-f]{15}", v) for v in ids)
    assert not any(re.search(r"\d{6}", v) for v in ids)
    assert new_id(12, "cli-").startswith("cli-") and len(new_id(12, "cli-")) == 16
    with pytest.raises(ValueError, match="at least 2"):
        new_id(1)
