"""``finlake forget-user``: the right to be forgotten, through the Dagster job."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers


def forget_user(settings: Settings, user_id: str, *, yes: bool) -> int:
    from finlake.definitions import defs
    from finlake.runner import launch, prepare_instance, run_errors
    from jobs.forget import REQUEST_PREFIX, request_forget
    from lake.audit_log import cli_actor
    from lake.forget_objects import forget_requested
    from lake.lake import Lake
    from lake.people import has_user

    lake = Lake(settings.lake_root, settings.s3_endpoint)
    if not has_user(lake, user_id) and not forget_requested(lake, user_id):
        print(f"finlake forget-user: no user {user_id!r} in this lake (no linked item, no "
              "transactions, no unfinished forget): check the id; nothing was changed",
              file=sys.stderr)
        return 2
    if not yes:
        if not sys.stdin.isatty():
            print("finlake: forget-user deletes a person's data for good; add --yes to confirm "
                  "when there is no terminal to ask", file=sys.stderr)
            return 2
        typed = input(f"This deletes every trace of {user_id} and cannot be undone. "
                      "Type the user id again to confirm: ")
        if typed.strip() != user_id:
            print("finlake: not confirmed; nothing was changed", file=sys.stderr)
            return 1
    request_id = request_forget(lake, user_id, cli_actor())
    print(f"forgetting {user_id} (request {request_id})", flush=True)
    result = launch(defs(), prepare_instance(settings), "forget_user", run_config={
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        "ops": {"forget_user_op": {"config": {"request_id": request_id}}}})
    if not result.success:
        lake.store.delete(f"{REQUEST_PREFIX}{request_id}.json")
        errors = run_errors(result)
        print(f"finlake: forget-user failed: {'; '.join(errors) or 'see the Dagster UI'}",
              file=sys.stderr)
        return 1
    certificate = result.output_for_node("forget_user_op")
    print("deletion certificate (also in the audit log):")
    print(json.dumps(certificate, indent=2, sort_keys=True))
    return 0


def register(sub: Subparsers) -> None:
    fg = sub.add_parser("forget-user", help="delete every trace of a person (right to be "
                        "forgotten) and write a deletion certificate")
    fg.add_argument("user_id")
    fg.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    fg.set_defaults(handler=lambda settings, args: forget_user(
        settings, args.user_id, yes=args.yes))
