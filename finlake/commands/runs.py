"""``finlake runs``: the runs under way, who holds the lake's writer lease, and stuck runs.

A run Dagster's storage still calls STARTED after its process was killed is "stuck": it
writes nothing and, since every writer waits on the lease rather than on run statuses, it
blocks nothing; the next Dagster run marks it failed. ``--clear`` does that now.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from finlake.commands.args import Subparsers


def runs(settings: Settings, *, clear: bool) -> int:
    from assets.runs import clear_dead_runs, lease_for, run_states
    from finlake.runner import prepare_instance

    lease = lease_for(settings, wait=0)
    holder = lease.holder()
    print("writer lease: " + (f"held by {holder.describe()}" if holder else "free"))
    if not (settings.dagster_home / "dagster.yaml").exists():
        print("no run was ever started from this home")
        return 0
    instance = prepare_instance(settings)
    states = run_states(instance, lease)
    if not states:
        print("no run under way")
    for s in states:
        when = s.started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if s.started_at else "?"
        what = ("writing the lake" if s.writing else f"STUCK: {s.reason}" if s.dead
                else "waiting for the lake" if s.alive else "starting")
        print(f"{s.run_id}  {s.job:<18} {s.status:<9} started {when}  {what}")
    stuck = [s for s in states if s.dead]
    if not stuck:
        return 0
    if not clear:
        print(f"{len(stuck)} stuck run(s): `finlake runs --clear` marks them failed "
              "(they block nothing meanwhile)", file=sys.stderr)
        return 0
    cleared = clear_dead_runs(instance, lease, None, "finlake runs --clear", print)
    print(f"cleared {len(cleared)} stuck run(s)")
    return 0


def register(sub: Subparsers) -> None:
    rn = sub.add_parser("runs", help="runs under way, who writes the lake, stuck runs")
    rn.add_argument("--clear", action="store_true",
                    help="mark runs whose process is gone as failed, with the reason")
    rn.set_defaults(handler=lambda settings, args: runs(settings, clear=args.clear))
