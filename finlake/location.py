"""The code location finlake's definitions are served as, named in one place.

``finlake ui`` serves the definitions through the workspace file :func:`write_workspace`
writes, and every run the CLI executes in its own process carries the same origin
(:func:`job_origins`): the Dagster UI then lists such a run under its job, its schedule and
its assets' partitions, like a run the UI or a schedule launched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster._core.origin import JobPythonOrigin
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteJobOrigin,
    )

LOCATION_NAME = "finlake"  # as [tool.dagster] code_location_name in pyproject.toml
MODULE = "finlake.definitions"
ATTRIBUTE = "defs"
REPO_DIR = Path(__file__).resolve().parents[1]
WORKSPACE_FILE = "workspace.yaml"


def workspace_text() -> str:
    """The workspace ``finlake ui`` serves: this checkout's definitions, in this Python."""
    import json

    # JSON strings are YAML strings: paths with any character stay one value.
    return ("# Written by finlake (finlake/location.py): the code location `finlake ui` "
            "serves.\nload_from:\n  - python_module:\n"
            f"      module_name: {MODULE}\n"
            f"      attribute: {ATTRIBUTE}\n"
            f"      location_name: {LOCATION_NAME}\n"
            f"      working_directory: {json.dumps(str(REPO_DIR))}\n"
            f"      executable_path: {json.dumps(sys.executable)}\n")


def write_workspace(dagster_home: Path) -> Path:
    """The workspace file in ``dagster_home`` (rewritten only when it differs)."""
    path = dagster_home / WORKSPACE_FILE
    text = workspace_text()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def location_origin() -> ManagedGrpcPythonEnvCodeLocationOrigin:
    """The origin the workspace file gives the code location (what ``dagster dev`` loads)."""
    from dagster._core.workspace.load import location_origin_from_module_name

    return location_origin_from_module_name(MODULE, ATTRIBUTE, str(REPO_DIR), LOCATION_NAME,
                                            sys.executable)


def job_origins(job_name: str, repository_name: str
                ) -> tuple[RemoteJobOrigin, JobPythonOrigin]:
    """The origins a run of ``job_name`` carries when the code location launches it: where
    the UI finds the job, and where a run worker would load its code from."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

    remote = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(code_location_origin=location_origin(),
                                                 repository_name=repository_name),
        job_name=job_name)
    code = ReconstructableRepository.for_module(
        MODULE, ATTRIBUTE, str(REPO_DIR)).get_reconstructable_job(job_name).get_python_origin()
    return remote, code
