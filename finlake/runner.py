"""Run partitions through Dagster in-process against the finlake instance."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from core import redaction
from core.settings import Settings
from lake.locks import pg_connect

REPO_DIR = Path(__file__).resolve().parents[1]
# The CLI prints its own per-step lines and errors; the Dagster UI keeps the full event log.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def prepare_instance(settings: Settings) -> dg.DagsterInstance:
    """Point DAGSTER_HOME at ``$FINLAKE_HOME/dagster`` with the repo's instance config."""
    redaction.install()
    redaction.register_secret(settings.partner_secret)
    redaction.register_secret(settings.pseudonym_key or "")
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    name = "dagster.production.yaml" if settings.env == "production" else "dagster.yaml"
    src, dst = REPO_DIR / name, home / "dagster.yaml"
    if src.exists() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
        shutil.copyfile(src, dst)
    os.environ["DAGSTER_HOME"] = str(home)
    if settings.env == "production":
        check_postgres()
    return dg.DagsterInstance.get()


def check_postgres(timeout: int = 10) -> None:
    """Fail at once, in one line, when Dagster's PostgreSQL cannot be reached (Dagster would
    log each of its retries and end with a traceback)."""
    import psycopg2

    from core.errors import ServiceUnavailable

    env = os.environ
    where = f"{env.get('DAGSTER_PG_HOST')}:{env.get('DAGSTER_PG_PORT')}"
    try:
        pg_connect(timeout).close()
    except psycopg2.Error as exc:
        reason = " ".join(str(exc).split())
        raise ServiceUnavailable(
            f"cannot reach PostgreSQL (Dagster's storage) at {where}, database "
            f"{env.get('DAGSTER_PG_DB')}: {reason}; check DAGSTER_PG_HOST, DAGSTER_PG_PORT, "
            "DAGSTER_PG_DB, DAGSTER_PG_USER, DAGSTER_PG_PASSWORD and that the server is "
            "running") from None


def root_cause(error: Any) -> str:
    """The innermost error message of a Dagster error chain (what actually went wrong)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return redaction.redact(error.message.strip())


def step_errors(result: Any) -> list[str]:
    """The root cause of every failed step of an in-process run, without Dagster's
    ``Failure`` class prefix (a job's own ``dg.Failure`` message is for the operator)."""
    return [root_cause(e.step_failure_data.error).removeprefix(
                "dagster._core.definitions.events.Failure: ") for e in result.all_events
            if e.is_step_failure and e.step_failure_data and e.step_failure_data.error]


def run_errors(result: Any) -> list[str]:
    """Why an in-process run failed: its failed steps' root causes, or, when it failed
    before any step (a resource it could not build, e.g. the writer lease it waited for in
    vain), that error's root cause."""
    errors = step_errors(result)
    if errors:
        return errors
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None and getattr(error, "message", None):
            return [root_cause(error)]
    return []


def run_tags(definitions: dg.Definitions, job: str, partition: str | None = None
             ) -> dict[str, str]:
    """What a run of ``job`` started here is tagged with: the partition (checked against the
    job's partitions), the schedule that runs the job (the UI lists the run under it) and
    that the CLI started it."""
    from dagster._core.definitions.partitions.context import partition_loading_context

    job_def = definitions.resolve_job_def(job)
    tags = {**job_def.run_tags, "finlake/launched_by": "cli"}
    if partition is not None:
        with partition_loading_context() as context:
            job_def.validate_partition_key(partition, selected_asset_keys=None,
                                           context=context)
        tags.update(job_def.get_tags_for_partition_key(partition, selected_asset_keys=None))
    schedules = [s.name for s in definitions.get_repository_def().schedule_defs
                 if s.job_name == job]
    if schedules:
        tags["dagster/schedule_name"] = schedules[0]
    return tags


def launch(definitions: dg.Definitions, instance: dg.DagsterInstance, job: str, *,
           partition: str | None = None, run_config: dict[str, Any] | None = None
           ) -> dg.ExecuteInProcessResult:
    """Run ``job`` in this process, as ``execute_in_process`` does, but as a run of finlake's
    code location (finlake/location.py): the run carries the job's origin and the repository
    tag, so the Dagster UI shows it under its job, schedule and partitions. Returns the
    in-process result (events, outputs)."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import (
        ExecuteRunWithPlanIterable,
        create_execution_plan,
        job_execution_iterator,
    )
    from dagster._core.execution.context_creation_job import (
        PlanOrchestrationContextManager,
        orchestration_context_event_generator,
    )

    from finlake.location import job_origins

    job_def = definitions.resolve_job_def(job)
    tags = run_tags(definitions, job, partition)
    ephemeral = InMemoryJob(job_def.as_ephemeral_job(resource_defs={}, input_values={}))
    run_config = run_config or {}
    plan = create_execution_plan(ephemeral, run_config=run_config, tags=tags,
                                 instance_ref=instance.get_ref() if instance.is_persistent
                                 else None)
    remote_origin, code_origin = job_origins(job, definitions.get_repository_def().name)
    run = instance.create_run_for_job(
        job_def=ephemeral.get_definition(), execution_plan=plan, run_config=run_config,
        tags=tags, remote_job_origin=remote_origin, job_code_origin=code_origin)
    outputs: dict = {}
    events = list(ExecuteRunWithPlanIterable(
        execution_plan=plan, iterator=job_execution_iterator,
        execution_context_manager=PlanOrchestrationContextManager(
            context_event_generator=orchestration_context_event_generator, job=ephemeral,
            execution_plan=plan, dagster_run=run, instance=instance, run_config=run_config,
            executor_defs=None, output_capture=outputs, raise_on_error=False)))
    return dg.ExecuteInProcessResult(job_def=ephemeral.get_definition(), event_list=events,
                                     dagster_run=instance.get_run_by_id(run.run_id) or run,
                                     output_capture=outputs)


@dataclass
class PartitionRun:
    partition: str
    success: bool
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    error: str | None = None


def run_partition(defs: dg.Definitions, instance: dg.DagsterInstance, job: str,
                  partition: str) -> PartitionRun:
    """Materialise one partition of ``job`` (:func:`launch`); returns per-step timings and
    asset metadata."""
    t0 = time.perf_counter()
    result = launch(defs, instance, job, partition=partition, run_config=QUIET)
    run = PartitionRun(partition, result.success, time.perf_counter() - t0)
    for stat in instance.get_run_step_stats(result.run_id):
        if stat.start_time and stat.end_time:
            run.steps[stat.step_key] = stat.end_time - stat.start_time
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        run.metadata[mat.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    for event in result.get_asset_check_evaluations():
        run.checks[event.check_name] = event.passed
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        run.error = "; ".join(
            f"{e.step_key}: {root_cause(e.step_failure_data.error)}"
            for e in failures if e.step_failure_data and e.step_failure_data.error
        ) or "; ".join(run_errors(result)) or "run failed (see the Dagster UI for the event log)"
    return run
