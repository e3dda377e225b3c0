"""``finlake login``: create, list and disable dashboard logins. Replacing a login (a new
password) or disabling it ends its dashboard sessions: their cookies are refused.

Passwords are read from a prompt (asked twice, never echoed) or from standard input with
``--password-stdin`` (one line), never from the command line, where ``ps`` and the shell
history would keep them. The hash (argon2id) is all the lake stores.
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers

USAGE_HINT = ("e.g. finlake login add alice --user u0000042, or finlake login add ana "
              "--analyst")


def _lake(settings: Settings):
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def _fail(message: str) -> int:
    print(f"finlake login: {message}", file=sys.stderr)
    return 2


def _password(from_stdin: bool) -> str:
    """The new password, from one line of standard input or asked twice at a prompt."""
    from dashboard.auth import LoginError

    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise LoginError("--password-stdin read no password: pipe one line, e.g. "
                             "`pass show finlake/alice | finlake login add alice --user U "
                             "--password-stdin`.")
        return password
    if not sys.stdin.isatty():
        raise LoginError("no terminal to ask for the password: use --password-stdin and "
                         "pipe it in.")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Same password again: "):
        raise LoginError("the two passwords differ; nothing was changed. Try again.")
    return first


def login_add(settings: Settings, login: str, user_id: str | None, analyst: bool,
              password_stdin: bool, no_password: bool, replace: bool) -> int:
    """Create a login for one person (``--user``) or an analyst (``--analyst``)."""
    from dashboard.auth import LoginError, check_password, create_login
    from lake.audit_log import cli_actor

    if analyst == bool(user_id):
        return _fail(f"give exactly one of --user USER_ID or --analyst ({USAGE_HINT})")
    if no_password and password_stdin:
        return _fail("--no-password and --password-stdin contradict each other: a login "
                     "without a password signs in through the OIDC provider only")
    lake = _lake(settings)
    try:
        password = None
        if not no_password:
            password = _password(password_stdin)
            check_password(password)
        row = create_login(lake, login, password, user_id, "analyst" if analyst else "user",
                           replace=replace, actor=cli_actor())
    except LoginError as exc:
        return _fail(str(exc))
    who = "an analyst (aggregate views only)" if analyst else f"user {row['user_id']}"
    how = "a password" if password is not None else "the OIDC provider only"
    print(f"login {row['login']} {'replaced' if replace else 'created'}: {who}, signs in with "
          f"{how}")
    return 0


def login_list(settings: Settings) -> int:
    """One line per login: name, role, user, how it signs in, disabled."""
    from dashboard.auth import list_logins

    rows = list_logins(_lake(settings))
    for r in rows:
        print(f"{r['login']:<32} {r['role']:<8} {r['user_id'] or '-':<20} "
              f"{'password' if r['has_password'] else 'oidc':<9}"
              f"{'  disabled' if r['disabled'] else ''}")
    print(f"{len(rows)} login(s)")
    return 0


def login_disable(settings: Settings, login: str) -> int:
    from dashboard.auth import LoginError, disable_login

    try:
        found = disable_login(_lake(settings), login)
    except LoginError as exc:
        return _fail(str(exc))
    if not found:
        return _fail(f"no login {login!r}; see finlake login list")
    from lake.audit_log import audit, cli_actor

    audit(_lake(settings), cli_actor(), "disable_login")  # the login name stays out
    print(f"login {login.strip().lower()} disabled: it can no longer sign in "
          "(its open dashboard sessions end within a minute)")
    return 0


def demo_login(settings: Settings) -> str | None:
    """For ``finlake demo``: when the lake has no login yet, a login ``demo`` for the first
    sandbox user (by user id) with a random password; the line that says how to sign in
    (printed once by the caller, never logged), or None."""
    import secrets

    from dashboard.auth import create_login, list_logins
    from lake.audit_log import cli_actor
    from lake.small_tables import read_rows
    from lake.tables import ACCOUNTS

    lake = _lake(settings)
    if list_logins(lake):
        return None
    users = sorted({r["user_id"] for r in read_rows(lake, ACCOUNTS) if r["user_id"]})
    if not users:
        return None
    password = secrets.token_urlsafe(18)
    create_login(lake, "demo", password, users[0], "user", actor=cli_actor())
    return f"sign in as demo / {password}"


def register(sub: Subparsers) -> None:
    lg = sub.add_parser("login", help="dashboard logins: add, list, disable")
    lg_sub = lg.add_subparsers(dest="login_command", required=True)
    ladd = lg_sub.add_parser("add", help="create a login (the password is asked twice)")
    ladd.add_argument("login", help="the name to sign in with (an e-mail address for OIDC)")
    who = ladd.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", dest="user_id", metavar="USER_ID",
                     help="the person whose data this login sees")
    who.add_argument("--analyst", action="store_true",
                     help="aggregate, de-identified views only")
    ladd.add_argument("--password-stdin", action="store_true",
                      help="read the password from one line of standard input")
    ladd.add_argument("--no-password", action="store_true",
                      help="sign in through the OIDC provider only (login = e-mail)")
    ladd.add_argument("--replace", action="store_true",
                      help="replace an existing login (e.g. to reset its password)")
    ladd.set_defaults(handler=lambda settings, args: login_add(
        settings, args.login, args.user_id, args.analyst, args.password_stdin,
        args.no_password, args.replace))
    llist = lg_sub.add_parser("list", help="every login, its role and user")
    llist.set_defaults(handler=lambda settings, args: login_list(settings))
    ldis = lg_sub.add_parser("disable", help="refuse every future sign-in of a login")
    ldis.add_argument("login")
    ldis.set_defaults(handler=lambda settings, args: login_disable(settings, args.login))
