"""Linking items through the partner's public-token flow (sandbox bank).

Two ways in: :func:`link_sandbox` links every item of the sandbox world at once (the demo,
``finlake link-sandbox``); :func:`link_institution` and :func:`relink_item` are what one
person does in Link: sign in to one bank with its sandbox credentials, and sign in again to
a bank whose login expired (Plaid's update mode; here ``/sandbox/item/resolve``).

The sandbox's sign-in follows Plaid's sandbox convention: username ``user_good`` and
password ``pass_good`` (published test values, not secrets); anything else is refused with
the bank's ``INVALID_CREDENTIALS`` message and nothing is stored.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import plaid
from plaid.api import plaid_api
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)

from connectors.credentials import Credential, CredentialStore

SANDBOX_USERNAME = "user_good"  # Plaid's sandbox sign-in for every institution
SANDBOX_PASSWORD = "pass_good"  # public, in Plaid's sandbox docs: not a secret
# The sandbox bank's display message for INVALID_CREDENTIALS (and Plaid sandbox's for a
# sign-in other than user_good / pass_good).
WRONG_CREDENTIALS = "The credentials you provided were incorrect."


class LinkRefused(Exception):
    """The bank (or Link) said no. ``code`` says why (``INVALID_CREDENTIALS``,
    ``NO_ACCOUNTS``, ``ALREADY_LINKED``, ``NOT_LINKED``, ``INVALID_INSTITUTION``, or the
    bank's error code); ``str(exc)`` is one line for the person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sandbox_call(bank_url: str, path: str, payload: dict | None = None) -> dict:
    """POST to one of the sandbox bank's own (non-Plaid) endpoints."""
    req = urllib.request.Request(f"{bank_url}{path}", data=json.dumps(payload or {}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def sandbox_institutions(bank_url: str) -> list[dict]:
    """The sandbox bank's institutions (id, name, rate limit, refresh cadence)."""
    return list(sandbox_call(bank_url, "/sandbox/institutions")["institutions"])


LINK_BATCH = 50  # items exchanged, then stored in one write of the credentials table


def link_sandbox(api: plaid_api.PlaidApi, bank_url: str, creds: CredentialStore) -> int:
    """Link every sandbox item through the public-token flow; returns how many were new.
    Tokens are stored every :data:`LINK_BATCH` items (one table write each, not one per
    item); a run stopped before a batch is stored links those items again next time."""
    linked = {c.item_id for c in creds.all()}
    todo = [i for i in sandbox_call(bank_url, "/sandbox/items")["items"]
            if i["item_id"] not in linked]
    for start in range(0, len(todo), LINK_BATCH):
        batch = todo[start:start + LINK_BATCH]
        creds.link_many([(i["user_id"], i["institution_id"],
                          *_exchanged(api, i["user_id"], i["institution_id"])) for i in batch])
    return len(todo)


def check_sign_in(username: str, password: str) -> None:
    """The sandbox's sign-in step: refuses anything but ``user_good`` / ``pass_good``."""
    if (username or "").strip() != SANDBOX_USERNAME or password != SANDBOX_PASSWORD:
        raise LinkRefused("INVALID_CREDENTIALS", WRONG_CREDENTIALS)


def credential_at(creds: CredentialStore, user_id: str, institution_id: str
                  ) -> Credential | None:
    """The person's linked item at the institution (None: not linked)."""
    return next((c for c in creds.all()
                 if c.user_id == user_id and c.institution_id == institution_id), None)


def link_institution(api: plaid_api.PlaidApi, creds: CredentialStore, user_id: str,
                     institution_id: str, username: str, password: str) -> Credential:
    """Link ``user_id``'s item at one institution, as Link does after the person signed in:
    public token for that person (``override_username`` = the user id), exchanged for an
    access token, stored sealed. Raises :class:`LinkRefused` (nothing stored) for a wrong
    sign-in, an institution already linked, or one where the person has no accounts."""
    check_sign_in(username, password)
    existing = credential_at(creds, user_id, institution_id)
    if existing is not None:
        again = " and needs you to sign in again: use Reconnect" \
            if existing.status != "active" else ""
        raise LinkRefused("ALREADY_LINKED", f"This bank is already linked{again}.")
    return _exchange(api, creds, user_id, institution_id)


def relink_item(bank_url: str, creds: CredentialStore, user_id: str, institution_id: str,
                username: str, password: str) -> bool:
    """Sign ``user_id`` in again at an institution whose login expired (the sandbox's update
    mode: ``/sandbox/item/resolve`` ends the item's login or MFA error) and mark its
    credentials active, so the next sync runs (recorded in the store's audit log as a
    link). True if the bank had an error to clear."""
    check_sign_in(username, password)
    cred = credential_at(creds, user_id, institution_id)
    if cred is None:
        raise LinkRefused("NOT_LINKED", "This bank is not linked yet: link it first.")
    resolved = bool(sandbox_call(bank_url, "/sandbox/item/resolve",
                                 {"item_id": cred.item_id})["resolved"])
    creds.set_status(cred, "active", failure_count=0)
    if creds.audit is not None:  # as CredentialStore records a link: no ids, no token
        creds.audit.record(creds.actor, "link_credential", user_id,
                           {"institution_id": institution_id, "relink": True})
    return resolved


def _exchange(api: plaid_api.PlaidApi, creds: CredentialStore, user_id: str,
              institution_id: str) -> Credential:
    return creds.link(user_id, institution_id, *_exchanged(api, user_id, institution_id))


def _exchanged(api: plaid_api.PlaidApi, user_id: str, institution_id: str
               ) -> tuple[str, str]:
    """(item id, access token) of a new link of ``user_id`` at ``institution_id``."""
    try:
        public = api.sandbox_public_token_create(SandboxPublicTokenCreateRequest(
            institution_id=institution_id,
            initial_products=[Products("transactions")],
            options=SandboxPublicTokenCreateRequestOptions(override_username=user_id),
        ))
    except plaid.ApiException as exc:
        raise _refusal(exc) from None
    exchanged = api.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public.public_token))
    return exchanged.item_id, exchanged.access_token


def _refusal(exc: plaid.ApiException) -> LinkRefused:
    """The bank's refusal of a public token, in words for the person (its developer message
    names ids, so it is not shown)."""
    try:
        body: dict[str, Any] = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    code = str(body.get("error_code") or "UNKNOWN")
    said = str(body.get("display_message") or body.get("error_message") or exc.reason or "")
    if code == "INVALID_CREDENTIALS":
        return LinkRefused("NO_ACCOUNTS", "The sandbox bank has no accounts for you at this "
                           f"bank, so there is nothing to link (it said: {said})")
    if code == "INVALID_INSTITUTION":
        return LinkRefused(code, "The sandbox bank does not know this bank.")
    return LinkRefused(code, f"The bank refused the link ({code}): {said}")
