"""Labelled transactions straight from the synthetic world (no HTTP): descriptions with their
true PFC v2 detailed category, for training and evaluating the category model."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from connectors.sandbox_bank.generator import Generator
from connectors.sandbox_bank.world import World

COLUMNS = ("description", "merchant_name", "amount", "category", "mcc", "user_id")
CSV_COLUMNS = ("description", "amount", "category")


def labelled_transactions(seed: int, users: int, start: date, end: date) -> pd.DataFrame:
    """Every posted transaction authorised in ``[start, end]`` (inclusive) of the world
    ``(seed, users)``, one row each: description (the name as it posted), merchant_name (None
    when the bank had not enriched it), amount, category (true PFC v2 detailed code), mcc and
    user_id. Voided authorisations and transactions the bank later removes are left out.
    Rows come in (user, account, day) order; the result is a pure function of the arguments.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    world = World(seed, users)
    gen = Generator(world)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    rows: list[tuple] = []
    for item in world.items:
        for acct in item.accounts:
            for day in days:
                for s in gen.stories(acct.account_id, day):
                    if s.posted_id is None or s.removed_day is not None:
                        continue
                    rows.append((s.name, s.merchant_name, s.amount, s.category, s.mcc,
                                 acct.user_id))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_labelled_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``description,amount,category`` (the format :func:`read_labelled_csv` reads)."""
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for desc, amount, cat in df[list(CSV_COLUMNS)].itertuples(index=False):
            w.writerow((desc, f"{float(amount):.2f}", cat))
    return path
