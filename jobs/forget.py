"""Right to be forgotten as a Dagster job: lake (lake/forget.py), partner, Dagster's own runs.

The run's config names only a request id: the person's id waits in the lake object
``requests/forget/<id>.json``, which the run deletes once it has finished, so the run's own
config, logs and metadata never hold it. Every log line carries counts only.
"""

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from assets.resources import LakeResource, PartnerResource, VaultResource
from jobs.lease import WRITER
from lake.forget_objects import REQUEST_PREFIX

if TYPE_CHECKING:
    from lake.audit_log import AuditLog
    from lake.lake import Lake
    from lake.traces import Hits


class ForgetConfig(dg.Config):
    request_id: str


def request_forget(lake: "Lake", user_id: str, actor: str) -> str:
    """Store a deletion request; returns the id a forget run is started with."""
    request_id = uuid.uuid4().hex
    lake.store.put(f"{REQUEST_PREFIX}{request_id}.json",
                   json.dumps({"user_id": user_id, "actor": actor}).encode())
    return request_id


def revoker(partner: PartnerResource, vault: VaultResource, lake: "Lake", log: "AuditLog"
            ) -> Callable[[str], None]:
    """``revoke(item_id)``: Plaid ``/item/remove`` with the item's token (decrypted for it;
    the decryption and the revocation go to ``log``)."""
    import plaid
    from plaid.model.item_remove_request import ItemRemoveRequest

    from connectors.partner import as_partner_error
    from lake.forget import ForgetError

    creds = vault.credentials(lake, audit=log, actor="pipeline:forget_user")
    by_item = {c.item_id: c for c in creds.all()}
    api = partner.client()

    def revoke(item_id: str) -> None:
        cred = by_item[item_id]
        try:
            api.item_remove(ItemRemoveRequest(access_token=creds.token(cred)))
        except plaid.ApiException as exc:
            err = as_partner_error(exc)
            if err.code in ("ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"):
                return  # already revoked at the partner
            raise ForgetError(f"revoking an item at {cred.institution_id} failed ({err.code}: "
                              f"{err}); the person's data is deleted, their bank links and "
                              "credentials are kept: run forget-user again") from None
        log.record("pipeline:forget_user", "revoke_credential", cred.user_id,
                   {"institution_id": cred.institution_id})

    return revoke


def _run_text(instance: dg.DagsterInstance, run: Any) -> str:
    from dagster._serdes import serialize_value

    parts = [json.dumps(run.run_config, default=str), json.dumps(run.tags, default=str)]
    parts += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
    return "\n".join(parts)


def purge_runs(instance: dg.DagsterInstance, identifiers: set[str], current_run: str,
               home: Path | None) -> tuple[int, "Hits"]:
    """Delete the Dagster runs whose config, tags or events name the person (an on-demand
    sync's account, say), their compute logs and stored outputs; compact SQLite storage so
    no freed page keeps them. Returns (runs deleted, what a scan afterwards still finds)."""
    from lake.traces import Hits, tokens_in

    wanted = {i.encode() for i in identifiers}
    deleted, hits = 0, Hits()
    for run in instance.get_runs():
        if run.run_id == current_run:
            continue
        hits.count("dagster runs")
        if tokens_in(_run_text(instance, run), wanted):
            instance.delete_run(run.run_id)
            deleted += 1
    if home is None:  # PostgreSQL storage: the logical scan above is what can be checked
        return deleted, hits
    for path in sorted(home.rglob("*")):
        if not path.is_file() or current_run in str(path):
            continue
        hits.count("dagster files")
        if path.suffix == ".db":
            continue  # compacted and scanned below
        if tokens_in(path.read_bytes(), wanted):
            path.unlink()  # a compute log or a stored output of a deleted run
    for path in sorted(home.rglob("*.db")):
        if current_run in path.name:
            continue
        with sqlite3.connect(path) as db:
            db.execute("VACUUM")
        hits.add(f"dagster storage {path.relative_to(home)}",
                 tokens_in(path.read_bytes(), wanted))
    for run in instance.get_runs():
        if run.run_id != current_run:
            hits.add(f"dagster run {run.run_id}", tokens_in(_run_text(instance, run), wanted))
    return deleted, hits


@dg.op(description="Forget one person everywhere and write the deletion certificate.")
def forget_user_op(context: dg.OpExecutionContext, config: ForgetConfig, lake: LakeResource,
                   partner: PartnerResource, vault: VaultResource) -> dict:
    from lake.audit_log import AuditLog
    from lake.forget import ForgetError, forget, verify_deletion
    from lake.objectstore import ObjectNotFound

    the_lake = lake.lake()
    key = f"{REQUEST_PREFIX}{config.request_id}.json"
    try:
        request = json.loads(the_lake.store.get(key))
    except ObjectNotFound:
        raise dg.Failure(f"no forget request {config.request_id}: start it with "
                         "`finlake forget-user USER_ID`") from None
    # No other run writes the lake meanwhile: this run holds the writer lease (jobs/lease.py).
    def say(line: str) -> None:
        context.log.info(line)
        print(line, flush=True)

    log = AuditLog(the_lake)
    try:
        deletion = forget(the_lake, request["user_id"],
                          revoke=revoker(partner, vault, the_lake, log), say=say,
                          current_request=key)
        log.discard_user(request["user_id"])  # no pseudonym row may come back for them
        home = Path(context.instance.root_directory) if _sqlite(context.instance) else None
        runs, dagster_hits = purge_runs(context.instance, deletion.identifiers.all(),
                                        context.run_id, home)
        deletion.dagster_runs_deleted = runs
        say(f"  dagster: {runs} runs that named the person deleted")
        the_lake.store.delete(key)
        verify_deletion(the_lake, deletion, say, extra=dagster_hits)
    except ForgetError as exc:
        log.discard_user(request["user_id"])
        log.flush()  # the decryptions and revocations that did happen
        raise dg.Failure(str(exc)) from None
    certificate = deletion.certificate()
    log.record(request.get("actor") or "pipeline:forget_user", "forget_user",
               detail=certificate, subject=deletion.identifiers.subject)
    log.flush()
    context.add_output_metadata({"rows_deleted": certificate["rows_deleted"],
                                 "tables": len(certificate["tables"]),
                                 "dagster_runs_deleted": runs})
    return certificate


def _sqlite(instance: dg.DagsterInstance) -> bool:
    return type(instance.run_storage).__name__.startswith("Sqlite")


@dg.job(description="Right to be forgotten: delete one person from the lake, raw storage, old "
                    "table versions, the partner link and Dagster's runs; certify it.", **WRITER)
def forget_user() -> None:
    forget_user_op()
