"""Checks at the door, before a command writes anything: the home exists, the person exists."""

from __future__ import annotations

import sys

from core.settings import Settings
from lake.lake import Lake

HOME_MAKERS = ("demo", "link-sandbox")  # the only commands that may create a home
HOMELESS = ("sandbox-labelled", "spark-delta")  # never read or write a home
READERS = ("sql", "dashboard", "budget show", "login list", "quarantine list",
           "quarantine show", "keys status")  # work on a read-only home


def home_problem(settings: Settings, command: str) -> str | None:
    """Why ``command`` (with its sub-command, e.g. ``budget show``) cannot run on the
    configured home, or None. A mistyped FINLAKE_HOME must not answer from, or create, an
    empty home; a command that writes must not start on a home it cannot write."""
    name = command.split()[0]
    if name in HOMELESS:
        return None
    home = settings.home
    if not home.is_dir():
        if name in HOME_MAKERS and not home.exists():
            return None
        what = "is not a directory" if home.exists() else "does not exist"
        return (f"finlake: the finlake home {home} (FINLAKE_HOME) {what}: check the path, or "
                "create a home with `finlake demo` or `finlake link-sandbox` (sandbox bank), "
                f"or `mkdir -p {home}` for an empty one; nothing was created")
    from finlake.failures import home_state

    state = None if command in READERS else home_state(home)
    if state:
        return (f"finlake: {state}: `finlake {command}` writes there; free space or make it "
                "writable (or point FINLAKE_HOME elsewhere); nothing was written")
    return None


def refuse_unknown_user(lake: Lake, user_id: str, command: str) -> bool:
    """True (after saying so) when the lake knows no person ``user_id``: per-user commands
    write nothing for a mistyped id."""
    from lake.people import has_user

    if has_user(lake, user_id):
        return False
    print(f"finlake {command}: no user {user_id!r} in this lake (no linked item and no "
          "transactions): check the id, or link the person's bank first; nothing was changed",
          file=sys.stderr)
    return True
