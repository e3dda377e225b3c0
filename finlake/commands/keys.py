"""``finlake keys``: rotate the key-encryption keys of the partner credentials, and show them.

``keys rotate`` re-wraps each credential's data key under a new KEK; the encrypted tokens are
not touched and old KEKs stay, so every row opens before, during and after a rotation, even
an interrupted one, and the old KEK still opens every token (with the data key it wrapped,
from an older table version or a backup). ``keys rotate --retire`` is what makes an old KEK
stop mattering: every token is re-encrypted under a fresh data key wrapped by the new KEK,
the ``credentials`` table's history is vacuumed at once (:func:`lake.history.drop_history`:
no older version and no unreferenced file is left), and only then is each local KEK no row
uses any more destroyed. A key is destroyed only after the commit that stopped using it is
on disk, so no token is ever left readable by neither key, and every step can be re-run.

The rows are written back in one MERGE that only changes rows still as they were read, so a
credential re-linked or marked expired meanwhile keeps its change (it is simply rotated on
the next run); a MERGE that loses to a concurrent commit is computed again. ``--retire``
refuses to start while a lake writer runs (the guard of ``forget_user`` and
``maintenance``): that run may hold credentials read before the rotation, which only the old
key opens.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the rest is imported where it is used: `finlake --help` loads this module
    from connectors.vault import KeyProvider, Vault
    from core.settings import Settings
    from finlake.commands.args import Subparsers
    from lake.lake import Lake

PROGRESS_EVERY = 100
ATTEMPTS = 5  # MERGEs lost to concurrent writers before giving up


class RotationConflict(RuntimeError):
    """Concurrent writers kept changing the credentials table; nothing was committed."""


@dataclass
class Rewrapped:
    """What one re-wrap (or re-encryption) pass did."""

    current: str
    credentials: int = 0  # rows in the table
    todo: int = 0  # rows to re-wrap (not under the current key) or re-encrypt (all)
    updated: int = 0  # rows committed under the current key
    changed_meanwhile: int = 0  # re-linked / re-sealed while we worked: left for next run
    failed: dict[str, str] = field(default_factory=dict)  # credentials_id -> why
    old_key_ids: list[str] = field(default_factory=list)
    conflicts: int = 0  # MERGEs lost to a concurrent commit and computed again


@dataclass
class Retired:
    """What ``--retire`` removed."""

    files_vacuumed: int = 0
    log_files_removed: int = 0
    key_ids: list[str] = field(default_factory=list)


def _lake(settings: Settings) -> Lake:
    from lake.lake import Lake

    return Lake(settings.lake_root, settings.s3_endpoint)


def rewrap_credentials(lake: Lake, vault: Vault, progress: Callable[[str], None] = print,
                       *, fresh: bool = False) -> Rewrapped:
    """Re-wrap every data key not under the provider's current key (``fresh``: re-encrypt
    every token under a fresh data key); one MERGE, or no commit when there is nothing to do.
    Raises :class:`RotationConflict` if concurrent commits win ``ATTEMPTS`` times."""
    verb = "re-encrypt" if fresh else "re-wrap"
    for lost in range(ATTEMPTS):
        out = _pass(lake, vault, progress, fresh, verb)
        if out is not None:
            out.conflicts = lost
            return out
        progress("the credentials table changed while we worked (nothing committed): again")
    raise RotationConflict(f"the credentials table kept changing ({ATTEMPTS} attempts): "
                           "nothing was committed; run `finlake keys rotate` again later")


def _pass(lake: Lake, vault: Vault, progress: Callable[[str], None], fresh: bool, verb: str
          ) -> Rewrapped | None:
    """One read, re-wrap and MERGE; None if a concurrent commit won the MERGE."""
    from deltalake.exceptions import CommitFailedError

    from connectors.vault import Sealed, VaultError
    from core.crashpoints import crash_point
    from lake.small_tables import read_rows
    from lake.tables import CREDENTIALS

    rows = read_rows(lake, CREDENTIALS)
    current = vault.provider.current_key_id()
    out = Rewrapped(current=current, credentials=len(rows))
    todo = sorted((r for r in rows if fresh or r["key_id"] != current),
                  key=lambda r: r["credentials_id"])
    out.todo = len(todo)
    out.old_key_ids = sorted({r["key_id"] for r in todo} - {current})
    progress(f"{len(rows)} credential(s); {len(todo)} to {verb} under {current}"
             + (f" (from {', '.join(out.old_key_ids)})" if out.old_key_ids else ""))
    updates: list[dict[str, Any]] = []
    for i, r in enumerate(todo, 1):
        old = Sealed(r["encrypted_token"], r["wrapped_key"], r["key_id"])
        try:
            new = (vault.reseal if fresh else vault.rewrap)(r["credentials_id"], old)
        except VaultError as exc:
            out.failed[r["credentials_id"]] = str(exc)
        else:
            updates.append({"credentials_id": r["credentials_id"],
                            "old_encrypted_token": old.encrypted_token,
                            "old_key_id": old.key_id, "old_wrapped_key": old.wrapped_key,
                            "encrypted_token": new.encrypted_token, "key_id": new.key_id,
                            "wrapped_key": new.wrapped_key})
        if i % PROGRESS_EVERY == 0 or i == len(todo):
            progress(f"[{i}/{len(todo)}] {verb}ed {len(updates)}, failed {len(out.failed)}")
    crash_point("keys.resealed")
    if updates:
        try:
            out.updated = _merge(lake, updates)
        except CommitFailedError:
            return None
        out.changed_meanwhile = len(updates) - out.updated
        progress(f"committed {out.updated} row(s) in one MERGE"
                 + (f"; {out.changed_meanwhile} changed meanwhile (run again)"
                    if out.changed_meanwhile else ""))
    return out


def _merge(lake: Lake, updates: list[dict[str, Any]]) -> int:
    """Set the new envelope of rows unchanged since read; returns how many."""
    import pyarrow as pa

    from lake.tables import CREDENTIALS

    dt = lake.delta(CREDENTIALS)
    source = pa.Table.from_pylist(updates, schema=pa.schema(
        [(c, pa.string()) for c in ("credentials_id", "old_encrypted_token", "old_key_id",
                                    "old_wrapped_key", "encrypted_token", "key_id",
                                    "wrapped_key")]))
    metrics = (
        dt.merge(source, predicate="t.credentials_id = s.credentials_id", source_alias="s",
                 target_alias="t")
        .when_matched_update(
            updates={"encrypted_token": "s.encrypted_token", "wrapped_key": "s.wrapped_key",
                     "key_id": "s.key_id"},
            predicate="t.encrypted_token = s.old_encrypted_token AND t.key_id = s.old_key_id "
                      "AND t.wrapped_key = s.old_wrapped_key")
        .execute())
    return int(metrics.get("num_target_rows_updated", 0))


def retire_old_keys(lake: Lake, provider: KeyProvider, progress: Callable[[str], None]
                    ) -> Retired:
    """Vacuum the credentials table's history at once, then destroy the local KEKs no row
    uses any more."""
    from lake.history import drop_history
    from lake.tables import CREDENTIALS

    out = Retired()
    if lake.exists(CREDENTIALS):
        out.files_vacuumed, out.log_files_removed = drop_history(lake, CREDENTIALS)
    progress(f"credentials history: {out.files_vacuumed} old data file(s) vacuumed, "
             f"{out.log_files_removed} log entries removed")
    out.key_ids = _retire_unused(lake, provider, progress)
    return out


def _retire_unused(lake: Lake, provider: KeyProvider, progress: Callable[[str], None]
                   ) -> list[str]:
    """Destroy local KEK files no credential uses any more (never the current one)."""
    from connectors.vault import LocalKeyProvider
    from lake.small_tables import read_rows
    from lake.tables import CREDENTIALS

    if not isinstance(provider, LocalKeyProvider):
        progress("--retire: KMS keys are not deleted from here; disable or schedule the "
                 "deletion of a key in KMS once `finlake keys status` shows no credential "
                 "under it")
        return []
    in_use = {r["key_id"] for r in read_rows(lake, CREDENTIALS)}
    current = provider.current_key_id()
    unused = [k for k in provider.key_ids() if k not in in_use and k != current]
    if unused:
        os.sync()  # the commits that stopped using them reach the disk before the keys go
    retired = [k for k in unused if provider.retire(k)]
    progress(f"retired {len(retired)} unused key-encryption key(s)"
             + (f": {', '.join(retired)}" if retired else ""))
    return retired



def rotate(settings: Settings, retire: bool = False, new_key: bool = False,
           progress: Callable[[str], None] = print) -> int:
    """``finlake keys rotate``: local: a new KEK file, then re-wrap; KMS: re-wrap everything
    not under the key the configured id resolves to (``new_key``: create a new KMS key and
    move the configured alias to it first). ``retire``: re-encrypt every token, vacuum the
    table's history and destroy unused local KEKs (module doc). ``retire`` holds the lake's
    writer lease: a running writer holds credentials only the old key opens."""
    if not retire:
        return _rotate(settings, retire, new_key, progress)
    from assets.runs import writing

    with writing(settings, "keys_retire", _lake(settings)):
        return _rotate(settings, retire, new_key, progress)


def _rotate(settings: Settings, retire: bool, new_key: bool,
            progress: Callable[[str], None]) -> int:
    from connectors.vault import LocalKeyProvider, Vault, VaultError, key_provider
    from core.crashpoints import crash_point
    from lake.audit_log import audit, cli_actor

    def fail(message: str, code: int) -> int:
        print(f"finlake keys: {message}", file=sys.stderr)
        return code

    lake = _lake(settings)
    provider = key_provider(settings)
    local = isinstance(provider, LocalKeyProvider)
    try:
        before = _current(provider)
        if local or new_key:
            try:
                progress(f"new key-encryption key: {provider.rotate()}")
            except OSError as exc:
                return fail(f"could not write a new key-encryption key in {settings.key_dir}: "
                            f"{exc.strerror or exc}. Nothing was changed ({before or 'no key'}"
                            " is still current): fix that, e.g. free disk space, and run "
                            "the command again", 2)
        result = rewrap_credentials(lake, Vault(provider), progress, fresh=retire)
        crash_point("keys.committed")
        retired = retire_old_keys(lake, provider, progress) if retire else Retired()
    except VaultError as exc:
        return fail(str(exc), 2)
    except RotationConflict as exc:
        return fail(str(exc), 1)
    for cid, why in sorted(result.failed.items()):
        print(f"finlake keys: {cid}: {why}", file=sys.stderr)
    audit(lake, cli_actor(), "rotate_keys", provider="local" if local else "kms",
          credentials=result.credentials, rewrapped=result.updated, resealed=retire,
          changed_meanwhile=result.changed_meanwhile, failed=len(result.failed),
          old_key_ids=result.old_key_ids, previous_key_id=before, new_key_id=result.current,
          conflicts=result.conflicts, retired=retired.key_ids,
          history_files_vacuumed=retired.files_vacuumed)
    progress(f"done: {result.updated} {'re-encrypted' if retire else 're-wrapped'}, "
             f"{result.credentials - result.todo} already under {result.current}, "
             f"{len(result.failed)} failed")
    return 1 if result.failed or result.changed_meanwhile else 0


def _current(provider: KeyProvider) -> str | None:
    """The current key id, without creating a first local key."""
    from connectors.vault import LocalKeyProvider

    if isinstance(provider, LocalKeyProvider):
        ids = provider.key_ids()
        return ids[-1] if ids else None
    return provider.current_key_id()


def status(settings: Settings, out: Callable[[str], None] = print) -> int:
    """``finlake keys status``: the current key, and how many credentials use each key."""
    from connectors.vault import LocalKeyProvider, VaultError, key_provider
    from lake.small_tables import read_rows
    from lake.tables import CREDENTIALS

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


def register(sub: Subparsers) -> None:
    keys = sub.add_parser("keys", help="key-encryption keys of the partner credentials")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    krot = keys_sub.add_parser("rotate", help="re-wrap every credential's data key under a "
                               "new key-encryption key (tokens stay as they are)")
    krot.add_argument("--retire", action="store_true",
                      help="re-encrypt every token under a fresh data key instead, vacuum "
                      "the credentials table's old versions at once, then destroy local key "
                      "files no credential uses: a retired key opens nothing left on disk")
    krot.add_argument("--new-key", action="store_true",
                      help="KMS: create a new key and move the configured alias to it first")
    krot.set_defaults(handler=lambda settings, args: rotate(
        settings, retire=args.retire, new_key=args.new_key))
    kstat = keys_sub.add_parser("status",
                                help="the current key and how many credentials use each key")
    kstat.set_defaults(handler=lambda settings, args: status(settings))
