"""The dashboard's session cookie: a signed, expiring token that lets a reload or a new tab
carry on as the login that signed in.

A token is ``v1.<payload>.<signature>``: the payload is base64url JSON ``{"sub": login,
"ep": the login's session epoch, "iat": issued at, "exp": expires at, "sid": a random
session id}`` (seconds since the epoch), the signature base64url HMAC-SHA256 of
``v1.<payload>`` under the session key. The key is 32 random bytes in ``session.key`` in the
key directory (``FINLAKE_HOME/keys``, beside the key-encryption keys; created on first use,
mode 0600, never in the lake or the repository). Deleting it ends every session.

A token is refused when it is malformed, its signature is not the key's (compared in
constant time), it has expired (at most :data:`LIFETIME` after it was issued, whatever it
says), or its login no longer exists, is disabled or has a new epoch (signed out, password
replaced: ``dashboard.auth``). Only :func:`dashboard.auth.resume` turns it into a Principal.

Streamlit reads cookies (``st.context.cookies``, as the browser sent them when the page
loaded) but has no way to set one: the page writes it with a line of JavaScript
(:func:`write_script`, :func:`clear_script`), so the cookie is not HttpOnly. It is
``SameSite=Strict``, ``Path=/`` and ``Secure`` when the page is served over https.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.key_files import create_key_file
from dashboard import auth

if TYPE_CHECKING:
    from lake.lake import Lake

log = logging.getLogger(__name__)

COOKIE = "finlake_session"
KEY_FILE = "session.key"
KEY_BYTES = 32
LIFETIME = 12 * 3600  # seconds from sign-in, however active the session is
CLOCK_SKEW = 60  # seconds a token's issue time may lie in the future (another server's clock)
VERSION = "v1"
MAX_TOKEN = 2048  # characters: anything longer is not one of ours
TOKEN_PATTERN = re.compile(r"v1\.[A-Za-z0-9_-]{1,1600}\.[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Claims:
    """What a verified token says: whose session, under which epoch, until when."""

    login: str
    epoch: int
    issued_at: int
    expires_at: int
    session_id: str


def session_key(key_dir: Path, *, create: bool = False) -> bytes | None:
    """The key tokens are signed with; None if there is none yet (made when ``create``)."""
    path = key_dir / KEY_FILE
    if not path.exists():
        if not create:
            return None
        key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(key_dir, 0o700)
        # Whole or not at all (another process may make it first): never an empty key.
        create_key_file(path, secrets.token_hex(KEY_BYTES).encode())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        log.warning("%s is not a session key: no session cookie is accepted", path)
        return None
    return key if len(key) >= KEY_BYTES else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def mint(key: bytes, login: str, epoch: int, *, now: float | None = None,
         lifetime: int = LIFETIME) -> str:
    """A token for ``login`` (its current session ``epoch``), valid ``lifetime`` seconds."""
    issued = int(time.time() if now is None else now)
    payload = {"sub": login, "ep": epoch, "iat": issued, "exp": issued + lifetime,
               "sid": secrets.token_hex(12)}
    signed = f"{VERSION}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    return f"{signed}.{_signature(key, signed)}"


def claims(key: bytes, token: str | None, *, now: float | None = None,
           lifetime: int = LIFETIME) -> Claims | None:
    """What ``token`` says if ``key`` signed it and it has not expired, else None."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN \
            or not TOKEN_PATTERN.fullmatch(token):
        return None
    signed, _, signature = token.rpartition(".")
    if not hmac.compare_digest(_signature(key, signed), signature):
        return None
    try:
        body = json.loads(_unb64(signed.split(".", 1)[1]))
        found = Claims(body["sub"], body["ep"], body["iat"], body["exp"], body["sid"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None  # signed by us, so never expected: refused all the same
    if not (isinstance(found.login, str) and isinstance(found.session_id, str)
            and all(type(n) is int for n in (found.epoch, found.issued_at, found.expires_at))):
        return None
    at = time.time() if now is None else now
    if found.issued_at > at + CLOCK_SKEW or at >= min(found.expires_at,
                                                      found.issued_at + lifetime):
        return None
    return found


def principal(lake: Lake, key: bytes | None, token: str | None, *, now: float | None = None,
              lifetime: int = LIFETIME) -> auth.Principal | None:
    """The principal a session cookie stands for, or None (any reason: signed out)."""
    found = claims(key, token, now=now, lifetime=lifetime) if key else None
    return auth.resume(lake, found.login, found.epoch) if found else None


def seconds_left(key: bytes, token: str, *, now: float | None = None) -> int:
    """How long the browser should keep ``token`` (0: it is no longer valid)."""
    found = claims(key, token, now=now)
    at = time.time() if now is None else now
    return max(0, int(found.expires_at - at)) if found else 0


def write_script(token: str, max_age: int) -> str:
    """A script that stores ``token`` in the session cookie (``max_age`` seconds)."""
    if not TOKEN_PATTERN.fullmatch(token):  # nothing but a token is ever put in a script
        raise ValueError("not a session token")
    return (f"<script>(function () {{ var secure = location.protocol === 'https:' ? "
            f"'; Secure' : ''; document.cookie = '{COOKIE}={token}; Path=/; "
            f"Max-Age={int(max_age)}; SameSite=Strict' + secure; }})();</script>")


def clear_script(token: str) -> str:
    """A script that removes the session cookie if it still holds ``token`` (a cookie another
    tab has since stored, perhaps another login's, is left alone)."""
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        token = ""  # a malformed cookie: removed whatever it holds
    return (f"<script>(function () {{ var held = document.cookie.split('; ').filter("
            f"function (c) {{ return c.indexOf('{COOKIE}=') === 0; }}).map("
            f"function (c) {{ return c.slice({len(COOKIE) + 1}); }}); "
            f"if (held.length && ('{token}' === '' || held.indexOf('{token}') >= 0)) {{ "
            f"var secure = location.protocol === 'https:' ? '; Secure' : ''; "
            f"document.cookie = '{COOKIE}=; Path=/; Max-Age=0; SameSite=Strict' + secure; }}"
            f" }})();</script>")
