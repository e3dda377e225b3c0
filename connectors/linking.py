"""Linking items through the partner's public-token flow (sandbox bank)."""

from __future__ import annotations

import json
import urllib.request

from plaid.api import plaid_api
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)

from connectors.credentials import CredentialStore


def sandbox_call(bank_url: str, path: str, payload: dict | None = None) -> dict:
    """POST to one of the sandbox bank's own (non-Plaid) endpoints."""
    req = urllib.request.Request(f"{bank_url}{path}", data=json.dumps(payload or {}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def link_sandbox(api: plaid_api.PlaidApi, bank_url: str, creds: CredentialStore) -> int:
    """Link every sandbox item through the public-token flow; returns how many were new."""
    linked = {c.item_id for c in creds.all()}
    new = 0
    for item in sandbox_call(bank_url, "/sandbox/items")["items"]:
        if item["item_id"] in linked:
            continue
        public = api.sandbox_public_token_create(SandboxPublicTokenCreateRequest(
            institution_id=item["institution_id"],
            initial_products=[Products("transactions")],
            options=SandboxPublicTokenCreateRequestOptions(override_username=item["user_id"]),
        ))
        exchanged = api.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public.public_token))
        creds.link(item["user_id"], item["institution_id"], exchanged.item_id,
                   exchanged.access_token)
        new += 1
    return new
