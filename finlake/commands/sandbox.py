"""``finlake reconcile`` and ``finlake link-sandbox``: the sandbox bank as the partner: compare
silver with its truth, link its items."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers


def _resources(settings: Settings) -> dict:
    from assets.resources import resources_for

    return resources_for(settings)


def reconcile(settings: Settings) -> int:
    from connectors.sandbox_bank.ground_truth import reconcile as run
    from lake.audit_log import AuditLog, cli_actor

    if not settings.embedded_partner:
        print("finlake: reconcile needs the sandbox bank's truth (unset FINLAKE_PARTNER_HOST)",
              file=sys.stderr)
        return 2
    res = _resources(settings)
    lake = res["lake"].lake()
    audit = AuditLog(lake)
    try:
        creds = res["vault"].credentials(lake, audit=audit, actor=cli_actor())
        if not creds.all():  # nothing compared is not "exact": a wrong home looks like this
            print(f"finlake: nothing to reconcile: no linked item in the lake "
                  f"{settings.lake_root}; check FINLAKE_HOME, or link with "
                  "`finlake link-sandbox`", file=sys.stderr)
            return 2
        result = run(lake, creds, res["partner"].url())
    finally:
        audit.flush()
    print(result.to_json())
    return 0 if result.exact else 1


def link(settings: Settings) -> int:
    from connectors.linking import link_sandbox, sandbox_call
    from lake.audit_log import AuditLog, cli_actor
    from lake.small_tables import upsert_rows
    from lake.tables import INSTITUTIONS

    res = _resources(settings)
    if res["partner"].host is not None:
        print("finlake: link-sandbox only works with the sandbox bank "
              "(unset FINLAKE_PARTNER_HOST)", file=sys.stderr)
        return 2
    from assets.runs import writing

    partner, lake = res["partner"], res["lake"].lake()
    with writing(settings, "link_sandbox", lake):
        institutions = sandbox_call(partner.url(), "/sandbox/institutions")["institutions"]
        upsert_rows(lake, INSTITUTIONS, [{**i, "partner": "sandbox"} for i in institutions])
        audit = AuditLog(lake)
        try:
            n = link_sandbox(partner.client(), partner.url(),
                             res["vault"].credentials(lake, audit=audit, actor=cli_actor()))
        finally:
            audit.flush()
    print(f"linked {n} new sandbox item(s)")
    return 0


def register(sub: Subparsers) -> None:
    rec = sub.add_parser("reconcile", help="compare silver with the partner's truth (JSON)")
    rec.set_defaults(handler=lambda settings, args: reconcile(settings))
    lnk = sub.add_parser("link-sandbox", help="link every sandbox-bank item")
    lnk.set_defaults(handler=lambda settings, args: link(settings))
