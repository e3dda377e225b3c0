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
    gone, hits = [], Hits()
    for run in instance.get_runs():
        if run.run_id == current_run:
            continue
        hits.count("dagster runs")
        if tokens_in(_run_text(instance, run), wanted):
            instance.delete_run(run.run_id)
            gone.append(run.run_id)
    _drop_index_rows(instance, gone)
    for where, text in _index_texts(instance):
        hits.add(f"dagster {where}", tokens_in(text, wanted))
    deleted = len(gone)
    if home is None:  # PostgreSQL storage: the logical scans above are what can be checked
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


def _drop_index_rows(instance: dg.DagsterInstance, run_ids: list[str]) -> None:
    """What Dagster's own ``delete_run`` leaves of a run in the event log's index: its asset
    check evaluations (their metadata) and the asset rows whose cached latest
    materialization is one of its events (re-pointed at the latest one left)."""
    if not run_ids:
        return
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, AssetKeyTable
    from dagster._serdes import serialize_value

    storage = instance.event_log_storage
    checks, keys = AssetCheckExecutionsTable, AssetKeyTable
    with storage.index_connection() as conn:
        conn.execute(checks.delete().where(checks.c.run_id.in_(run_ids)))
        stale = [r[0] for r in conn.execute(
            sa.select(keys.c.asset_key).where(keys.c.last_run_id.in_(run_ids))).fetchall()]
    for key in stale:
        asset = dg.AssetKey.from_db_string(key)
        records = storage.fetch_materializations(asset, limit=1).records if asset else []
        last = records[0] if records else None
        with storage.index_connection() as conn:
            conn.execute(keys.update().where(keys.c.asset_key == key).values(
                last_materialization=serialize_value(last) if last else None,
                last_run_id=last.run_id if last else None,
                cached_status_data=None))  # recomputed from the events left


def _index_texts(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """The event log index's serialized values a run's deletion does not reach by itself."""
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, AssetKeyTable

    checks, keys = AssetCheckExecutionsTable, AssetKeyTable
    out = []
    with instance.event_log_storage.index_connection() as conn:
        for (text,) in conn.execute(sa.select(checks.c.evaluation_event)).fetchall():
            out.append(("asset check evaluations", text or ""))
        for (text,) in conn.execute(sa.select(keys.c.last_materialization)).fetchall():
            out.append(("asset latest materializations", text or ""))
    return out


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
