"""Files finlake writes are its owner's alone: 0600 files, 0700 folders.

FINLAKE_HOME holds identified data throughout: raw pages, Delta tables (their Parquet and
``_delta_log``), Dagster's run and event storage and compute logs, exports, keys. Each kind of
process that writes there calls :func:`keep_files_private` where it starts (the CLI's
``main``, the Dagster code location's loader, the dashboard's ``main``), not on import. The
process umask then covers every writer inside it (Python, the embedded Sail engine, delta-rs,
DuckDB, SQLite) and every process it starts inherits it: Dagster's run workers, Streamlit,
a Spark + Delta JVM (whose Hadoop file system is also given :data:`PRIVATE_UMASK` as
``fs.permissions.umask-mode``, as it may set modes itself).
"""

from __future__ import annotations

import os

PRIVATE_UMASK = 0o077  # no group or other permission on anything created


def keep_files_private() -> int:
    """From now on this process and its children create 0600 files and 0700 folders;
    returns the umask there was."""
    return os.umask(PRIVATE_UMASK)
