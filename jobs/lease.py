"""What makes a job a writer: one process for the whole run, holding the lake's writer lease.

Every finlake job writes the lake. A job built with :data:`WRITER` runs its steps in one
process (so the lease is taken once, before the first step, and held to the end) and carries
the :func:`holds_writer_lease` hook, whose only duty is to require the ``writer_lease``
resource (assets/resources.py) so Dagster builds it for every step of the run.
"""

import dagster as dg


@dg.success_hook(required_resource_keys={"writer_lease"})
def holds_writer_lease(context: dg.HookContext) -> None:
    """Requires the writer lease for every step; does nothing itself."""


WRITER = {"hooks": {holds_writer_lease}, "executor_def": dg.in_process_executor}
