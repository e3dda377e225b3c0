"""One sync pass of the partner into raw storage, for the nightly asset and the on-demand job.

The pass's credential decryptions go to the audit log once, when it ends (also when it fails);
every sync attempt is recorded in ``sync_jobs``; people being forgotten are not synced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from assets.resources import LakeResource, PartnerResource, VaultResource

if TYPE_CHECKING:
    from connectors.ingest import IngestReport


def ingest(lake: LakeResource, partner: PartnerResource, vault: VaultResource, day: date, *,
           run_id: str, actor: str, warn: Callable[[str], None] | None = None,
           **options: Any) -> IngestReport:
    """Sync the due items (or ``items=``) for ``day``; ``options`` go to ``ingest_day``.
    ``warn`` is told when no item is linked at all."""
    from connectors.ingest import ingest_day
    from lake.audit_log import AuditLog
    from lake.forget_objects import users_being_forgotten
    from lake.small_tables import append_rows
    from lake.tables import SYNC_JOBS

    the_lake = lake.lake()
    audit = AuditLog(the_lake)
    creds = vault.credentials(the_lake, audit=audit, actor=actor)
    try:
        if warn is not None and not creds.all():
            warn("no linked items: run `finlake demo` or `finlake link-sandbox` first")
        report = ingest_day(partner.runtime(), the_lake.store, creds,
                            partner.institutions(the_lake), day, run_id=run_id,
                            forgetting=users_being_forgotten(the_lake), **options)
        append_rows(the_lake, SYNC_JOBS, report.jobs)
    finally:
        audit.flush()
    return report
