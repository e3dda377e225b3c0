"""Partitions, defined once and imported everywhere.

The assets declare :data:`daily_partitions`, which starts on :data:`EARLIEST_PARTITION` (the
widest range, for assets materialised on their own in tests); the definitions give them the
configured start instead (:func:`first_partition`, :func:`with_partitions`), so the Dagster UI
counts only the days that can have data: ``FINLAKE_PARTITION_START`` when set, else the first
day the lake synced, else (nothing synced yet) :data:`EARLIEST_PARTITION`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from core.settings import Settings

EARLIEST_PARTITION = date(2024, 1, 1)


def partitions_from(start: date) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from ``start`` to yesterday (a day is synced once it is over)."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


daily_partitions = partitions_from(EARLIEST_PARTITION)


def first_synced_day(lake_root: str, s3_endpoint: str | None = None) -> date | None:
    """The first sync date in the lake's ``sync_jobs`` (from the Delta log's partition
    values: no data file is read), or None when nothing was synced. Creates nothing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lake.lake import Lake
    from lake.tables import SYNC_JOBS

    if not lake_root.startswith("s3://") and not (Path(lake_root) / SYNC_JOBS.key).is_dir():
        return None
    table = Lake(lake_root, s3_endpoint).delta(SYNC_JOBS)
    if table is None:
        return None
    actions = pa.table(table.get_add_actions(flatten=True))
    if not actions.num_rows or "partition.sync_date" not in actions.column_names:
        return None
    first = pc.min(actions.column("partition.sync_date")).as_py()
    return date.fromisoformat(str(first)) if first is not None else None


def earliest_day(settings: Settings) -> date:
    """The earliest day a run may ask for: ``FINLAKE_PARTITION_START`` when set (the operator
    said where the data starts), else :data:`EARLIEST_PARTITION`."""
    return settings.partition_start or EARLIEST_PARTITION


def first_partition(settings: Settings, wanted: date | None = None) -> date:
    """The first daily partition: ``FINLAKE_PARTITION_START``, else the first day the lake
    synced, else :data:`EARLIEST_PARTITION` (a new lake takes any day from then on); earlier
    when a run ``wanted`` an earlier day (a backfill from the CLI: once it synced, the first
    synced day is that day, and the UI's partitions start there too)."""
    if settings.partition_start is not None:
        first = settings.partition_start
    else:
        first = first_synced_day(settings.lake_root, settings.s3_endpoint) or EARLIEST_PARTITION
    return min(first, wanted) if wanted is not None else first


def with_partitions(assets: Iterable[dg.AssetsDefinition],
                    partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """``assets`` with every daily-partitioned asset on ``partitions`` instead."""
    def repartitioned(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def is None:
            return spec
        return spec.replace_attributes(partitions_def=partitions)

    return [a.map_asset_specs(repartitioned) for a in assets]
