"""``finlake keys``: rotate the key-encryption keys of the partner credentials, and show them.

Rotation re-wraps each credential's data key under the current KEK; the encrypted tokens are
never touched. The rows are written back in one MERGE that only changes ``wrapped_key`` and
``key_id`` of rows still as they were read, so a credential re-linked or marked expired
meanwhile keeps its change (it is simply re-wrapped on the next run). Old KEKs stay until
retired, so every row opens before, during and after a rotation, even an interrupted one.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.vault import (
    KeyProvider,
    LocalKeyProvider,
    Sealed,
    Vault,
    VaultError,
    key_provider,
)
from finlake.settings import Settings
from lake.catalog import Lake
from lake.small_tables import read_rows
from lake.tables import CREDENTIALS

PROGRESS_EVERY = 100


@dataclass
class Rewrapped:
    """What one re-wrap pass did."""

    current: str
    credentials: int = 0  # rows in the table
    todo: int = 0  # rows not under the current key
    updated: int = 0  # rows committed under the current key
    changed_meanwhile: int = 0  # re-linked / re-sealed while we worked: left for next run
    failed: dict[str, str] = field(default_factory=dict)  # credentials_id -> why
    old_key_ids: list[str] = field(default_factory=list)


def _lake(settings: Settings) -> Lake:
    return Lake(settings.lake_root, settings.s3_endpoint)


def rewrap_credentials(lake: Lake, vault: Vault,
                       progress: Callable[[str], None] = print) -> Rewrapped:
    """Re-wrap every data key not under the provider's current key; one MERGE, or no commit
    at all when there is nothing to do."""
    rows = read_rows(lake, CREDENTIALS)
    current = vault.provider.current_key_id()
    out = Rewrapped(current=current, credentials=len(rows))
    todo = sorted((r for r in rows if r["key_id"] != current),
                  key=lambda r: r["credentials_id"])
    out.todo = len(todo)
    out.old_key_ids = sorted({r["key_id"] for r in todo})
    progress(f"{len(rows)} credential(s); {len(todo)} to re-wrap under {current}"
             + (f" (from {', '.join(out.old_key_ids)})" if todo else ""))
    updates: list[dict[str, Any]] = []
    for i, r in enumerate(todo, 1):
        try:
            sealed = vault.rewrap(r["credentials_id"], Sealed(
                r["encrypted_token"], r["wrapped_key"], r["key_id"]))
        except VaultError as exc:
            out.failed[r["credentials_id"]] = str(exc)
        else:
            updates.append({"credentials_id": r["credentials_id"],
                            "encrypted_token": r["encrypted_token"],
                            "old_key_id": r["key_id"], "old_wrapped_key": r["wrapped_key"],
                            "key_id": sealed.key_id, "wrapped_key": sealed.wrapped_key})
        if i % PROGRESS_EVERY == 0 or i == len(todo):
            progress(f"[{i}/{len(todo)}] re-wrapped {len(updates)}, failed {len(out.failed)}")
    if updates:
        out.updated = _merge(lake, updates)
        out.changed_meanwhile = len(updates) - out.updated
        progress(f"committed {out.updated} row(s) in one MERGE"
                 + (f"; {out.changed_meanwhile} changed meanwhile (run again)"
                    if out.changed_meanwhile else ""))
    return out


def _merge(lake: Lake, updates: list[dict[str, Any]]) -> int:
    """Set the new wrapped key and key id of rows unchanged since read; returns how many."""
    import pyarrow as pa

    dt = lake.delta(CREDENTIALS)
    source = pa.Table.from_pylist(updates, schema=pa.schema(
        [(c, pa.string()) for c in ("credentials_id", "encrypted_token", "old_key_id",
                                    "old_wrapped_key", "key_id", "wrapped_key")]))
    metrics = (
        dt.merge(source, predicate="t.credentials_id = s.credentials_id", source_alias="s",
                 target_alias="t")
        .when_matched_update(
            updates={"wrapped_key": "s.wrapped_key", "key_id": "s.key_id"},
            predicate="t.encrypted_token = s.encrypted_token AND t.key_id = s.old_key_id "
                      "AND t.wrapped_key = s.old_wrapped_key")
        .execute())
    return int(metrics.get("num_target_rows_updated", 0))


def _retire_unused(lake: Lake, provider: KeyProvider, progress: Callable[[str], None]
                   ) -> list[str]:
    """Delete local KEK files no credential uses any more (never the current one)."""
    if not isinstance(provider, LocalKeyProvider):
        progress("--retire: KMS keys are not deleted from here; disable or schedule the "
                 "deletion of a key in KMS once `finlake keys status` shows no credential "
                 "under it")
        return []
    in_use = {r["key_id"] for r in read_rows(lake, CREDENTIALS)}
    current = provider.current_key_id()
    retired = [k for k in provider.key_ids()
               if k not in in_use and k != current and provider.retire(k)]
    progress(f"retired {len(retired)} unused key-encryption key(s)"
             + (f": {', '.join(retired)}" if retired else ""))
    return retired


def rotate(settings: Settings, retire: bool = False, new_key: bool = False,
           progress: Callable[[str], None] = print) -> int:
    """``finlake keys rotate``: local: a new KEK file, then re-wrap; KMS: re-wrap everything
    not under the key the configured id resolves to (``new_key``: create a new KMS key and
    move the configured alias to it first)."""
    from lake.audit import audit, cli_actor

    lake = _lake(settings)
    provider = key_provider(settings)
    local = isinstance(provider, LocalKeyProvider)
    try:
        before = _current(provider)
        if local or new_key:
            progress(f"new key-encryption key: {provider.rotate()}")
        result = rewrap_credentials(lake, Vault(provider), progress)
        retired = _retire_unused(lake, provider, progress) if retire else []
    except VaultError as exc:
        print(f"finlake keys: {exc}", file=sys.stderr)
        return 2
    for cid, why in sorted(result.failed.items()):
        print(f"finlake keys: {cid}: {why}", file=sys.stderr)
    audit(lake, cli_actor(), "rotate_keys", provider="local" if local else "kms",
          credentials=result.credentials, rewrapped=result.updated,
          changed_meanwhile=result.changed_meanwhile, failed=len(result.failed),
          old_key_ids=result.old_key_ids, previous_key_id=before, new_key_id=result.current,
          retired=retired)
    progress(f"done: {result.updated} re-wrapped, {result.credentials - result.todo} already "
             f"under {result.current}, {len(result.failed)} failed")
    return 1 if result.failed or result.changed_meanwhile else 0


def _current(provider: KeyProvider) -> str | None:
    """The current key id, without creating a first local key."""
    if isinstance(provider, LocalKeyProvider):
        ids = provider.key_ids()
        return ids[-1] if ids else None
    return provider.current_key_id()


def status(settings: Settings, out: Callable[[str], None] = print) -> int:
    """``finlake keys status``: the current key, and how many credentials use each key."""
    lake = _lake(settings)
    provider = key_provider(settings)
    try:
        current = _current(provider)
    except VaultError as exc:
        print(f"finlake keys: {exc}", file=sys.stderr)
        return 2
    counts = Counter(r["key_id"] for r in read_rows(lake, CREDENTIALS))
    out(f"key provider: {provider.describe()}")
    out(f"current key: {current or '(none yet: created with the first credential)'}")
    available = set(provider.key_ids()) if isinstance(provider, LocalKeyProvider) else None
    out(f"credentials: {sum(counts.values())}")
    for key_id in sorted(counts, key=lambda k: (k != current, k)):
        notes = [n for n, on in (("current", key_id == current),
                                 ("MISSING", available is not None and key_id not in available))
                 if on]
        out(f"  {key_id}  {counts[key_id]}" + (f"  ({', '.join(notes)})" if notes else ""))
    if available is not None:
        unused = sorted(available - set(counts) - {current})
        if unused:
            out(f"unused key files: {', '.join(unused)} (delete with "
                "`finlake keys rotate --retire`)")
    stale = sum(n for k, n in counts.items() if k != current)
    if stale:
        out(f"{stale} credential(s) not under the current key: run `finlake keys rotate`")
    return 0
