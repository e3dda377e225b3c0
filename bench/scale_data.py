"""Data at scale for the nightly benchmark: silver histories of given sizes and one day of raw
``/transactions/sync`` pages, landed exactly as the real sync lands them.

    .venv/bin/python -m bench.scale_data --dir DIR [--users 25000] [--new 1000000]
        [--histories 10000000 100000000] [--txns-per-month 14] [--day 2026-11-20] [--force]

Writes, for each history size H, a lake at ``DIR/h<H>/home/lake`` (``FINLAKE_HOME=DIR/h<H>/home``)
with delta-rs, no Spark, using the generators of ``bench/dashboard_lake.py`` (vectorised numpy:
sandbox-catalog merchants with statement descriptions, payroll, rent, card payments, savings
transfers, subscriptions, refunds, pending rows of the last days, removed and superseded rows,
user categories):

* ``transactions`` (silver, partitioned by ``posted_month``): ``--users`` people with every
  account linked since the first month, about ``--txns-per-month`` rows each a month, so every
  history has the same monthly volume and differs only in how many months it holds (H rows
  = that many months back from the day before ``--day``). The newest months are byte-for-byte
  the same in every lake, so one raw day applies to all of them. ``source_seq`` is stamped the
  way the raw contract stamps it (update = days since 1990, attempt, page, position).
* the newest ``--gold-months`` months of gold (daily/monthly spend, cash flow, trends, budget
  progress, unusual activity, budget alerts), the last ``--balance-days`` days of balances
  (``balance_observations``, ``balances_daily``, ``net_worth_daily``), and accounts,
  recurring payments, category overrides, manual budgets, institutions, the reference tables,
  a category model trained on k-anonymous (merchant, category, users) pairs, and the
  categorisation state a lake has after its last nightly (nothing to re-categorise).

The raw day (``DIR/raw_day``, hard-linked into every lake) is one sync day ``--day`` for every
item that has changes: ``--new`` added transactions (purchases of the day before, new pending
ones, postings of pending rows silver holds, linked by ``pending_transaction_id`` or not, and
a few late postings dated one to six months back), modifications (about 1% of ``--new``:
tips, corrections, a few in older months) and removals (the pending rows posted, cancelled
pending rows). Each item's update lands through ``lake/raw.py`` (``land_page`` with its
masking, the attempt's ``_manifest.json``, then the cursor), in Plaid's page shape
(``connectors/sandbox_bank`` objects, 500 records a page, the item's accounts with balances on
every page). ``finlake nightly --date DAY --replay`` (FINLAKE_HOME as above) merges it.

Running again with the same parameters reuses the data (``DIR/scale_data.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench import dashboard_lake as dl

GENERATOR_VERSION = 1
MARKER = "scale_data.json"
SEQ_EPOCH = date(1990, 1, 1)  # update numbers count days since this (positive for any history)
PAGE_SIZE = 500  # the sync's page size (FINLAKE_SYNC_PAGE_SIZE default)
FLUSH_ROWS = 4_000_000  # silver rows buffered per Delta commit
LANDING_THREADS = 32  # landing is fsync-bound (3 fsyncs an item)


def say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class ScaleSpec:
    users: int = 25_000
    new: int = 1_000_000
    histories: tuple[int, ...] = (10_000_000, 100_000_000)
    txns_per_month: int = 14
    day: str = "2026-11-20"
    gold_months: int = 15
    balance_days: int = 35
    seed: int = 7

    @property
    def sync_day(self) -> date:
        return date.fromisoformat(self.day)

    def params(self) -> dict[str, Any]:
        return {"generator_version": GENERATOR_VERSION, "registry": dl.registry_fingerprint(),
                **asdict(self), "histories": sorted(self.histories)}


def home_of(root: Path, rows: int) -> Path:
    return root / f"h{rows}" / "home"


# ---- Planning the months ---------------------------------------------------------------------


def monthly_rows(spec: ScaleSpec) -> float:
    """Expected silver rows of a full month (the fixed flows of dashboard_lake.silver_month
    plus purchases)."""
    fixed = 2 + 1 + 2 + 2 * 2 / 3 + 4.5
    return spec.users * (fixed + max(spec.txns_per_month - fixed, 1.0))


def months_for(spec: ScaleSpec, rows: int) -> int:
    """Months of history holding about ``rows`` rows (the newest one partial)."""
    as_of = spec.sync_day - timedelta(days=1)
    per_month = monthly_rows(spec)
    partial = per_month * as_of.day / 30.4
    return 1 + max(0, round((rows - partial) / per_month))


def lake_spec(spec: ScaleSpec) -> dl.LakeSpec:
    """The dashboard generator's spec covering the longest history (one population for all)."""
    months = max(months_for(spec, h) for h in spec.histories)
    as_of = spec.sync_day - timedelta(days=1)
    return dl.LakeSpec(users=spec.users, txns_per_month=spec.txns_per_month, months=months,
                       five_year_users=0, balance_days=spec.balance_days,
                       as_of=as_of.isoformat(), seed=spec.seed)


def population(spec: ScaleSpec, ls: dl.LakeSpec, vocab: dl.Vocabulary,
               starts: list[date], n_inst: int) -> dl.Population:
    """Every person linked since the first month of the longest history."""
    pop = dl.population(ls, vocab, starts, n_inst)
    pop.start_month[:] = 0
    pop.start_day[:] = dl.epoch_day(starts[0])
    return pop


# ---- Silver rows stamped like the raw contract stamps them -----------------------------------


def attempt_ids(days: np.ndarray) -> pa.Array:
    """The attempt id a 02:00 sync of each day gets (``%Y%m%dT%H%M%S%fZ``)."""
    d = np.asarray(days, dtype="datetime64[D]") + np.timedelta64(0, "D")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return dl.formatted((y * 10000 + m * 100 + dd, 8), b"T020000000000Z", n=len(d))


def restamp(table: pa.Table) -> pa.Table:
    """``source_seq``/``content_seq``/``raw_ref`` in the raw contract's format, with updates
    counted from 1990 (the dashboard generator counts from 2020, negative before it)."""
    n = table.num_rows
    sync = pc.cast(table["sync_date"], pa.int32()).to_numpy().astype(np.int64)
    upd = sync - dl.epoch_day(SEQ_EPOCH)
    attempt = attempt_ids(sync)
    pos = np.arange(n, dtype=np.int64) % 500
    head = dl.formatted((upd, 10), b"-", n=n)
    tail = dl.formatted(b"-00001-", (pos, 6), n=n)
    seq = pc.binary_join_element_wise(head, attempt, tail, "")
    ref = pc.binary_join_element_wise(
        "raw/transactions_sync/sync_date=", pc.cast(table["sync_date"], pa.string()),
        "/user=", table["user_id"], "/item=", table["item_id"], "/update=",
        dl.formatted((upd, 10), n=n), "/attempt=", attempt, "/page-00001.json", "")
    for name, col in (("source_seq", seq), ("content_seq", seq), ("raw_ref", ref)):
        table = table.set_column(table.schema.get_field_index(name), name, col)
    return table


@dataclass
class Candidates:
    """Silver rows the raw day changes: pending rows of the last days, recent posted rows,
    and a sample of older months' posted rows."""

    pending: list[pa.Table] = field(default_factory=list)
    recent: list[pa.Table] = field(default_factory=list)
    older: list[pa.Table] = field(default_factory=list)

    COLUMNS = ("user_id", "item_id", "account_id", "partner_txn_id", "amount", "posted_date",
               "authorized_date", "description", "merchant", "payment_channel")

    def take(self, table: pa.Table, months_back: int, as_of: date,
             rng: np.random.Generator) -> None:
        live = pc.equal(table["status"], "live")
        pending = pc.and_(live, table["pending"])
        if months_back == 0:
            self.pending.append(table.filter(pending).select(self.COLUMNS))
        if months_back <= 1:
            recent = pc.greater_equal(table["posted_date"],
                                      pa.scalar(as_of - timedelta(days=10), pa.date32()))
            self.recent.append(table.filter(pc.and_(pc.and_(live, pc.invert(pending)), recent))
                               .select(self.COLUMNS))
        if 1 <= months_back <= 6:
            idx = np.flatnonzero(pc.and_(live, pc.invert(pending)).to_numpy(
                zero_copy_only=False))
            pick = rng.choice(idx, min(len(idx), 40), replace=False)
            self.older.append(table.take(pa.array(np.sort(pick))).select(self.COLUMNS))


# ---- Writing the lakes -----------------------------------------------------------------------


class Lakes:
    """One delta-rs writer per history; a month is written to every lake whose history
    reaches back to it."""

    def __init__(self, root: Path, spec: ScaleSpec, ls: dl.LakeSpec) -> None:
        from lake.lake import Lake

        self.first: dict[int, int] = {h: ls.months - months_for(spec, h) for h in spec.histories}
        self.lakes = {h: Lake(str(home_of(root, h) / "lake")) for h in spec.histories}
        self.writers = {h: dl.LakeWriter(lake, ls) for h, lake in self.lakes.items()}
        self.buffer: dict[int, list[pa.Table]] = {h: [] for h in spec.histories}
        self.rows = dict.fromkeys(spec.histories, 0)

    def month(self, m: int, table: pa.Table) -> None:
        for h in self.lakes:
            if m >= self.first[h]:
                self.buffer[h].append(table)
                self.rows[h] += table.num_rows
        if max(sum(t.num_rows for t in b) for b in self.buffer.values()) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for h, tables in self.buffer.items():
            if tables:
                self.writers[h].write("transactions", pa.concat_tables(tables))
            self.buffer[h] = []
        for w in self.writers.values():
            w.barrier()

    def write(self, name: str, table: pa.Table) -> None:
        for w in self.writers.values():
            w.write(name, table)

    def finish(self) -> None:
        self.flush()
        for w in self.writers.values():
            w.finish()


def build_history(root: Path, spec: ScaleSpec) -> tuple[dict[str, Any], Any]:
    """Write every lake's tables; returns (facts per lake, what the raw day needs)."""
    from connectors.sandbox_bank.institutions import institutions_for

    began = time.perf_counter()
    ls = lake_spec(spec)
    vocab, tax, starts = dl.vocabulary(spec.seed), dl.Taxonomy.load(), dl.month_starts(ls)
    institutions = list(institutions_for(spec.seed, 40))
    pop = population(spec, ls, vocab, starts, len(institutions))
    as_of = date.fromisoformat(ls.as_of)
    lakes = Lakes(root, spec, ls)
    oldest = min(lakes.first.values())
    gold = dl.GoldBuilder(ls, pop, tax, dl.manual_budgets(ls, pop), spec.seed)
    wealth = dl.Wealth(ls, pop)
    rng = np.random.default_rng([spec.seed, 11])
    cands = Candidates()
    alerts: list[pa.Table] = []
    generated = 0
    say(f"silver history: {spec.users:,} users, ~{monthly_rows(spec):,.0f} rows a month; "
        + ", ".join(f"{h:,} rows = {ls.months - f} months" for h, f in lakes.first.items()))
    for m in range(oldest, ls.months):
        month = starts[m].strftime("%Y-%m")
        back = ls.months - 1 - m
        sm = dl.silver_month(ls, vocab, tax, pop, m, starts)
        table = restamp(sm.table)
        lakes.month(m, table)
        generated += table.num_rows
        if back <= 6:
            cands.take(table, back, as_of, rng)
        if back < spec.gold_months:
            month_end = min(starts[m + 1] - timedelta(days=1), as_of)
            for name, rows in gold.month(sm, m, month, month_end,
                                         dl.epoch_day(starts[m])).items():
                lakes.write(name, rows)
                if name == "budget_progress":
                    alerts.append(gold.alerts(rows))
        if starts[m + 1] - timedelta(days=1) >= as_of - timedelta(days=spec.balance_days):
            worth, balances = wealth.month(m, starts)
            lakes.write("net_worth_daily", worth)
            if balances is not None:
                lakes.write("balances_daily", balances)
                lakes.write("balance_observations", observations(balances))
        if back % 12 == 0 or back < 2:
            el = time.perf_counter() - began
            say(f"  [{m - oldest + 1:3d}/{ls.months - oldest} {month}] {generated:>12,} silver "
                f"rows generated in {el:6.1f}s ({generated / el:,.0f} rows/s)")
        del sm
    small = dl.small_tables(ls, pop, vocab, tax, wealth, starts, institutions)
    for name, rows in small.items():
        if name in ("credentials", "institution_health"):
            continue  # tokens are not needed by the nightly compute; health is a sync output
        lakes.write(name, unique_keys(name, rows))
    lakes.write("alerts", pa.concat_tables(alerts))
    t = time.perf_counter()
    lakes.finish()
    say(f"  last writes and checkpoints: {time.perf_counter() - t:.1f}s")
    facts = {}
    for h, w in lakes.writers.items():
        facts[str(h)] = {"home": str(home_of(root, h)), "silver_rows": lakes.rows[h],
                         "months": ls.months - lakes.first[h],
                         "first_month": starts[lakes.first[h]].strftime("%Y-%m"),
                         "tables": w.stats}
    seconds = time.perf_counter() - began
    say(f"silver + gold + balances written in {seconds:.1f}s: {generated:,} silver rows "
        f"generated ({generated / seconds:,.0f} rows/s), "
        + ", ".join(f"{h}: {f['silver_rows']:,} rows" for h, f in facts.items()))
    return facts, (pop, vocab, cands, small["accounts"])


def unique_keys(name: str, rows: pa.Table) -> pa.Table:
    """The first row of each key (a person can hold one subscription in two slots)."""
    from lake.tables import table

    keys = table(name).keys
    if not rows.num_rows or not set(keys) <= set(rows.column_names):
        return rows
    joined = pc.binary_join_element_wise(*[pc.cast(rows[k], pa.string()) for k in keys], "|")
    _, first = np.unique(joined.to_numpy(zero_copy_only=False), return_index=True)
    return rows.take(pa.array(np.sort(first)))


def observations(balances: pa.Table) -> pa.Table:
    """The observed days of ``balances_daily`` as the sync recorded them."""
    seen = balances.filter(balances["observed"])
    n = seen.num_rows
    stamp = pc.cast(seen["date"], pa.int32()).to_numpy().astype(np.int64) * dl.DAY_US
    return pa.table({
        "account_id": seen["account_id"], "user_id": seen["user_id"], "type": seen["type"],
        "date": seen["date"], "balance_current": seen["balance"],
        "needs_review": pa.array(np.zeros(n, bool)),
        "observed_at": dl.stamps(stamp + 2 * 3600 * 10**6),
        "source_seq": dl.formatted(
            (stamp // dl.DAY_US - dl.epoch_day(SEQ_EPOCH), 10), b"-accounts", n=n),
        "month": pc.strftime(seen["date"], "%Y-%m")})


# ---- Lake state a steady-state lake has --------------------------------------------------------


def finish_lakes(root: Path, spec: ScaleSpec, facts: dict[str, Any],
                 vocab: dl.Vocabulary) -> None:
    """Publish a category model (trained on k-anonymous pairs of the catalog's merchants) and
    write the categorisation state of a lake whose last nightly applied everything."""
    import pandas as pd

    from lake.lake import Lake
    from lake.tables import CATEGORY_OVERRIDES, MERCHANT_RULES
    from pipelines.categories.training import train_and_publish

    rng = np.random.default_rng([spec.seed, 12])
    keys = [(vocab.keys[p * dl.VARIANTS + v], vocab.categories[p])
            for p in vocab.purchase + vocab.recurring for v in range(dl.VARIANTS)]
    pairs = pd.DataFrame(keys, columns=["merchant_key", "category"]).drop_duplicates()
    pairs["users"] = rng.integers(3, 400, len(pairs))
    first: Lake | None = None
    for f in facts.values():
        lake = Lake(str(Path(f["home"]) / "lake"))
        if first is None:
            t = time.perf_counter()
            report = train_and_publish(pairs, lake.store, threshold=0.6, k=3)
            say(f"category model {report['version']} trained on {len(pairs):,} pairs "
                f"in {time.perf_counter() - t:.1f}s (published: {report['published']})")
            first = lake
        else:
            link_tree(Path(first.root) / "models", Path(lake.root) / "models")
        from lake import models

        newest = lake.delta(CATEGORY_OVERRIDES).to_pyarrow_table(columns=["created_at"])
        overrides_at = pc.max(newest["created_at"]).as_py()
        state = {"overrides_at": overrides_at.isoformat(),
                 "rules_version": lake.delta(MERCHANT_RULES).version(),
                 "model_version": models.current_version(lake.store),
                 "refreshed_at": f"{spec.day}T00:00:00+00:00"}
        lake.store.put("state/categorisation.json", json.dumps(state).encode())
        f["categorisation_state"] = state
        f["versions"] = {t.name: lake.delta(t).version() for t in lake.tables()}


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link a tree of write-once objects into another lake."""
    shutil.copytree(src, dst, copy_function=os.link, dirs_exist_ok=True)


# ---- The raw day -----------------------------------------------------------------------------


def _ids_of(ids: pa.Array, prefix: int) -> np.ndarray:
    """Integer index from ids like ``u0000042`` / ``item_0000042_1`` (digits after prefix)."""
    digits = pc.utf8_slice_codeunits(ids, prefix, prefix + 7)
    return pc.cast(digits, pa.int64()).to_numpy()


def _adds(spec: ScaleSpec, pop: dl.Population, vocab: dl.Vocabulary, rng: np.random.Generator,
          n: int, days: np.ndarray, pending: bool) -> dict[str, Any]:
    """``n`` new card or checking purchases from the catalog on ``days`` (epoch days)."""
    weight = rng.gamma(2.0, 1.0, spec.users)
    u = rng.choice(spec.users, n, p=weight / weight.sum())
    slot = np.where(rng.random(n) < 0.7, 1, 0)
    w = np.array(vocab.purchase_weight)
    payee = np.array(vocab.purchase)[rng.choice(len(w), n, p=w / w.sum())]
    lo, hi = np.log(np.array(vocab.lo)[payee]), np.log(np.array(vocab.hi)[payee])
    cents = np.round(np.exp(rng.uniform(lo, hi)) * 100).astype(np.int64)
    cents[rng.random(n) < 0.01] *= -1
    desc = payee * dl.VARIANTS + (u * 7 + payee) % dl.VARIANTS
    return {"kind": np.zeros(n, np.int8), "u": u, "item": pop.item_of_slot()[slot],
            "account_id": dl.pick(pop.account_ids, u * 4 + slot),
            "transaction_id": dl.hex_ids(rng, n, 36), "amount": cents / 100,
            "date": days, "authorized_date": days - rng.integers(0, 3, n) * (not pending),
            "name": dl.pick(vocab.descriptions, desc), "merchant_name": dl.pick(vocab.names, payee),
            "payment_channel": dl.pick(vocab.channels, payee),
            "pending": np.full(n, pending), "pending_transaction_id": pa.nulls(n, pa.string())}


def _from_silver(rows: pa.Table, kind: int, **overrides: Any) -> dict[str, Any]:
    n = rows.num_rows
    days = pc.cast(rows["posted_date"], pa.int32()).to_numpy().astype(np.int64)
    auth = pc.cast(pc.fill_null(rows["authorized_date"], rows["posted_date"]),
                   pa.int32()).to_numpy().astype(np.int64)
    cols = {"kind": np.full(n, kind, np.int8), "u": _ids_of(rows["user_id"], 1),
            "item": _ids_of(rows["item_id"], 13), "account_id": rows["account_id"],
            "transaction_id": rows["partner_txn_id"],
            "amount": pc.cast(rows["amount"], pa.float64()).to_numpy(zero_copy_only=False),
            "date": days, "authorized_date": auth, "name": rows["description"],
            "merchant_name": rows["merchant"], "payment_channel": rows["payment_channel"],
            "pending": np.zeros(n, bool), "pending_transaction_id": pa.nulls(n, pa.string())}
    cols.update(overrides)
    return cols


def day_changes(spec: ScaleSpec, pop: dl.Population, vocab: dl.Vocabulary,
                cands: Candidates) -> pa.Table:
    """Every change of the day, one row each, in stream order per item."""
    rng = np.random.default_rng([spec.seed, 13])
    d = dl.epoch_day(spec.sync_day)
    parts: list[dict[str, Any]] = []
    pending = pa.concat_tables(cands.pending)
    pending = pending.take(pa.array(rng.permutation(pending.num_rows)))
    posted = pending.slice(0, int(pending.num_rows * 0.7))
    cancelled = pending.slice(posted.num_rows, min(int(spec.new * 0.001),
                                                   pending.num_rows - posted.num_rows))
    n = posted.num_rows
    tip = np.where(rng.random(n) < 0.1, rng.integers(50, 500, n) / 100, 0.0)
    link = rng.random(n) < 0.8
    parts.append(_from_silver(posted, 2))  # the pending ids go away ...
    base = _from_silver(posted, 0)
    parts.append({**base, "transaction_id": dl.hex_ids(rng, n, 36),  # ... their postings come
                  "amount": np.round(base["amount"] + tip, 2),
                  "date": np.minimum(base["date"] + rng.integers(0, 2, n), d),
                  "pending_transaction_id": pc.if_else(pa.array(link), posted["partner_txn_id"],
                                                       pa.scalar(None, pa.string()))})
    parts.append(_from_silver(cancelled, 2))
    recent = pa.concat_tables(cands.recent)
    pick = rng.choice(recent.num_rows, min(recent.num_rows, spec.new // 100), replace=False)
    mod = recent.take(pa.array(np.sort(pick)))
    older = pa.concat_tables(cands.older)
    for rows in (mod, older):
        m = _from_silver(rows, 1)
        m["amount"] = np.round(m["amount"] + rng.integers(1, 800, rows.num_rows) / 100, 2)
        parts.append(m)
    late = max(1, spec.new // 2000)
    back = rng.integers(20, 100, late)
    back[: min(10, late)] = rng.integers(150, 185, min(10, late))  # about six months late
    parts.append(_adds(spec, pop, vocab, rng, late, d - back, pending=False))
    fresh = int(spec.new * 0.08)
    parts.append(_adds(spec, pop, vocab, rng, fresh, d - rng.integers(0, 2, fresh), True))
    rest = max(0, spec.new - n - late - fresh)
    when = d - np.select([rng.random(rest) < 0.75, rng.random(rest) < 0.6], [1, 2], 0)
    parts.append(_adds(spec, pop, vocab, rng, rest, when, pending=False))
    cols: dict[str, list[Any]] = {}
    for p in parts:
        for k, v in p.items():
            cols.setdefault(k, []).append(v if isinstance(v, pa.Array | pa.ChunkedArray)
                                          else pa.array(v))
    table = pa.table({k: pa.concat_arrays([c.combine_chunks() if isinstance(
        c, pa.ChunkedArray) else c for c in v]) for k, v in cols.items()})
    for name in ("date", "authorized_date"):
        table = table.set_column(table.schema.get_field_index(name), name, pc.cast(
            dl.dates(table[name].to_numpy()), pa.string()))
    order = pc.sort_indices(table, [("u", "ascending"), ("item", "ascending"),
                                    ("kind", "ascending")])
    return table.take(order)


def account_payloads(accounts: pa.Table, rng: np.random.Generator
                     ) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """item_id -> (institution_id, the item's accounts as Plaid sends them, balances of the
    day: the last known balance moved a little)."""
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    moved = rng.normal(0, 40, accounts.num_rows)
    for r, delta in zip(accounts.to_pylist(), moved, strict=True):
        current = round(float(r["balance_current"] or 0) + float(delta), 2)
        balances = {"available": current if r["type"] == "depository" else None,
                    "current": current, "limit": None, "iso_currency_code": "USD",
                    "unofficial_currency_code": None}
        out.setdefault(r["item_id"], (r["institution_id"], []))[1].append({
            "account_id": r["account_id"], "balances": balances, "mask": r["mask"],
            "name": r["name"], "official_name": f"Bank {r['name']}", "type": r["type"],
            "subtype": r["subtype"]})
    return out


def land_day(store: Any, spec: ScaleSpec, changes: pa.Table,
             accounts: dict[str, tuple[str, list[dict[str, Any]]]]) -> dict[str, int]:
    """Land each item's update of the day through lake/raw.py, items in parallel."""
    from connectors.sandbox_bank.changes import to_plaid
    from lake.raw import UpdateRef, complete_update, land_page, save_cursor

    day = spec.sync_day
    update_seq = (day - SEQ_EPOCH).days
    attempt = f"{day:%Y%m%d}T020000000000Z"
    landed_at = f"{day.isoformat()}T02:00:00+00:00"
    key = changes["u"].to_numpy() * 3 + changes["item"].to_numpy()
    bounds = np.flatnonzero(np.diff(key)) + 1
    starts = np.concatenate([[0], bounds]).tolist()
    ends = [*bounds.tolist(), len(key)]
    groups = list(zip(starts, ends, strict=True))
    totals = {"items": 0, "pages": 0, "records": 0}
    began = time.perf_counter()
    kinds = ("added", "modified", "removed")

    def land_item(rows: list[dict[str, Any]]) -> int:
        first = rows[0]
        item_id = f"item_{first['u']:07d}_{first['item']}"
        institution, accts = accounts[item_id]
        records = []
        for r in rows:
            if r["kind"] == 2:
                records.append(("removed", {"account_id": r["account_id"],
                                            "transaction_id": r["transaction_id"]}))
            else:
                records.append((kinds[r["kind"]], to_plaid({**r, "iso_currency_code": "USD",
                                                            "merchant_entity_id": None})))
        ref = UpdateRef(day, f"u{first['u']:07d}", item_id, update_seq, attempt)
        keys, counts = [], dict.fromkeys(kinds, 0)
        chunks = range(0, len(records), PAGE_SIZE)
        cursor = ""
        for i, at in enumerate(chunks, 1):
            body: dict[str, Any] = {k: [] for k in kinds}
            for kind, rec in records[at:at + PAGE_SIZE]:
                body[kind].append(rec)
                counts[kind] += 1
            cursor = f"c{update_seq}-{item_id}-{i}"
            body.update(next_cursor=cursor, has_more=i < len(chunks), accounts=accts,
                        transactions_update_status="HISTORICAL_UPDATE_COMPLETE")
            keys.append(land_page(store, ref, i, body, institution, landed_at))
        complete_update(store, ref, keys, landed_at, counts)
        save_cursor(store, item_id, cursor, update_seq)
        return len(keys)

    def land_batch(batch: list[tuple[int, int]]) -> tuple[int, int, int]:
        lo, hi = batch[0][0], batch[-1][1]
        rows = changes.slice(lo, hi - lo).to_pylist()
        pages = sum(land_item(rows[a - lo:b - lo]) for a, b in batch)
        return len(batch), pages, hi - lo

    batches = [groups[i:i + 50] for i in range(0, len(groups), 50)]
    step = max(1, len(batches) // 10)
    with ThreadPoolExecutor(LANDING_THREADS) as pool:
        for i, (items, pages, records) in enumerate(pool.map(land_batch, batches), 1):
            totals["items"] += items
            totals["pages"] += pages
            totals["records"] += records
            if i % step == 0 or i == len(batches):
                el = time.perf_counter() - began
                say(f"  landed {totals['items']:,}/{len(groups):,} items, {totals['pages']:,} "
                    f"pages, {totals['records']:,} records in {el:.1f}s "
                    f"({totals['records'] / el:,.0f} records/s)")
    return totals


def build_raw_day(root: Path, spec: ScaleSpec, pop: dl.Population, vocab: dl.Vocabulary,
                  cands: Candidates, accounts: pa.Table) -> dict[str, Any]:
    from lake.objectstore import LocalObjectStore

    t = time.perf_counter()
    changes = day_changes(spec, pop, vocab, cands)
    counts = {k: int(pc.sum(pc.equal(changes["kind"], i)).as_py())
              for i, k in enumerate(("added", "modified", "removed"))}
    say(f"raw day {spec.day}: {changes.num_rows:,} changes {counts} built in "
        f"{time.perf_counter() - t:.1f}s")
    raw_root = root / "raw_day"
    shutil.rmtree(raw_root, ignore_errors=True)
    payloads = account_payloads(accounts, np.random.default_rng([spec.seed, 14]))
    t = time.perf_counter()
    totals = land_day(LocalObjectStore(raw_root), spec, changes, payloads)
    seconds = time.perf_counter() - t
    return {**counts, **totals, "land_s": round(seconds, 1),
            "records_per_s": round(totals["records"] / seconds)}


def link_raw_day(root: Path, home: Path) -> None:
    """Hard-link the landed day (pages, manifests, cursors) into a lake."""
    for sub in ("raw", "state/sync"):
        link_tree(root / "raw_day" / sub, home / "lake" / sub)


# ---- Entry points ------------------------------------------------------------------------------


def build(root: Path, spec: ScaleSpec) -> dict[str, Any]:
    began = time.perf_counter()
    for h in spec.histories:
        shutil.rmtree(root / f"h{h}", ignore_errors=True)
    facts, (pop, vocab, cands, accounts) = build_history(root, spec)
    finish_lakes(root, spec, facts, vocab)
    raw = build_raw_day(root, spec, pop, vocab, cands, accounts)
    for f in facts.values():
        link_raw_day(root, Path(f["home"]))
    return {"params": spec.params(), "status": "done", "lakes": facts, "raw_day": raw,
            "seconds": round(time.perf_counter() - began, 1)}


def ensure(root: Path, spec: ScaleSpec, force: bool = False) -> dict[str, Any]:
    """The data for ``spec`` under ``root``: reused when its marker matches, else generated."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if marker.exists() and not force:
        info = json.loads(marker.read_text())
        if info.get("status") == "done" and info.get("params") == spec.params():
            say(f"reusing the data at {root} (generated in {info['seconds']} s)")
            return info
    marker.write_text(json.dumps({"params": spec.params(), "status": "building"}))
    info = build(root, spec)
    marker.write_text(json.dumps(info, indent=1, default=str))
    say(f"data ready at {root} in {info['seconds']} s")
    return info


def add_arguments(ap: argparse.ArgumentParser) -> None:
    d = ScaleSpec()
    ap.add_argument("--users", type=int, default=d.users)
    ap.add_argument("--new", type=int, default=d.new, help="added transactions in the day")
    ap.add_argument("--histories", type=int, nargs="+", default=list(d.histories),
                    help="silver history sizes (rows)")
    ap.add_argument("--txns-per-month", type=int, default=d.txns_per_month,
                    help="silver rows per person and month (at least ~12: fixed flows)")
    ap.add_argument("--day", default=d.day, help="the sync day of the raw pages")
    ap.add_argument("--gold-months", type=int, default=d.gold_months)
    ap.add_argument("--balance-days", type=int, default=d.balance_days)
    ap.add_argument("--seed", type=int, default=d.seed)


def spec_from_args(args: argparse.Namespace) -> ScaleSpec:
    return ScaleSpec(users=args.users, new=args.new, histories=tuple(sorted(args.histories)),
                     txns_per_month=args.txns_per_month, day=args.day,
                     gold_months=args.gold_months, balance_days=args.balance_days,
                     seed=args.seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, required=True, help="where the lakes are written")
    ap.add_argument("--force", action="store_true", help="regenerate even if the marker matches")
    add_arguments(ap)
    args = ap.parse_args()
    info = ensure(args.dir, spec_from_args(args), force=args.force)
    for h, f in info["lakes"].items():
        say(f"FINLAKE_HOME={f['home']}  # {int(h):,}-row history: {f['silver_rows']:,} silver "
            f"rows, {f['months']} months from {f['first_month']}")
    say(f"then: .venv/bin/finlake nightly --date {args.day} --replay")


if __name__ == "__main__":
    main()
