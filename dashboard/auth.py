"""Dashboard sign-in: logins, argon2id password hashes, and the :class:`Principal` a session
acts as.

A login (table ``logins``) belongs either to one person (role ``user``, with their
``user_id``) or to an analyst (role ``analyst``, no user id: aggregate views only). Passwords
are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended
parameter set); a hash made with older parameters is replaced at the next sign-in. A login
with no password hash signs in only through the OIDC provider (Streamlit's ``st.login``, when
``.streamlit/secrets.toml`` has an ``[auth]`` section): the provider's verified e-mail
address is the login.

Only this module makes a :class:`Principal` (:func:`verify`, :func:`oidc_principal`, and
:func:`resume` for a signed session cookie, ``dashboard/session_cookie.py``); the data layer
(``dashboard/data/``) takes nothing else, and binds the user of every per-user query from it.

Each login has a session epoch (a random number, 0 in lakes written before there was one) that
its session cookies are signed with. Signing out, disabling the login and replacing it (a new
password) renew the epoch, which ends every session of the login, on every device.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lake.audit_log import audit
from lake.people import has_user
from lake.small_tables import add_missing_columns, read_rows, update_columns, upsert_rows
from lake.tables import LOGINS

if TYPE_CHECKING:
    from lake.lake import Lake

log = logging.getLogger(__name__)

ROLES = ("user", "analyst")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing a megabyte of "password" is a cheap way to burn CPU
LOGIN_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,253}")
MAX_FAILURES = 5  # failed sign-ins per login within FAILURE_WINDOW before it is throttled
FAILURE_WINDOW = 300.0  # seconds
DASHBOARD = "dashboard"  # the audit actor of everything done through the dashboard

HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4

_MINTING: ContextVar[bool] = ContextVar("finlake_minting_principal", default=False)


class LoginError(ValueError):
    """A login that cannot be created or changed, with what to do instead."""


@dataclass(frozen=True)
class Principal:
    """Who a dashboard session acts as. Made only by this module when someone signs in
    (constructing one elsewhere, or ``dataclasses.replace``, raises TypeError)."""

    login: str
    user_id: str | None
    role: str

    def __post_init__(self) -> None:
        if not _MINTING.get():
            raise TypeError("a Principal is made only by dashboard.auth, when someone signs in")
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if (self.role == "user") != bool(self.user_id):
            raise ValueError("a user login names one user id; an analyst login none")

    @property
    def is_analyst(self) -> bool:
        return self.role == "analyst"


def _mint(login: str, user_id: str | None, role: str) -> Principal:
    token = _MINTING.set(True)
    try:
        return Principal(login, user_id, role)
    finally:
        _MINTING.reset(token)


def normalise_login(login: str) -> str:
    """Logins compare case-insensitively (they are often e-mail addresses)."""
    name = str(login or "").strip().lower()
    if not LOGIN_PATTERN.fullmatch(name):
        raise LoginError(f"{login!r} is not a valid login: use 1-254 letters, digits and "
                         "'.', '_', '@', '+', '-' (an e-mail address works), starting with a "
                         "letter or digit.")
    return name


def _row(lake: Lake, login: str) -> dict[str, Any] | None:
    import pyarrow.dataset as ds

    rows = read_rows(lake, LOGINS, ds.field("login") == login)
    return rows[0] if rows else None


def has_logins(lake: Lake) -> bool:
    """Whether anybody can sign in yet (from the table's metadata: no rows are read)."""
    dt = lake.delta(LOGINS)
    if dt is None:
        return False
    counts = dt.get_add_actions(flatten=True).column("num_records").to_pylist()
    return any(n is None or n > 0 for n in counts)


def list_logins(lake: Lake) -> list[dict[str, Any]]:
    """Every login, sorted, without its hash (``has_password`` says whether it has one)."""
    rows = sorted(read_rows(lake, LOGINS), key=lambda r: r["login"])
    return [{"login": r["login"], "user_id": r["user_id"], "role": r["role"],
             "has_password": bool(r["password_hash"]), "created_at": r["created_at"],
             "disabled": bool(r["disabled"])} for r in rows]


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise LoginError(f"The password is too short: use at least {MIN_PASSWORD} characters "
                         "(a few random words work well).")
    if len(password) > MAX_PASSWORD:
        raise LoginError(f"The password is too long: at most {MAX_PASSWORD} characters.")


def create_login(lake: Lake, login: str, password: str | None, user_id: str | None,
                 role: str, *, replace: bool = False, actor: str = DASHBOARD) -> dict[str, Any]:
    """Create (or with ``replace`` reset) a login; returns its row without the hash.

    ``password`` None makes a login that signs in only through the OIDC provider. A user
    login must name a user with data in the lake; an analyst login names none.
    """
    name = normalise_login(login)
    if role not in ROLES:
        raise LoginError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
    if role == "user":
        if not user_id:
            raise LoginError("A user login needs the user id it belongs to (--user USER_ID).")
        if not has_user(lake, user_id):
            raise LoginError(f"No user {user_id!r} in this lake (no linked item and no "
                             "transactions): link the person's bank first, or check the id.")
    elif user_id:
        raise LoginError("An analyst login belongs to nobody: leave out the user id.")
    if password is not None:
        check_password(password)
    existing = _row(lake, name)
    if existing is not None and not replace:
        raise LoginError(f"The login {name!r} exists already: pick another name, or replace "
                         "it (finlake login add ... --replace).")
    row = {"login": name, "user_id": user_id if role == "user" else None, "role": role,
           "password_hash": HASHER.hash(password) if password is not None else None,
           "created_at": datetime.now(UTC), "disabled": False,
           "session_epoch": _new_epoch()}  # a replaced login's sessions end
    upsert_rows(lake, LOGINS, [row])
    audit(lake, actor, "create_login", user_id=row["user_id"], role=role,
          replaced=existing is not None, password=password is not None)
    return {k: v for k, v in row.items() if k not in ("password_hash", "session_epoch")}


def disable_login(lake: Lake, login: str) -> bool:
    """Refuse every future sign-in of ``login`` and end its sessions (an open one at its
    next check, within a minute); False if there is no such login."""
    row = _row(lake, normalise_login(login))
    if row is None:
        return False
    upsert_rows(lake, LOGINS, [{**row, "disabled": True, "session_epoch": _new_epoch()}])
    return True


# --- sessions ----------------------------------------------------------------------------------

def _new_epoch() -> int:
    return secrets.randbits(62)


def _epoch(row: dict[str, Any]) -> int:
    return int(row.get("session_epoch") or 0)  # a lake from before the column: 0


def session_epoch(lake: Lake, login: str) -> int | None:
    """The epoch a new session cookie of ``login`` is signed with (None: no such login)."""
    row = _row(lake, normalise_login(login))
    return None if row is None else _epoch(row)


def resume(lake: Lake, login: str, epoch: int) -> Principal | None:
    """The principal of a verified session cookie: None unless ``login`` exists, may sign in
    and still has the ``epoch`` the cookie was signed with. Not audited (it runs at every
    page load); the sign-in that made the cookie was."""
    try:
        row = _row(lake, normalise_login(login))
    except LoginError:
        return None
    if row is None or row["disabled"] or _epoch(row) != epoch:
        return None
    return _mint(row["login"], row["user_id"], row["role"])


def sign_out(lake: Lake, who: Principal) -> None:
    """End every session of ``who``'s login (a new epoch: its cookies, copied or not, are
    refused from now on), audited as ``sign_out``."""
    dt = lake.delta(LOGINS)
    if dt is not None:
        add_missing_columns(dt, LOGINS)  # a lake written before sessions had epochs
        update_columns(lake, LOGINS, [{"login": who.login, "session_epoch": _new_epoch()}],
                       ["session_epoch"])
    audit(lake, DASHBOARD, "sign_out", user_id=who.user_id, role=who.role)


# --- throttling failed sign-ins ----------------------------------------------------------------

class _Throttle:
    """Failed sign-ins per login in this process: after MAX_FAILURES within FAILURE_WINDOW,
    the login is refused (without checking its password) until the oldest failure ages out."""

    MAX_LOGINS = 10_000  # remembered at most (the oldest are forgotten first)

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, login: str, now: float) -> deque[float]:
        seen = self._failures.get(login)
        if seen is None:
            return deque()
        while seen and now - seen[0] > FAILURE_WINDOW:
            seen.popleft()
        return seen

    def blocked(self, login: str) -> bool:
        with self._lock:
            return len(self._recent(login, self.clock())) >= MAX_FAILURES

    def failed(self, login: str) -> None:
        with self._lock:
            now = self.clock()
            seen = self._recent(login, now)
            seen.append(now)
            self._failures[login] = seen
            self._failures.move_to_end(login)
            while len(self._failures) > self.MAX_LOGINS:
                self._failures.popitem(last=False)

    def succeeded(self, login: str) -> None:
        with self._lock:
            self._failures.pop(login, None)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


THROTTLE = _Throttle()
_DUMMY: dict[tuple[int, int, int], str] = {}


def _dummy_verify(password: str) -> None:
    """Spend what checking a real hash costs, so an unknown login takes as long as a known one."""
    params = (HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism)
    if params not in _DUMMY:
        _DUMMY[params] = HASHER.hash("finlake dummy password, never a real one")
    with contextlib.suppress(VerificationError):
        HASHER.verify(_DUMMY[params], password)


def check(lake: Lake, login: str, password: str) -> tuple[Principal | None, str]:
    """(principal, "ok") or (None, why): "unknown", "bad_password", "disabled",
    "no_password" (OIDC only), "throttled" or "invalid". The reason is for the audit log,
    never for the person signing in (they only learn that it failed)."""
    try:
        name = normalise_login(login)
    except LoginError:
        _dummy_verify(password or "")
        return None, "invalid"
    if not password or len(password) > MAX_PASSWORD:
        _dummy_verify("")
        return None, "invalid"
    if THROTTLE.blocked(name):
        _dummy_verify(password)
        return None, "throttled"
    row = _row(lake, name)
    stored = row["password_hash"] if row is not None else None
    if row is None or not stored:
        _dummy_verify(password)
        THROTTLE.failed(name)
        return None, "unknown" if row is None else "no_password"
    try:
        HASHER.verify(stored, password)
    except (VerifyMismatchError, InvalidHashError, VerificationError):
        THROTTLE.failed(name)
        return None, "bad_password"
    if row["disabled"]:
        return None, "disabled"
    THROTTLE.succeeded(name)
    if HASHER.check_needs_rehash(stored):
        try:
            upsert_rows(lake, LOGINS, [{**row, "password_hash": HASHER.hash(password)}])
        except Exception:  # the sign-in still counts; the next one tries again
            log.warning("could not store a new password hash", exc_info=True)
    return _mint(name, row["user_id"], row["role"]), "ok"


def verify(lake: Lake, login: str, password: str) -> Principal | None:
    """The principal of ``login`` if ``password`` is right and the login may sign in."""
    return check(lake, login, password)[0]


def sign_in(lake: Lake, login: str, password: str) -> Principal | None:
    """:func:`verify`, audited as ``sign_in`` (the person's pseudonym for a user login) or
    ``sign_in_failed`` (with the reason only)."""
    principal, reason = check(lake, login, password)
    if principal is None:
        audit(lake, DASHBOARD, "sign_in_failed", reason=reason)
    else:
        audit(lake, DASHBOARD, "sign_in", user_id=principal.user_id, role=principal.role,
              method="password")
    return principal


def oidc_principal(lake: Lake, email: str | None, email_verified: bool | None = None
                   ) -> Principal | None:
    """The principal of the login named by the OIDC provider's e-mail address (None: the
    provider said the address is not verified, there is no such login, or it is disabled).
    Audited like :func:`sign_in`."""
    principal, reason = None, "invalid"
    if email and email_verified is not False:
        try:
            name = normalise_login(email)
        except LoginError:
            name = None
        row = _row(lake, name) if name else None
        if row is None:
            reason = "unknown" if name else "invalid"
        elif row["disabled"]:
            reason = "disabled"
        else:
            principal = _mint(name, row["user_id"], row["role"])
    elif email:
        reason = "unverified"
    if principal is None:
        audit(lake, DASHBOARD, "sign_in_failed", reason=reason, method="oidc")
    else:
        audit(lake, DASHBOARD, "sign_in", user_id=principal.user_id, role=principal.role,
              method="oidc")
    return principal
