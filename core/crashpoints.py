"""Named crash points for the crash tests: ``FINLAKE_CRASH_AT=<name>`` kills the process there.

The process dies with ``os._exit`` (no cleanup, no finally blocks), as a power cut or an
OOM kill would leave it. Outside the tests the variable is unset and this is a no-op.
"""

from __future__ import annotations

import os

CRASH_EXIT_CODE = 137
POINTS = (
    "sync.after_page",  # some pages of an update landed, no manifest yet
    "sync.before_cursor_save",  # all pages and the manifest landed, cursor not saved
    "merge.mid",  # inside the silver MERGE, while Spark evaluates its source
    "merge.after_merge",  # silver merged; supersession, accounts, gold not yet
    "gold.before_merge",  # silver complete; gold not refreshed
)
FORGET_POINTS = (  # in ``finlake forget-user`` (lake/forget.py), not in the nightly
    "forget.before_old_versions",  # the person's rows and objects deleted, old versions kept
    "forget.after_revoke",  # data gone, links revoked; credentials and pseudonym not deleted
)
KEY_POINTS = (  # in `finlake keys rotate` (tests/security/test_sec_keys.py)
    "keys.key_file_written",  # a new key's temporary file synced, not yet under its name
    "keys.resealed",  # tokens re-encrypted in memory under the new key, nothing committed
    "keys.committed",  # credentials re-encrypted and committed; old versions and keys remain
)


def crash_point(name: str) -> None:
    if os.environ.get("FINLAKE_CRASH_AT") == name:
        os._exit(CRASH_EXIT_CODE)


def armed(name: str) -> bool:
    return os.environ.get("FINLAKE_CRASH_AT") == name
