"""How often unusual-activity rules fire on ordinary synthetic months (the sandbox world).

    .venv/bin/python -m bench.unusual_rate [--users 60] [--months 8]

Builds a fresh lake under a temporary FINLAKE_HOME: a sandbox bank with ``--months`` of
history, every item linked, one nightly partition through Dagster (the initial sync pulls the
whole history, gold is computed for every cell). Then prints, per month that has the three
months of baseline the rules need: expense transactions, flagged transactions (per rule),
category-months and category spikes, and the rates.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--months", type=int, default=8)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="finlake-unusual-"))
    os.environ["FINLAKE_HOME"] = str(home)

    from connectors.sandbox_bank.bank import SandboxBank
    from core.settings import load_settings
    from finlake.commands import pipeline, sandbox
    from lake.duck import connect
    from lake.lake import Lake

    settings = load_settings()
    day = datetime.now(UTC).date() - timedelta(days=1)
    SandboxBank.open(settings.sandbox_dir, users=args.users,
                     history_start=day - timedelta(days=round(args.months * 30.4)),
                     clock=day - timedelta(days=1))
    t = time.perf_counter()
    assert sandbox.link(settings) == 0
    assert pipeline._run_days(settings, [day], "nightly")
    print(f"setup: {args.users} users, {args.months} months of history, "
          f"{time.perf_counter() - t:.0f}s", flush=True)

    con = connect(Lake(settings.lake_root))
    months = [r[0] for r in con.execute(
        "SELECT DISTINCT month FROM monthly_cashflow ORDER BY 1").fetchall()]
    judged = months[3:-1]  # three months of baseline; the current month is partial
    print(f"\n{'month':8} {'expense txns':>12} {'outlier':>8} {'new large':>10} "
          f"{'txn rate':>9} {'cat-months':>11} {'spikes':>7} {'spike rate':>11}")
    totals = [0, 0, 0, 0, 0]
    for m in judged:
        txns = con.execute("SELECT coalesce(sum(txn_count), 0) FROM daily_spend "
                           "WHERE month = ? AND amount > 0", [m]).fetchone()[0]
        kinds = dict(con.execute("SELECT kind, count(*) FROM unusual_activity WHERE month = ? "
                                 "GROUP BY 1", [m]).fetchall())
        cat_months = con.execute("SELECT count(*) FROM (SELECT DISTINCT user_id, "
                                 "category_primary FROM monthly_spend WHERE month = ?)",
                                 [m]).fetchone()[0]
        out, new, spikes = (kinds.get(k, 0) for k in ("merchant_outlier", "new_merchant_large",
                                                      "category_spike"))
        rate = (out + new) / txns if txns else 0.0
        spike_rate = spikes / cat_months if cat_months else 0.0
        print(f"{m:8} {txns:>12,} {out:>8} {new:>10} {rate:>9.2%} {cat_months:>11,} "
              f"{spikes:>7} {spike_rate:>11.2%}")
        for i, v in enumerate((txns, out, new, cat_months, spikes)):
            totals[i] += v
    txns, out, new, cat_months, spikes = totals
    if txns:
        print(f"{'all':8} {txns:>12,} {out:>8} {new:>10} {(out + new) / txns:>9.2%} "
              f"{cat_months:>11,} {spikes:>7} {spikes / max(cat_months, 1):>11.2%}")
    users = con.execute("SELECT count(DISTINCT user_id) FROM monthly_cashflow").fetchone()[0]
    flagged = con.execute("SELECT count(*) FROM unusual_activity WHERE month IN (SELECT unnest("
                          "?::VARCHAR[]))", [judged]).fetchone()[0]
    print(f"flags per user per month: {flagged / max(users * len(judged), 1):.2f}")
    print("\nexamples:")
    for kind, reason in con.execute(
            "SELECT kind, any_value(reason) FROM unusual_activity GROUP BY 1 ORDER BY 1"
    ).fetchall():
        print(f"  {kind}: {reason}")


if __name__ == "__main__":
    main()
