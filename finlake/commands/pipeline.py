"""``finlake demo``, ``nightly``, ``weekly`` and ``sync``: the pipeline's runs, through Dagster
in this process."""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from finlake.commands.args import FAULTS_HELP, MAX_DAYS, MAX_USERS, count, iso_date
from finlake.commands.sandbox import link, reconcile

if TYPE_CHECKING:
    from connectors.sandbox_bank.faults import FaultPlan
    from core.settings import Settings
    from finlake.commands.args import Subparsers

HISTORY_DAYS = 90  # history the sandbox bank holds before the first demo day


def advance_sandbox(url: str, day: date) -> None:
    """Move the sandbox bank's world to the end of ``day`` (never backwards)."""
    from connectors.linking import sandbox_call

    clock = date.fromisoformat(sandbox_call(url, "/sandbox/clock/get")["clock"])
    if day > clock:
        sandbox_call(url, "/sandbox/clock/advance", {"day": day.isoformat()})


def _say(text: str) -> None:
    print(text, flush=True)


def _describe(run) -> str:  # noqa: ANN001 - finlake.runner.PartitionRun
    raw = run.metadata.get("raw_transaction_pages", {})
    silver = run.metadata.get("silver_transactions", {})
    gold = run.metadata.get("monthly_spend", {})
    steps = "  ".join(f"{k.split('.')[-1]} {v:.1f}s" for k, v in run.steps.items())
    parts = []
    if raw:
        parts.append(f"raw {raw.get('items_synced', 0)} items synced"
                     + (f" ({raw.get('items_deferred', 0)} deferred, "
                        f"{raw.get('items_failed', 0)} failed)"
                        if raw.get("items_deferred") or raw.get("items_failed") else "")
                     + f", {raw.get('pages', 0)} pages (+{raw.get('added', 0)} "
                     f"~{raw.get('modified', 0)} -{raw.get('removed', 0)})")
    if silver.get("skipped"):
        parts.append(f"silver skipped (raw and silver unchanged since it was merged), "
                     f"{silver.get('recategorised', 0)} re-categorised")
    elif silver:
        parts.append(f"silver {silver.get('changes', 0)} changes read, "
                     f"{silver.get('rows_affected', 0)} rows written, "
                     f"{silver.get('recategorised', 0)} re-categorised, "
                     f"{silver.get('quarantined', 0)} quarantined")
    if gold.get("skipped"):
        parts.append("gold skipped (nothing it reads changed since it was refreshed)")
    elif gold:
        budget = run.metadata.get("budget_progress", {})
        parts.append(f"gold {gold.get('cells', 0)} cells, {gold.get('rows_changed', 0)} "
                     f"spend rows written, {budget.get('budget_alerts', 0)} budget alerts")
    failed = [k for k, v in run.checks.items() if not v]
    checks = (f"checks {len(run.checks) - len(failed)} ok"
              + (f", FAILED: {', '.join(failed)}" if failed else "")) if run.checks else ""
    return " | ".join(parts + ([checks] if checks else [])) + f"  [{steps}]"


def _run_days(settings: Settings, days: list[date], job: str) -> bool:
    from assets.resources import resources_for
    from finlake.definitions import build
    from finlake.runner import prepare_instance, run_partition

    instance = prepare_instance(settings)
    _say(f"  {settings.describe()}")
    definitions = build(earliest=min(days))  # a backfill before the first partition widens it
    url = resources_for(settings)["partner"].url() if settings.embedded_partner else None
    ok = True
    for i, day in enumerate(days, 1):
        if url and job == "nightly":
            advance_sandbox(url, day)
        run = run_partition(definitions, instance, job, day.isoformat())
        status = "ok" if run.success else "FAILED"
        _say(f"[{i}/{len(days)}] {day} {status} in {run.seconds:.1f}s  {_describe(run)}")
        if not run.success:
            _say(f"    error: {run.error}")
            ok = False
            break
    return ok


def _table_counts(settings: Settings) -> dict[str, int]:
    from lake.lake import Lake

    lake = Lake(settings.lake_root, settings.s3_endpoint)
    return {t.name: lake.delta(t).to_pyarrow_dataset().count_rows()  # type: ignore[union-attr]
            for t in lake.tables()}


def _sandbox_institution_ids(settings: Settings) -> list[str]:
    """The institutions of the demo's sandbox bank: the existing bank's, or those of the one
    the demo creates (default size), found without writing anything."""
    from connectors.sandbox_bank.bank import SandboxBank
    from connectors.sandbox_bank.institutions import BASE_COUNT, institutions_for

    if (settings.sandbox_dir / "state.json").exists():
        return [i["institution_id"] for i in SandboxBank.open(settings.sandbox_dir).institutions()]
    return [i.institution_id for i in institutions_for(settings.sandbox_seed, BASE_COUNT)]


def _demo_faults(settings: Settings, spec: str) -> tuple[FaultPlan, int] | None:
    """The (plan, seed) ``finlake demo --faults SPEC`` asks for, or None after saying on one
    line why it cannot be had (nothing written yet)."""
    from connectors.sandbox_bank.fault_files import load_plan

    if not settings.embedded_partner:
        print("finlake demo: --faults rehearses failures on the sandbox bank only, and "
              "FINLAKE_PARTNER_HOST names a real partner: unset it, or drop --faults",
              file=sys.stderr)
        return None
    institution_ids = _sandbox_institution_ids(settings)
    try:
        return load_plan(spec, institution_ids)
    except ValueError as e:
        print(f"finlake demo: --faults: {e}; nothing was written", file=sys.stderr)
        return None


def demo(settings: Settings, *, users: int, days: int, faults: str | None = None) -> int:
    """Sandbox bank -> lake -> gold for the last ``days`` days; ``faults`` (a --faults SPEC)
    puts a fault plan in force on the sandbox bank before the nightly runs."""
    t0 = time.perf_counter()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    window = [yesterday - timedelta(days=days - 1 - i) for i in range(days)]
    from assets.partitions import earliest_day

    first = earliest_day(settings)
    if window[0] < first:
        print(f"finlake demo: --days {days} starts before the first partition ({first}); "
              f"use at most {(yesterday - first).days + 1}", file=sys.stderr)
        return 2
    plan = None if faults is None else _demo_faults(settings, faults)
    if faults is not None and plan is None:
        return 2
    _say(f"finlake demo: {users} users, partitions {window[0]} .. {window[-1]}, "
         f"home {settings.home}")
    if settings.embedded_partner:
        from connectors.sandbox_bank.bank import SandboxBank

        if not (settings.sandbox_dir / "state.json").exists():
            SandboxBank.open(settings.sandbox_dir, seed=settings.sandbox_seed, users=users,
                             history_start=window[0] - timedelta(days=HISTORY_DAYS),
                             clock=window[0] - timedelta(days=1))
        else:
            _say("  (re-using the sandbox bank already in FINLAKE_HOME; delete that folder "
                 "to start over)")
        t = time.perf_counter()
        rc = link(settings)
        if rc:
            return rc
        _say(f"  linked sandbox items in {time.perf_counter() - t:.1f}s")
        from connectors.sandbox_bank.embedded import embedded_bank
        from connectors.sandbox_bank.fault_files import describe_plan, install_plan

        bank = embedded_bank(settings.sandbox_dir).bank  # the one linking started
        if plan is not None:  # after linking: the plan's request counts start with the nightly
            _say(f"  {install_plan(bank, *plan)}")
        elif bank.fault_plan:
            _say(f"  {describe_plan(bank.fault_plan, bank.faults.seed)} (kept from an earlier "
                 "run; --faults none clears it)")
    if not _run_days(settings, window, "nightly"):
        return 1
    _say(f"  {evaluate_freshness(settings)}")
    _say("\nrows per table:")
    for name, n in sorted(_table_counts(settings).items()):
        _say(f"  {name:<22} {n:>9,}")
    if settings.embedded_partner:
        _say("\nreconcile against the sandbox bank's truth:")
        reconcile(settings)
    from finlake.commands.login import demo_login

    sign_in = demo_login(settings)  # a first login, its password shown here only
    _say(f"\ndone in {time.perf_counter() - t0:.1f}s. Next:\n"
         "  .venv/bin/finlake dashboard      # Streamlit on http://127.0.0.1:8501\n"
         "  .venv/bin/finlake sql \"SELECT month, sum(amount) FROM monthly_spend GROUP BY 1\"\n"
         "  .venv/bin/finlake ui             # Dagster UI on http://127.0.0.1:3000")
    if sign_in:
        _say(f"  {sign_in}   (more: finlake login add NAME --user USER_ID)")
    return 0


def evaluate_freshness(settings: Settings) -> str:
    """Run the freshness checks now (what their sensor does after each deadline), so the
    Dagster UI shows them evaluated; one line saying how they came out."""
    from finlake.definitions import defs
    from finlake.runner import QUIET, launch, prepare_instance, run_errors

    result = launch(defs(), prepare_instance(settings), "freshness", run_config=QUIET)
    if not result.success:
        return f"freshness checks not evaluated: {'; '.join(run_errors(result)) or 'failed'}"
    checks = result.get_asset_check_evaluations()
    late = sorted({c.asset_key.to_user_string() for c in checks if not c.passed})
    return (f"freshness checks: {len(checks) - len(late)} of {len(checks)} passed"
            + (f"; late: {', '.join(late)}" if late else ""))


def nightly(settings: Settings, day: date, *, replay: bool) -> int:
    """One day's nightly (or its replay). A day before the first partition the UI shows
    (the first day synced) is a backfill: the partitions reach back to it."""
    from assets.partitions import earliest_day
    from finlake.runner import prepare_instance

    first, last = earliest_day(settings), datetime.now(UTC).date() - timedelta(days=1)
    if first <= day <= last:
        prepare_instance(settings)  # an unreachable Dagster storage is named before the lake
        return 0 if _run_days(settings, [day], "replay" if replay else "nightly") else 1
    print(f"finlake: no partition {day}: daily partitions run from {first} "
          f"(FINLAKE_PARTITION_START, or the earliest finlake takes) to yesterday ({last}); "
          "a day is synced once it is over", file=sys.stderr)
    return 2


def weekly(settings: Settings) -> int:
    """Run the weekly categorisation job (crowd rules, model training) through Dagster."""
    import json

    from finlake.definitions import defs
    from finlake.runner import QUIET, launch, prepare_instance, run_errors

    t0 = time.perf_counter()
    result = launch(defs(), prepare_instance(settings), "weekly_categories", run_config=QUIET)
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()
                if k != "dagster/column_schema"}  # the table's columns: for the UI
        _say(f"{mat.asset_key.to_user_string()}: {json.dumps(meta, default=str)}")
    if not result.success:
        _say(f"error: {'; '.join(run_errors(result)) or 'failed'}")
        return 1
    _say(f"done in {time.perf_counter() - t0:.1f}s")
    return 0


def sync_account(settings: Settings, account_id: str) -> int:
    """On-demand sync of one account through the Dagster job; prints a JSON summary."""
    import json

    from finlake.definitions import defs
    from finlake.runner import QUIET, launch, prepare_instance, run_errors

    t0 = time.perf_counter()
    result = launch(defs(), prepare_instance(settings), "on_demand_sync", run_config={
        **QUIET, "ops": {"sync_account": {"config": {"account_id": account_id}}}})
    if not result.success:
        print(f"finlake sync: {'; '.join(run_errors(result)) or 'run failed'}", file=sys.stderr)
        return 1
    summary = result.output_for_node("sync_account")
    summary["end_to_end_seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(summary))
    return 0


def register(sub: Subparsers) -> None:
    demo_p = sub.add_parser("demo", help="sandbox bank -> lake -> gold for the last D days")
    demo_p.add_argument("--users", type=count(MAX_USERS), default=20,
                        help="sandbox users (new bank only)")
    demo_p.add_argument("--days", type=count(MAX_DAYS), default=7,
                        help="daily partitions ending yesterday")
    demo_p.add_argument("--faults", metavar="SPEC", help=FAULTS_HELP)
    demo_p.set_defaults(handler=lambda settings, args: demo(
        settings, users=args.users, days=args.days, faults=args.faults))

    nightly_p = sub.add_parser("nightly", help="run (or re-run) one daily partition")
    nightly_p.add_argument("--date", type=iso_date, required=True, help="partition, YYYY-MM-DD")
    nightly_p.add_argument("--replay", action="store_true",
                           help="re-merge landed raw pages only (no partner calls)")
    nightly_p.set_defaults(handler=lambda settings, args: nightly(
        settings, args.date, replay=args.replay))

    weekly_p = sub.add_parser("weekly",
                              help="promote crowd rules and retrain the category model now")
    weekly_p.set_defaults(handler=lambda settings, args: weekly(settings))

    sync = sub.add_parser("sync", help="refresh one account now, all the way to gold")
    sync.add_argument("--account", required=True, help="account_id (see the accounts table)")
    sync.set_defaults(handler=lambda settings, args: sync_account(settings, args.account))
