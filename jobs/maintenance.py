"""Delta table maintenance as a Dagster job (lake/maintenance.py), and its schedule.

The schedule ticks every half hour from 08:00 to 11:30 UTC, after the nightly window
(02:00 + 6 h), and launches one run per day, at the first tick no writer is running:
Monday to Saturday a daily pass that compacts only partitions the nightlies fragmented
(``DAILY_MIN_SMALL_FILES``), on Sunday a full pass (every partition that can lose a file,
and unreferenced orphan files older than the retention too).
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from assets.resources import LakeResource, WriterLeaseResource
from jobs.lease import WRITER
from lake.maintenance import (
    DAILY_MIN_SMALL_FILES,
    DEFAULT_RETENTION_HOURS,
    DEFAULT_TARGET_SIZE,
    FULL_MIN_SMALL_FILES,
    MIB,
)


class MaintenanceConfig(dg.Config):
    tables: list[str] = []  # registry names; empty: every table
    dry_run: bool = False
    min_small_files: int = FULL_MIN_SMALL_FILES
    target_size_mib: int = DEFAULT_TARGET_SIZE // MIB
    retention_hours: int = DEFAULT_RETENTION_HOURS
    vacuum_full: bool = False


@dg.op(description="Compact, vacuum and checkpoint every lake table (or the ones named).")
def maintain_tables(context: dg.OpExecutionContext, config: MaintenanceConfig,
                    lake: LakeResource) -> dict[str, Any]:
    from lake.maintenance import MaintenanceError, Policy, maintain, tables_named, totals

    # No other run writes the lake meanwhile: this run holds the writer lease (jobs/lease.py).
    try:
        policy = Policy(target_size=config.target_size_mib * MIB,
                        min_small_files=config.min_small_files,
                        retention_hours=config.retention_hours,
                        vacuum_full=config.vacuum_full, dry_run=config.dry_run)
        tables = tables_named(config.tables or None)
    except (MaintenanceError, KeyError) as exc:
        raise dg.Failure(str(exc).strip("'\"")) from None

    def say(line: str) -> None:
        context.log.info(line)
        print(line, flush=True)

    say(f"maintenance of {len(tables)} table(s): target {config.target_size_mib} MiB, "
        f"partitions with >= {policy.min_small_files} small files, vacuum retention "
        f"{policy.retention_hours} h{' (full)' if policy.vacuum_full else ''}"
        f"{', dry run' if policy.dry_run else ''}")
    reports = maintain(lake.lake(), tables, policy, say)
    summary = totals(reports)
    say(f"  total: {summary['tables']} table(s), files {summary['files_before']} -> "
        f"{summary['files_after'] if not policy.dry_run else '?'}, "
        f"{summary['files_compacted']} small files compacted, "
        f"{summary['files_vacuumed']} vacuumed, {summary['seconds']:.2f}s")
    context.add_output_metadata({k: v for k, v in summary.items() if k != "conflicts"}
                                | {"conflicts": ", ".join(summary["conflicts"]) or "none"})
    if summary["conflicts"]:
        raise dg.Failure(f"concurrent writers kept winning on {', '.join(summary['conflicts'])}"
                         ": not compacted (nothing was lost); run maintenance again")
    return {"tables": [r.as_dict() for r in reports], "totals": summary}


@dg.job(description="Delta maintenance: compact small files, vacuum beyond the retention, "
                    "checkpoint and expire old log entries.", **WRITER)
def maintenance() -> None:
    maintain_tables()


def maintenance_run_config(full: bool) -> dict[str, Any]:
    """Sunday's full pass or a weekday's pass over the recently fragmented partitions."""
    config = {"min_small_files": FULL_MIN_SMALL_FILES if full else DAILY_MIN_SMALL_FILES,
              "vacuum_full": full}
    return {"ops": {"maintain_tables": {"config": config}}}


@dg.schedule(job=maintenance, cron_schedule="*/30 8-11 * * *", execution_timezone="UTC",
             description="Daily after the nightly window (full on Sundays); waits for writers.")
def maintenance_schedule(context: dg.ScheduleEvaluationContext,
                         writer_lease: WriterLeaseResource) -> dg.RunRequest | dg.SkipReason:
    holder = writer_lease.lease().holder()
    if holder is not None:
        return dg.SkipReason(f"{holder.describe()} is writing the lake; trying again next tick")
    when = context.scheduled_execution_time or datetime.now(UTC)
    full = when.weekday() == 6
    return dg.RunRequest(run_key=f"maintenance-{when.date().isoformat()}",  # once a day
                         run_config=maintenance_run_config(full),
                         tags={"maintenance": "full" if full else "daily"})
