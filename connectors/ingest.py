"""Ingestion of one day: sync every due credential and land its pages; sandbox linking."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from datetime import date

from plaid.api import plaid_api
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)

from connectors.credentials import Credential, CredentialStore
from connectors.sync import SyncResult, sync_item
from lake.objectstore import ObjectStore

log = logging.getLogger(__name__)


def due_credentials(store: CredentialStore, sync_date: date) -> list[Credential]:
    """Credentials to sync for ``sync_date`` (every active one, until refresh cadences exist)."""
    return store.active()


def ingest_day(
    api: plaid_api.PlaidApi,
    objects: ObjectStore,
    creds: CredentialStore,
    sync_date: date,
    progress: Callable[[str], None] = log.info,
) -> list[SyncResult]:
    """Sync each due item once; pages land write-once, cursors move after their update."""
    due = due_credentials(creds, sync_date)
    results = []
    for i, cred in enumerate(due, 1):
        result = sync_item(api, objects, cred, creds.token(cred), sync_date)
        results.append(result)
        progress(f"[{i}/{len(due)}] {cred.item_id}: +{result.added} ~{result.modified} "
                 f"-{result.removed} in {result.pages} page(s), {result.seconds:.2f}s")
    return results


def sandbox_items(bank_url: str) -> list[dict]:
    """(user_id, institution_id, item_id) of every item the sandbox bank offers for linking."""
    req = urllib.request.Request(f"{bank_url}/sandbox/items", data=b"{}",
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["items"]


def link_sandbox(api: plaid_api.PlaidApi, bank_url: str, creds: CredentialStore) -> int:
    """Link every sandbox item through the public-token flow; returns how many were new."""
    linked = {c.item_id for c in creds.all()}
    new = 0
    for item in sandbox_items(bank_url):
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
