"""``finlake maintain``: Delta table maintenance now, through the Dagster job (so it waits
for no writer and shows in the Dagster UI like a scheduled run)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from finlake.commands.args import positive

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers


def maintain(settings: Settings, tables: list[str] | None, *, dry_run: bool,
             min_small_files: int | None = None) -> int:
    from finlake.definitions import defs
    from finlake.runner import QUIET, launch, prepare_instance, run_errors
    from lake.maintenance import FULL_MIN_SMALL_FILES
    from lake.tables import table

    try:
        for name in tables or ():
            table(name)
    except KeyError as exc:
        print(f"finlake: {str(exc).strip(chr(34) + chr(39))}", file=sys.stderr)
        return 2
    config = {"tables": list(tables or ()), "dry_run": dry_run,
              "min_small_files": min_small_files or FULL_MIN_SMALL_FILES}
    result = launch(defs(), prepare_instance(settings), "maintenance",
                    run_config={**QUIET, "ops": {"maintain_tables": {"config": config}}})
    if not result.success:
        errors = run_errors(result)
        print(f"finlake: maintenance failed: {'; '.join(errors) or 'see the Dagster UI'}",
              file=sys.stderr)
        return 1
    return 0


def register(sub: Subparsers) -> None:
    mt = sub.add_parser("maintain", help="compact small files, vacuum old ones and checkpoint "
                        "every Delta table (the maintenance job, now)")
    mt.add_argument("--table", dest="tables", action="append", metavar="T",
                    help="only this table (repeatable); default: every table")
    mt.add_argument("--dry-run", action="store_true",
                    help="print what would be compacted and vacuumed; write nothing")
    mt.add_argument("--min-files", type=positive, default=None, metavar="N",
                    help="compact only partitions with at least N small files (default 2)")
    mt.set_defaults(handler=lambda settings, args: maintain(
        settings, args.tables, dry_run=args.dry_run, min_small_files=args.min_files))
