"""A writer in another process: holds the lake's writer lease (and its run's sign of life)
until told to stop, or until it is killed -9, as a real nightly would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from assets.runs import lease_from
a = json.loads(sys.argv[1])
lease = lease_from(a["env"], a["locks_dir"], a["lake_root"], wait=a["wait"])
with lease.alive(a["run_id"]), lease.hold(a["job"], a["run_id"]):
    print("held", flush=True)
    sys.stdin.read()  # until the parent closes it
"""


@contextmanager
def writer_elsewhere(locks_dir: str | Path, lake_root: str, job: str = "nightly",
                     run_id: str = "0123456789abcdef-nightly", env: str = "local",
                     extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """A child process holding the lease as ``job``'s run ``run_id`` for the block."""
    args = {"env": env, "locks_dir": str(locks_dir), "lake_root": lake_root, "job": job,
            "run_id": run_id, "wait": 60}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, **(extra_env or {})})
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.strip() == "held", f"the writer child did not take the lease: {line!r}"
        yield child
    finally:
        if child.poll() is None:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(timeout=30)
