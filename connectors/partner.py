"""Partner API access through the official plaid-python client."""

from __future__ import annotations

import json
from typing import Any

import plaid
from plaid.api import plaid_api

PARTNER_ERROR_FIELDS = ("error_type", "error_code", "error_message")


class PartnerError(RuntimeError):
    """A partner call failed; ``code`` is the partner's error_code (e.g. RATE_LIMIT_EXCEEDED)."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"partner error {status} {code}: {message}")
        self.status = status
        self.code = code
        self.headers = headers or {}


def partner_client(host: str, client_id: str, secret: str) -> plaid_api.PlaidApi:
    """A plaid-python client for ``host`` (sandbox bank URL or a Plaid environment URL).
    Installs log redaction first: the client's debug logs carry response bodies (tokens)."""
    from core.redaction import install, register_secret

    install()
    register_secret(secret)
    config = plaid.Configuration(host=host, api_key={"clientId": client_id, "secret": secret})
    return plaid_api.PlaidApi(plaid.ApiClient(config))


def as_partner_error(exc: plaid.ApiException) -> PartnerError:
    try:
        body: dict[str, Any] = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return PartnerError(
        int(exc.status or 0), str(body.get("error_code") or "UNKNOWN"),
        str(body.get("error_message") or exc.reason or ""),
        headers={str(k): str(v) for k, v in dict(exc.headers or {}).items()},
    )
