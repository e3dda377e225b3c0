"""A synthetic lake for dashboard benchmarks: N users with 1-60 months of history each.

    .venv/bin/python -m bench.dashboard_lake --out DIR [--users 100000] [--txns-per-month 25]
        [--unsorted] [--seed 7] [--force]

Writes DIR/lake (so ``FINLAKE_HOME=DIR`` finds it) with delta-rs, no Spark: silver
transactions and accounts, every gold table the dashboard reads, alerts, sync jobs,
institution health, credentials and the reference tables. Users ``u0000000``... have 1-60
months of history (uniform); the showcase user ``u0000042`` and a pool of other users (the
"five-year users", listed in the marker) have exactly 60. About ``--txns-per-month`` silver
rows per user and month: payroll, rent, a card payment, savings transfers, 3-6 subscriptions
and purchases drawn from the sandbox bank's merchant catalog (462 merchants, statement-style
descriptions). Amounts are positive for money out.

Gold is computed from the generated silver, month by month with DuckDB, by the rules of
``pipelines/gold/spend.py`` (live posted rows, effective category, transfers apart), so
``monthly_spend`` is exactly the aggregate of a user's transactions. Budgets use the mean of
the previous six months instead of the pipeline's median, and unusual activity is a sample
of the right size, not the pipeline's rules: both have the real shape and volume.

``net_worth_daily`` (user x day) is written for every day of every user's history;
``balances_daily`` (account x day, three times larger) only for the last ``--balance-days``
days for everyone plus the full history of the five-year users; ``sync_jobs`` for the last
``--sync-days`` days. Each partition (month; sync date) is written with its rows sorted by
user (the layout a sort / Z-order compaction on user_id gives); ``--unsorted`` shuffles them.
A finished lake is marked by DIR/dashboard_lake.json (parameters and sizes); running again
with the same parameters reuses it.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GENERATOR_VERSION = 1
MARKER = "dashboard_lake.json"
SHOWCASE_INDEX = 42
EPOCH = date(1970, 1, 1)
DAY_US = 86_400_000_000
ROW_GROUP_ROWS = 128 * 1024
TARGET_FILE_BYTES = 128 << 20
VARIANTS = 6  # statement descriptions rendered per merchant


@dataclass(frozen=True)
class LakeSpec:
    users: int = 100_000
    txns_per_month: int = 25
    months: int = 60
    five_year_users: int = 20  # the showcase user and others with the full ``months``
    balance_days: int = 90
    sync_days: int = 30
    as_of: str = "2026-11-20"
    seed: int = 7
    unsorted: bool = False

    def params(self) -> dict[str, Any]:
        return {"generator_version": GENERATOR_VERSION, "registry": registry_fingerprint(),
                **asdict(self)}


def registry_fingerprint() -> str:
    """Changes when a table's columns or partitioning change (the lake is then regenerated)."""
    import hashlib

    from lake.tables import REGISTRY

    facts = sorted((t.name, t.columns, t.partition_by) for t in REGISTRY.values())
    return hashlib.sha256(repr(facts).encode()).hexdigest()[:16]


def user_id(i: int) -> str:
    return f"u{i:07d}"


def pool_indices(spec: LakeSpec) -> list[int]:
    """The five-year users, the showcase user first, the rest spread over the id range."""
    show = SHOWCASE_INDEX if spec.users > SHOWCASE_INDEX else 0
    out = [show]
    for i in np.linspace(0, spec.users - 1, spec.five_year_users + 1).astype(int).tolist():
        if len(out) >= min(spec.five_year_users, spec.users):
            break
        if i not in out:
            out.append(i)
    return out


# ---- Arrow columns built from numpy buffers (no per-row Python) ------------------------------

_HEX = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16)
_DEC = np.frombuffer(b"".join(f"{i:02d}".encode() for i in range(100)), dtype=np.uint16)


def _fixed(chars: np.ndarray) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII codes."""
    n, w = chars.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets),
                                       pa.py_buffer(np.ascontiguousarray(chars)))


def _put_digits(out: np.ndarray, x: np.ndarray, width: int) -> None:
    """Write ``x`` zero-padded into the ``width`` columns of ``out`` (a uint8 matrix slice)."""
    x = np.asarray(x, dtype=np.int64).copy()
    k = width
    while k >= 2:
        out[:, k - 2:k] = _DEC[x % 100].view(np.uint8).reshape(-1, 2)
        x //= 100
        k -= 2
    if k:
        out[:, 0] = x % 10 + 48


def formatted(*parts: bytes | tuple[np.ndarray, int], n: int) -> pa.Array:
    """Strings of fixed layout: literal bytes and (integers, zero-padded width) parts."""
    width = sum(len(p) if isinstance(p, bytes) else p[1] for p in parts)
    out = np.empty((n, width), dtype=np.uint8)
    at = 0
    for p in parts:
        if isinstance(p, bytes):
            out[:, at:at + len(p)] = np.frombuffer(p, dtype=np.uint8)
            at += len(p)
        else:
            _put_digits(out[:, at:at + p[1]], p[0], p[1])
            at += p[1]
    return _fixed(out)


def hex_ids(rng: np.random.Generator, n: int, chars: int = 32) -> pa.Array:
    raw = np.frombuffer(rng.bytes(n * (chars // 2)), dtype=np.uint8)
    return _fixed(_HEX[raw].view(np.uint8).reshape(n, chars))


def money(cents: np.ndarray) -> pa.Array:
    """decimal(18,2) from integer cents."""
    c = np.asarray(cents, dtype=np.int64)
    buf = np.empty((len(c), 2), dtype=np.int64)
    buf[:, 0], buf[:, 1] = c, c >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(c), [None, pa.py_buffer(buf)])


def dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32())


def stamps(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), pa.timestamp("us", tz="UTC"))


def pick(values: list[Any] | pa.Array, idx: np.ndarray) -> pa.Array:
    vocab = values if isinstance(values, pa.Array) else pa.array(values)
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


def epoch_day(d: date) -> int:
    return (d - EPOCH).days


def month_starts(spec: LakeSpec) -> list[date]:
    """First day of each month of the window (oldest first), then of the month after it."""
    end = date.fromisoformat(spec.as_of)
    last = end.year * 12 + end.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(last - spec.months + 1, last + 2)]


# ---- The vocabulary: merchants and money flows with statement descriptions ------------------


@dataclass
class Vocabulary:
    """Payees (catalog merchants, then flows); each has VARIANTS descriptions."""

    names: list[str | None] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)  # payee * VARIANTS + v
    keys: list[str] = field(default_factory=list)
    purchase: list[int] = field(default_factory=list)
    purchase_weight: list[float] = field(default_factory=list)
    recurring: list[int] = field(default_factory=list)
    flows: dict[str, int] = field(default_factory=dict)


FLOW_KEYS = ("payroll", "rent", "card_pay_out", "card_pay_in", "savings_out", "savings_in")
CITIES = (("SAN FRANCISCO", "CA"), ("AUSTIN", "TX"), ("BROOKLYN", "NY"), ("CHICAGO", "IL"),
          ("SEATTLE", "WA"), ("DENVER", "CO"), ("ATLANTA", "GA"), ("BOSTON", "MA"))


def vocabulary(seed: int) -> Vocabulary:
    from connectors.sandbox_bank.merchants import FLOWS, MERCHANTS, render
    from pipelines.categories.merchants import normalise_key

    r = random.Random(seed)
    v = Vocabulary()
    extra = {"EMP": "ACME CORP", "LANDLORD": "OAKWOOD PROPERTIES", "BANK": "PLATYPUS",
             "MASK": "4821", "PERSON": "J SMITH", "TICKER": "VTI"}

    def add(name: str | None, category: str, channel: str, lo: float, hi: float,
            templates: tuple[str, ...], token: str) -> int:
        idx = len(v.names)
        v.names.append(name)
        v.categories.append(category)
        v.channels.append(channel)
        v.lo.append(lo)
        v.hi.append(hi)
        for _ in range(VARIANTS):
            city, state = r.choice(CITIES)
            text = render(r.choice(templates), r, date(2026, r.randint(1, 12), r.randint(1, 28)),
                          city=city, state=state, token=token, extra=extra)
            v.descriptions.append(text)
            v.keys.append(normalise_key(name or text) or normalise_key(text))
        return idx

    for m in MERCHANTS:
        i = add(m.name, m.category, m.channel, *m.amount_range, m.templates, m.token)
        if m.recurring:
            v.recurring.append(i)
        else:
            v.purchase.append(i)
            v.purchase_weight.append(m.weight)
    for key in FLOW_KEYS:
        f = FLOWS[key]
        v.flows[key] = add(f.merchant_name, f.category, f.channel, 0, 0, f.templates, "")
    return v


# ---- Users ----------------------------------------------------------------------------------

@dataclass
class Population:
    """Per-user facts. Account slots: 0 checking, 1 credit card, 2 savings (users with 3 or 4
    accounts), 3 a mortgage or a brokerage account (4 accounts); items: 0 the bank (slots 0
    and 2), 1 the card issuer, 2 the lender or broker."""

    n: int
    start_month: np.ndarray  # index of the first month of history
    start_day: np.ndarray  # epoch day of the first day of history
    accounts: np.ndarray  # 2..4
    slot3_loan: np.ndarray  # bool: slot 3 is a mortgage (else a brokerage account)
    pay: np.ndarray  # cents per pay cheque (twice a month)
    rent: np.ndarray
    rent_day: np.ndarray
    card_day: np.ndarray
    saving: np.ndarray
    subs: np.ndarray  # (n, 6) payee index
    sub_price: np.ndarray  # (n, 6) cents
    sub_day: np.ndarray
    sub_count: np.ndarray  # 3..6
    institution: np.ndarray  # (n, 3) institution index per item (bank, card, other)
    ids: pa.Array  # user_id strings
    account_ids: pa.Array  # (n * 4) strings, index u * 4 + slot
    item_ids: pa.Array  # (n * 3) strings, index u * 3 + item

    def item_of_slot(self) -> np.ndarray:
        return np.array([0, 1, 0, 2])


def population(spec: LakeSpec, vocab: Vocabulary, starts: list[date], n_inst: int
               ) -> Population:
    rng = np.random.default_rng([spec.seed, 1])
    n, months = spec.users, spec.months
    history = rng.integers(1, months + 1, n)
    pool = pool_indices(spec)
    history[pool] = months
    start_month = months - history
    first = np.array([epoch_day(d) for d in starts])
    last_day = epoch_day(date.fromisoformat(spec.as_of))
    start_day = np.minimum(first[start_month] + rng.integers(0, 28, n), last_day)
    start_day[pool] = first[0]
    accounts = rng.integers(2, 5, n)
    pay = np.round(np.exp(rng.normal(np.log(2300), 0.45, n)) * 100).astype(np.int64)
    rec = np.array(vocab.recurring)
    subs = rec[rng.integers(0, len(rec), (n, 6))]
    lo, hi = np.array(vocab.lo)[subs], np.array(vocab.hi)[subs]
    sub_price = (np.floor(rng.uniform(lo, hi)) * 100 + 99).astype(np.int64)
    u = np.arange(n)
    return Population(
        n=n, start_month=start_month, start_day=start_day, accounts=accounts,
        slot3_loan=rng.random(n) < 0.4, pay=pay,
        rent=np.round(pay * 2 * rng.uniform(0.25, 0.4, n), -2).astype(np.int64),
        rent_day=rng.integers(0, 5, n), card_day=rng.integers(18, 26, n),
        saving=np.round(pay * rng.uniform(0.05, 0.2, n), -3).astype(np.int64),
        subs=subs, sub_price=sub_price, sub_day=rng.integers(0, 28, (n, 6)),
        sub_count=rng.integers(3, 7, n), institution=rng.integers(0, n_inst, (n, 3)),
        ids=formatted(b"u", (u, 7), n=n),
        account_ids=formatted(b"acc_", (np.repeat(u, 4), 7), b"_",
                              (np.tile(np.arange(4), n), 1), n=n * 4),
        item_ids=formatted(b"item_", (np.repeat(u, 3), 7), b"_",
                           (np.tile(np.arange(3), n), 1), n=n * 3),
    )


# ---- Silver transactions, one month at a time ------------------------------------------------


@dataclass
class Taxonomy:
    """Category codes (the reference taxonomy, then UNCATEGORIZED) and their primaries."""

    codes: list[str]
    index: dict[str, int]
    expense: np.ndarray  # indices of categories people spend in
    primaries: list[str]  # sorted
    primary_of: np.ndarray  # code index -> primary index
    flow: np.ndarray  # code index -> 0 expense, 1 income, 2 transfer (pipelines/gold/flows.py)
    no_category: np.ndarray  # code indexes whose money in is income (flows.NO_CATEGORY_PRIMARY)

    @classmethod
    def load(cls) -> Taxonomy:
        from pipelines.categories.reference import categories

        rows = categories() + [{"category": "UNCATEGORIZED",
                                "category_primary": "UNCATEGORIZED"}]
        codes = [r["category"] for r in rows]
        primaries = sorted({r["category_primary"] for r in rows})
        prim = np.array([primaries.index(r["category_primary"]) for r in rows])
        from pipelines.gold.flows import (
            INCOME_PRIMARY,
            NO_CATEGORY_PRIMARY,
            TRANSFER_DETAILED,
            TRANSFER_PRIMARY,
        )

        flow = np.array([
            2 if r["category_primary"] in TRANSFER_PRIMARY or r["category"] in TRANSFER_DETAILED
            else 1 if r["category_primary"] == INCOME_PRIMARY else 0 for r in rows])
        expense = np.flatnonzero((flow == 0) & (np.array(codes) != "UNCATEGORIZED"))
        no_category = np.array([r["category_primary"] in NO_CATEGORY_PRIMARY for r in rows])
        return cls(codes, {c: i for i, c in enumerate(codes)}, expense, primaries, prim, flow,
                   no_category)


@dataclass
class SilverMonth:
    """One month of silver as Arrow, plus the numpy columns gold is computed from."""

    table: pa.Table
    u: np.ndarray
    day: np.ndarray
    category: np.ndarray  # effective category index (user's, else automatic, else UNCATEGORIZED)
    amount: np.ndarray  # cents
    countable: np.ndarray  # live and posted
    desc: np.ndarray  # description index (merchant key)


def silver_month(spec: LakeSpec, vocab: Vocabulary, tax: Taxonomy, pop: Population, m: int,
                 starts: list[date]) -> SilverMonth:
    """Every transaction of month ``m`` of the window, sorted by user then date."""
    rng = np.random.default_rng([spec.seed, 2, m])
    f0, f1 = epoch_day(starts[m]), epoch_day(starts[m + 1])
    last = epoch_day(date.fromisoformat(spec.as_of))
    active = np.flatnonzero(pop.start_month <= m)
    us, days, payees, cents, slots = [], [], [], [], []

    def add(u: np.ndarray, day: Any, payee: Any, amount: Any, slot: int | np.ndarray) -> None:
        us.append(u)
        days.append(np.broadcast_to(day, u.shape))
        payees.append(np.broadcast_to(payee, u.shape))
        cents.append(np.broadcast_to(amount, u.shape))
        slots.append(np.broadcast_to(slot, u.shape))

    flows = vocab.flows
    for offset in (0, 14):
        add(active, f0 + offset, flows["payroll"], -pop.pay[active], 0)
    add(active, f0 + pop.rent_day[active], flows["rent"], pop.rent[active], 0)
    card = np.round(np.exp(rng.normal(np.log(900), 0.5, len(active))) * 100).astype(np.int64)
    add(active, f0 + pop.card_day[active], flows["card_pay_out"], card, 0)
    add(active, f0 + pop.card_day[active], flows["card_pay_in"], -card, 1)
    saver = active[pop.accounts[active] >= 3]
    add(saver, f0 + 1, flows["savings_out"], pop.saving[saver], 0)
    add(saver, f0 + 1, flows["savings_in"], -pop.saving[saver], 2)
    has = np.arange(6)[None, :] < pop.sub_count[active][:, None]
    add(np.broadcast_to(active[:, None], has.shape)[has], f0 + pop.sub_day[active][has],
        pop.subs[active][has], pop.sub_price[active][has], 1)
    fixed = 2 + 1 + 2 + 2 * 2 / 3 + 4.5
    count = rng.poisson(max(spec.txns_per_month - fixed, 1.0), len(active))
    u = np.repeat(active, count)
    weights = np.array(vocab.purchase_weight)
    payee = np.array(vocab.purchase)[rng.choice(len(weights), len(u), p=weights / weights.sum())]
    lo, hi = np.log(np.array(vocab.lo)[payee]), np.log(np.array(vocab.hi)[payee])
    amount = np.round(np.exp(rng.uniform(lo, hi)) * 100).astype(np.int64)
    amount[rng.random(len(u)) < 0.01] *= -1  # refunds net against their category
    add(u, f0 + rng.integers(0, f1 - f0, len(u)), payee, amount,
        np.where(rng.random(len(u)) < 0.7, 1, 0))
    n_fixed = sum(len(x) for x in us[:-1])

    u = np.concatenate(us)
    day = np.concatenate(days).astype(np.int64)
    payee = np.concatenate(payees).astype(np.int64)
    amount = np.concatenate(cents).astype(np.int64)
    slot = np.concatenate(slots).astype(np.int64)
    is_purchase = np.arange(len(u)) >= n_fixed
    keep = (day >= pop.start_day[u]) & (day <= min(f1 - 1, last))
    order = np.lexsort((day[keep], u[keep]))  # LakeWriter shuffles for --unsorted
    u, day, payee, amount, slot = (x[keep][order] for x in (u, day, payee, amount, slot))
    is_purchase = is_purchase[keep][order]
    n = len(u)

    cat = np.array([tax.index[c] for c in vocab.categories])[payee]
    draw = rng.random(n)
    source = np.where(~is_purchase | (draw < 0.8), 0, np.where(draw < 0.92, 1, 2))
    wrong = (source == 1) & (rng.random(n) < 0.1)
    cat[wrong] = tax.expense[rng.integers(0, len(tax.expense), int(wrong.sum()))]
    confidence = np.where(source == 0, 1.0, rng.uniform(0.6, 0.95, n))
    overridden = is_purchase & (rng.random(n) < 0.003)
    user_cat = tax.expense[rng.integers(0, len(tax.expense), n)]
    status = np.zeros(n, dtype=np.int64)
    draw = rng.random(n)
    status[draw < 0.002] = 1  # removed by the partner
    status[(draw >= 0.002) & (draw < 0.005)] = 2  # a pending row its posted row replaced
    pending = ((day > last - 3) & (rng.random(n) < 0.6)) | (status == 2)
    linked = ~pending & (day > last - 14) & (rng.random(n) < 0.4)
    sync_day = np.minimum(day + 1, last)
    upd = sync_day - epoch_day(date(2020, 1, 1))
    pos = rng.integers(0, 500, n)
    item = pop.item_of_slot()[slot]
    seq = formatted((upd, 10), b"-1-00001-", (pos, 4), n=n)
    stamp = sync_day * DAY_US + 3 * 3600 * 10**6 + rng.integers(0, 3600 * 10**6, n)
    variant = (u * 7 + payee) % VARIANTS
    desc = payee * VARIANTS + variant

    def some_ids(mask: np.ndarray) -> pa.Array:
        idx = np.where(mask, np.cumsum(mask) - 1, 0)
        return hex_ids(rng, int(mask.sum()) or 1).take(pa.array(idx, mask=~mask))

    user, item_id = pick(pop.ids, u), pick(pop.item_ids, u * 3 + item)
    cols: dict[str, pa.Array] = {
        "txn_id": hex_ids(rng, n),
        "user_id": user,
        "item_id": item_id,
        "account_id": pick(pop.account_ids, u * 4 + slot),
        "partner_txn_id": hex_ids(rng, n, 36),
        "pending": pa.array(pending),
        "pending_partner_txn_id": some_ids(linked),
        "amount": money(amount),
        "currency": pick(["USD"], np.zeros(n)),
        "posted_date": dates(day),
        "authorized_date": dates(day - np.where(is_purchase, rng.integers(0, 3, n), 0)),
        "description": pick(vocab.descriptions, desc),
        "merchant": pick(vocab.names, payee),
        "merchant_key": pick(vocab.keys, desc),
        "payment_channel": pick(vocab.channels, payee),
        "category": pa.array(tax.codes).take(pa.array(cat, mask=source == 2)),
        "category_source": pick(["rule", "model", "none"], source),
        "category_confidence": pa.array(confidence, mask=source == 2),
        "user_category": pa.array(tax.codes).take(pa.array(user_cat, mask=~overridden)),
        "status": pick(["live", "removed", "superseded"], status),
        "removed_at": pa.array(stamp + DAY_US, pa.timestamp("us", tz="UTC"),
                               mask=status != 1),
        "superseded_by": some_ids(status == 2),
        "supersede_method": pa.array(["link"]).take(pa.array(np.zeros(n, np.int64),
                                                              mask=status != 2)),
        "partner_duplicate": pa.array(np.zeros(n, dtype=bool)),
        "source_seq": seq,
        "content_seq": seq,
        "raw_ref": pc.binary_join_element_wise(
            "raw/transactions_sync/sync_date=", pc.cast(dates(sync_day), pa.string()),
            "/user=", user, "/item=", item_id, "/update=",
            pc.utf8_lpad(pc.cast(pa.array(upd), pa.string()), 10, "0"),
            "/attempt=1/page-00001.json", ""),
        "sync_date": dates(sync_day),
        "updated_at": stamps(stamp),
        "posted_month": pick([starts[m].strftime("%Y-%m")], np.zeros(n)),
    }
    effective = np.where(overridden, user_cat,
                         np.where(source == 2, tax.index["UNCATEGORIZED"], cat))
    return SilverMonth(pa.table(cols), u, day, effective, amount, (status == 0) & ~pending, desc)


# ---- Gold from silver, one month at a time (DuckDB, the rules of pipelines/gold/spend.py) --------

BUDGET_ALERTS = """
SELECT substr(sha256(concat_ws('|', 'budget', user_id, category_primary, month,
                     CASE state WHEN 'exceeded' THEN 'exceeded_100' ELSE 'approaching_80' END)),
              1, 32) AS alert_key,
       'budget_' || state AS kind, user_id, category_primary AS subject,
       printf('%s: spent $%s of $%s (%d%%), %s this month''s budget', category_primary,
              CAST(spent AS VARCHAR), CAST(budget AS VARCHAR), CAST(round(share * 100) AS INT),
              CASE state WHEN 'exceeded' THEN 'over' ELSE 'close to' END) AS detail,
       month AS period, CAST(as_of AS TIMESTAMPTZ) + INTERVAL 6 HOUR AS created_at,
       CAST(as_of AS TIMESTAMPTZ) + INTERVAL 6 HOUR + INTERVAL 5 MINUTE AS sent_at,
       'log' AS sent_to
FROM progress WHERE state IN ('approaching', 'exceeded')
"""
ALERT_MONTHS = 12  # budget alerts are kept for the last year only
HIST = 13  # months of spend per primary kept for trends (12) and budgets (6)


def _sum_by(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted distinct keys, sum of values, count) per key."""
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.bincount(inv, weights=values, minlength=len(uniq))
    return uniq, np.round(sums).astype(np.int64), np.bincount(inv, minlength=len(uniq))


class GoldBuilder:
    """Gold of each month from its silver rows, by the rules of pipelines/gold/spend.py (numpy
    group-bys on integer keys: user, day, category); keeps 13 months of spend per primary."""

    def __init__(self, spec: LakeSpec, pop: Population, tax: Taxonomy, manual: pa.Table,
                 seed: int) -> None:
        from pipelines.categories.reference import budget_template

        self.spec, self.pop, self.tax = spec, pop, tax
        self.rng = np.random.default_rng([seed, 9])
        n, p = pop.n, len(tax.primaries)
        self.hist = np.zeros((n, p, HIST), dtype=np.int64)
        self.present = np.zeros((n, p), dtype=bool)
        self.manual = np.zeros((n, p), dtype=np.int64)
        mu = np.array([int(x.as_py()[1:]) for x in manual["user_id"]], dtype=np.int64)
        mp = np.array([tax.primaries.index(c) for c in manual["category_primary"].to_pylist()])
        if len(mu):
            self.manual[mu, mp] = (pc.multiply(manual["amount"], 100).cast(pa.int64())
                                   .to_numpy())
        self.template = np.zeros(p)
        for prim, share in budget_template().items():
            self.template[tax.primaries.index(prim)] = float(share)
        self.prim_names = pa.array(tax.primaries)
        import duckdb

        self.con = duckdb.connect()

    def month(self, sm: SilverMonth, m: int, month: str, as_of: date, first_day: int
              ) -> dict[str, pa.Table]:
        tax, pop = self.tax, self.pop
        c = sm.countable
        u, day, cat, amt = sm.u[c], sm.day[c] - first_day, sm.category[c], sm.amount[c]
        flow = np.where(tax.no_category[cat] & (amt < 0), 1, tax.flow[cat])  # money in: income
        month_col = [month]
        out: dict[str, pa.Table] = {}

        exp = flow == 0
        key, total, count = _sum_by((u[exp] * 32 + day[exp]) * 128 + cat[exp], amt[exp])
        du, dd, dc = key // 4096, (key // 128) % 32, key % 128
        out["daily_spend"] = pa.table({
            "user_id": pick(pop.ids, du), "date": dates(dd + first_day),
            "category_primary": self.prim_names.take(tax.primary_of[dc]),
            "category": pick(tax.codes, dc), "amount": money(total),
            "txn_count": pa.array(count), "month": pick(month_col, np.zeros(len(key)))})
        mkey, mtotal, _rows = _sum_by(du * 128 + dc, total)
        mcount = np.bincount(np.searchsorted(mkey, du * 128 + dc), weights=count,
                             minlength=len(mkey)).astype(np.int64)
        mu, mc = mkey // 128, mkey % 128
        out["monthly_spend"] = pa.table({
            "user_id": pick(pop.ids, mu), "month": pick(month_col, np.zeros(len(mkey))),
            "category_primary": self.prim_names.take(tax.primary_of[mc]),
            "category": pick(tax.codes, mc), "amount": money(mtotal),
            "txn_count": pa.array(mcount)})

        users = np.unique(u)
        at = np.searchsorted(users, u)

        def per_user(mask: np.ndarray) -> np.ndarray:
            return np.round(np.bincount(at[mask], weights=amt[mask], minlength=len(users))
                            ).astype(np.int64)

        income, expense = -per_user(flow == 1), per_user(exp)
        out["monthly_cashflow"] = pa.table({
            "user_id": pick(pop.ids, users), "month": pick(month_col, np.zeros(len(users))),
            "income": money(income), "expense": money(expense),
            "net": money(income - expense),
            "transfers_in": money(-per_user((flow == 2) & (amt < 0))),
            "transfers_out": money(per_user((flow == 2) & (amt > 0))),
            "txn_count": pa.array(np.bincount(at, minlength=len(users)).astype(np.int64))})

        # spend per primary: this month's slot of the rolling history
        slot = m % HIST
        self.hist[:, :, slot] = 0
        self.present[:] = False
        mp = tax.primary_of[mc]
        np.add.at(self.hist[:, :, slot], (mu, mp), mtotal)
        self.present[mu, mp] = True
        out["spend_trends"] = self._trends(m, month)
        out["budget_progress"] = self._budgets(m, month, as_of)
        out["unusual_activity"] = self._unusual(sm, c, exp, month, out["spend_trends"])
        return out

    def _window(self, m: int, months: int, skip: int = 0) -> np.ndarray:
        """Sum of the ``months`` months ending ``skip`` months before ``m``, per user x primary."""
        slots = [(m - skip - k) % HIST for k in range(months) if m - skip - k >= 0]
        return self.hist[:, :, slots].sum(axis=2) if slots else np.zeros(self.present.shape,
                                                                         np.int64)

    def _trends(self, m: int, month: str) -> pa.Table:
        tu, tp = np.nonzero(self.present)
        amount = self.hist[tu, tp, m % HIST]
        prev = self.hist[tu, tp, (m - 1) % HIST] if m else np.zeros(len(tu), np.int64)
        change = amount - prev
        pct = np.divide(change, prev, out=np.zeros(len(tu)), where=prev != 0)
        cols = {"user_id": pick(self.pop.ids, tu), "month": pick([month], np.zeros(len(tu))),
                "category_primary": self.prim_names.take(tp), "amount": money(amount),
                "prev_month_amount": money(prev), "mom_change": money(change),
                "mom_change_pct": pa.array(pct, mask=prev == 0)}
        history = np.maximum(m - self.pop.start_month[tu] + 1, 1)  # months a person has
        for k in (3, 6, 12):  # as gold: over the months of history, at most the window's
            cols[f"avg_{k}m"] = money(np.round(self._window(m, k)[tu, tp]
                                               / np.minimum(history, k)))
        return pa.table(cols)

    def _budgets(self, m: int, month: str, as_of: date) -> pa.Table:
        pop, tax = self.pop, self.tax
        active = pop.start_month <= m
        full = np.clip(np.minimum(6, m - pop.start_month - 1), 0, None) * active
        past = self._window(m, 6, skip=1)
        uncategorised = np.array(tax.primaries) == "UNCATEGORIZED"
        history = np.where((full[:, None] >= 3) & (past > 0) & ~uncategorised[None, :],
                           np.ceil(past / np.maximum(full, 1)[:, None] / 1000) * 1000, 0)
        template = np.where((full < 3)[:, None] & active[:, None],
                            np.round(pop.pay[:, None] * 2 * self.template[None, :] / 1000) * 1000,
                            0)
        source = np.where(self.manual > 0, 1, np.where(history > 0, 2,
                                                       np.where(template > 0, 3, 0)))
        source[~active] = 0
        budget = np.where(source == 1, self.manual, np.where(source == 2, history, template))
        spent = self.hist[:, :, m % HIST]
        bu, bp = np.nonzero((source > 0) | self.present)
        b, sp, src = budget[bu, bp].astype(np.int64), spent[bu, bp], source[bu, bp]
        share = np.divide(sp, b, out=np.zeros(len(b)), where=b > 0)
        state = np.where(src == 0, 3, np.where(share >= 1.0, 2, np.where(share >= 0.8, 1, 0)))
        n = len(bu)
        return pa.table({
            "user_id": pick(pop.ids, bu), "month": pick([month], np.zeros(n)),
            "category_primary": self.prim_names.take(bp),
            "budget": pc.if_else(pa.array(src > 0), money(b),
                                 pa.scalar(None, pa.decimal128(18, 2))),
            "budget_source": pick(["none", "manual", "history", "template"], src),
            "spent": money(sp), "share": pa.array(share, mask=src == 0),
            "state": pick(["ok", "approaching", "exceeded", "no_budget"], state),
            "as_of": dates(np.full(n, epoch_day(as_of)))})

    def _unusual(self, sm: SilverMonth, c: np.ndarray, exp: np.ndarray, month: str,
                 trends: pa.Table) -> pa.Table:
        rows = np.flatnonzero(c)[exp]
        rows = rows[(sm.amount[rows] > 2000) & (self.rng.random(len(rows)) < 0.008)]
        t = sm.table.take(rows)
        kind = self.rng.integers(0, 2, len(rows))
        base = np.round(sm.amount[rows] / 5)
        flagged = pa.table({
            "user_id": t["user_id"], "month": t["posted_month"],
            "kind": pick(["merchant_outlier", "new_merchant_large"], kind),
            "subject": t["txn_id"], "txn_id": t["txn_id"], "date": t["posted_date"],
            "merchant_key": t["merchant_key"],
            "category_primary": self.prim_names.take(self.tax.primary_of[sm.category[rows]]),
            "amount": t["amount"], "baseline": money(base),
            "reason": pc.binary_join_element_wise(
                pc.cast(t["amount"], pa.string()), " at ", t["merchant_key"],
                " is 5x your usual ", pc.cast(money(base), pa.string()), "")})
        amount = pc.cast(trends["amount"], pa.float64()).to_numpy()
        avg = pc.cast(trends["avg_3m"], pa.float64()).to_numpy()
        spike = (amount > 2 * avg) & (avg > 50) & (self.rng.random(len(avg)) < 0.2)
        s = trends.filter(pa.array(spike))
        none = pa.nulls(s.num_rows, pa.string())
        spikes = pa.table({
            "user_id": s["user_id"], "month": s["month"],
            "kind": pick(["category_spike"], np.zeros(s.num_rows)),
            "subject": s["category_primary"], "txn_id": none,
            "date": pa.nulls(s.num_rows, pa.date32()), "merchant_key": none,
            "category_primary": s["category_primary"], "amount": s["amount"],
            "baseline": s["avg_3m"],
            "reason": pc.binary_join_element_wise(
                pc.cast(s["amount"], pa.string()), " this month vs ",
                pc.cast(s["avg_3m"], pa.string()), " a month on average", "")})
        return pa.concat_tables([flagged, spikes]).sort_by([("user_id", "ascending"),
                                                            ("kind", "ascending")])

    def alerts(self, progress: pa.Table) -> pa.Table:
        self.con.register("progress", progress)
        try:
            return self.con.sql(BUDGET_ALERTS).to_arrow_table()
        finally:
            self.con.unregister("progress")


# ---- Balances and net worth, one month at a time --------------------------------------------


class Wealth:
    """Daily balance of every account: a mean-reverting walk around a per-account target."""

    def __init__(self, spec: LakeSpec, pop: Population) -> None:
        rng = np.random.default_rng([spec.seed, 3])
        n = pop.n
        self.rng = np.random.default_rng([spec.seed, 4])
        self.exists = np.arange(4)[None, :] < pop.accounts[:, None]
        self.liability = np.zeros((n, 4), dtype=bool)
        self.liability[:, 1] = True
        self.liability[:, 3] = pop.slot3_loan
        pay = pop.pay.astype(np.float64)
        self.target = np.stack([
            pay * rng.uniform(0.8, 2.5, n),
            pay * rng.uniform(0.1, 0.8, n),
            pay * rng.uniform(2, 12, n),
            np.where(pop.slot3_loan, pay * rng.uniform(40, 150, n), pay * rng.uniform(3, 40, n)),
        ], axis=1)
        self.drift = np.stack([np.zeros(n), np.zeros(n), pop.saving / 30.0,
                               np.where(pop.slot3_loan, -pay / 40.0, pay / 200.0)], axis=1)
        self.noise = np.array([0.04, 0.08, 0.002, 0.006])
        self.state = self.target * rng.uniform(0.7, 1.3, (n, 4))
        self.spec, self.pop = spec, pop
        self.pool = np.zeros(n, dtype=bool)
        self.pool[pool_indices(spec)] = True
        last = epoch_day(date.fromisoformat(spec.as_of))
        self.last, self.balance_from = last, last - spec.balance_days + 1

    def month(self, m: int, starts: list[date]) -> tuple[pa.Table, pa.Table | None]:
        """(net_worth_daily rows, balances_daily rows or None) of month ``m``."""
        pop, f0 = self.pop, epoch_day(starts[m])
        d1 = min(epoch_day(starts[m + 1]), self.last + 1)
        days = np.arange(f0, d1)
        active = np.flatnonzero(pop.start_month <= m)
        state, target = self.state[active], self.target[active]
        drift = self.drift[active]
        scale = np.abs(target) * self.noise
        out = np.empty((len(active), 4, len(days)))
        for k in range(len(days)):
            shock = self.rng.standard_normal(state.shape) * scale
            state = state + 0.05 * (target - state) + drift + shock
            target = target + drift
            out[:, :, k] = state
        self.state[active], self.target[active] = state, target
        # Plaid reports what is owed on credit and loan accounts as a positive balance
        cents = np.round(np.abs(out)).astype(np.int64) * self.exists[active][:, :, None]
        valid = days[None, :] >= pop.start_day[active][:, None]  # (users, days)
        liab = self.liability[active][:, :, None]
        assets = np.where(liab, 0, cents).sum(axis=1)
        liabilities = np.where(liab, cents, 0).sum(axis=1)
        uu = np.broadcast_to(active[:, None], valid.shape)[valid]
        dd = np.broadcast_to(days[None, :], valid.shape)[valid]
        month = starts[m].strftime("%Y-%m")
        n = len(uu)
        stale = (self.rng.random(n) < 0.03).astype(np.int32)
        worth = pa.table({
            "user_id": pick(pop.ids, uu), "date": dates(dd), "assets": money(assets[valid]),
            "liabilities": money(liabilities[valid]),
            "net_worth": money(assets[valid] - liabilities[valid]),
            "accounts": pa.array(pop.accounts[uu].astype(np.int32)),
            "stale_accounts": pa.array(stale), "month": pick([month], np.zeros(n)),
        })
        wanted = valid[:, None, :] & self.exists[active][:, :, None] & (
            self.pool[active][:, None, None] | (days >= self.balance_from)[None, None, :])
        if not wanted.any():
            return worth, None
        ua, sa, da = np.nonzero(wanted)
        u = active[ua]
        types = pa.array(["depository", "credit", "loan", "investment"])
        kind = np.where(sa == 1, 1, np.where(sa == 3, np.where(pop.slot3_loan[u], 2, 3), 0))
        balances = pa.table({
            "account_id": pick(pop.account_ids, u * 4 + sa), "user_id": pick(pop.ids, u),
            "type": types.take(pa.array(kind)), "date": dates(days[da]),
            "balance": money(cents[ua, sa, da]),
            "observed": pa.array(self.rng.random(len(u)) < 0.97),
            "month": pick([month], np.zeros(len(u))),
        })
        return worth, balances

    def closing(self) -> np.ndarray:
        """(n, 4) balance in cents on the last day."""
        return (np.round(np.abs(self.state)) * self.exists).astype(np.int64)


# ---- Operational and reference tables --------------------------------------------------------


def small_tables(spec: LakeSpec, pop: Population, vocab: Vocabulary, tax: Taxonomy,
                 wealth: Wealth, starts: list[date], institutions: list[Any]
                 ) -> dict[str, pa.Table]:
    from pipelines.categories.reference import categories, merchant_rules

    rng = np.random.default_rng([spec.seed, 5])
    n, last = pop.n, epoch_day(date.fromisoformat(spec.as_of))
    synced = last * DAY_US + 3 * 3600 * 10**6
    inst_ids = pa.array([i.institution_id for i in institutions])
    u4, slot = np.nonzero(wealth.exists)
    item = pop.item_of_slot()[slot]
    inst = pop.institution[u4, item]
    kind = np.where(slot == 1, 1, np.where(slot == 3, np.where(pop.slot3_loan[u4], 2, 3),
                                           np.where(slot == 2, 4, 0)))
    closing = wealth.closing()[u4, slot]
    depository = (slot == 0) | (slot == 2)
    review = rng.random(len(u4)) < 0.001
    accounts = pa.table({
        "account_id": pick(pop.account_ids, u4 * 4 + slot), "user_id": pick(pop.ids, u4),
        "item_id": pick(pop.item_ids, u4 * 3 + item), "institution_id": inst_ids.take(inst),
        "name": pick(["Everyday Checking", "Rewards Card", "Mortgage", "Brokerage",
                      "High-Yield Savings"], kind),
        "mask": formatted((rng.integers(0, 10000, len(u4)), 4), n=len(u4)),
        "type": pick(["depository", "credit", "loan", "investment", "depository"], kind),
        "subtype": pick(["checking", "credit card", "mortgage", "brokerage", "savings"], kind),
        "balance_current": money(closing),
        "balance_available": pc.if_else(pa.array(depository), money(closing),
                                        pa.scalar(None, pa.decimal128(18, 2))),
        "currency": pick(["USD"], np.zeros(len(u4))),
        "source_seq": formatted((np.full(len(u4), last - epoch_day(date(2020, 1, 1))), 10),
                                b"-1-accounts", n=len(u4)),
        "last_synced_at": stamps(np.full(len(u4), synced)),
        "needs_review": pa.array(review),
        "review_reason": pa.array(["balance jumped 12x"]).take(
            pa.array(np.zeros(len(u4), np.int64), mask=~review)),
    })
    has_item = np.stack([np.ones(n, bool), np.ones(n, bool), pop.accounts == 4], axis=1)
    ui, ii = np.nonzero(has_item)
    k = len(ui)
    failing = rng.random(k) < 0.02
    credentials = pa.table({
        "credentials_id": hex_ids(rng, k, 24), "user_id": pick(pop.ids, ui),
        "institution_id": inst_ids.take(pop.institution[ui, ii]),
        "item_id": pick(pop.item_ids, ui * 3 + ii), "encrypted_token": hex_ids(rng, k, 88),
        "wrapped_key": hex_ids(rng, k, 64), "key_id": pick(["kek-2026-01"], np.zeros(k)),
        "status": pick(["active", "login_required"], failing.astype(np.int64)),
        "failure_count": pa.array(np.where(failing, rng.integers(1, 4, k), 0).astype(np.int32)),
        "created_at": stamps(pop.start_day[ui] * DAY_US),
    })
    # recurring payments: the subscriptions silver bills every month
    has = np.arange(6)[None, :] < pop.sub_count[:, None]
    ru, rj = np.nonzero(has)
    first = np.array([epoch_day(d) for d in starts])
    last_month = np.searchsorted(first, last, side="right") - 1
    day = pop.sub_day[ru, rj]
    this_month = first[last_month] + day
    last_date = np.where(this_month <= last, this_month, first[last_month - 1] + day)
    next_date = np.where(this_month <= last, first[last_month + 1] + day, this_month)
    price = pop.sub_price[ru, rj]
    months_billed = (last_month - pop.start_month[ru] + 1
                     - (first[pop.start_month[ru]] + day < pop.start_day[ru])
                     - (this_month > last))
    keep = months_billed >= 3
    ru, rj, last_date, next_date, price = (x[keep] for x in (ru, rj, last_date, next_date, price))
    payee = pop.subs[ru, rj]
    variant = (ru * 7 + payee) % VARIANTS
    r = len(ru)
    recurring = pa.table({
        "user_id": pick(pop.ids, ru), "merchant_key": pick(vocab.keys, payee * VARIANTS + variant),
        "cadence": pick(["monthly"], np.zeros(r)),
        "occurrences": pa.array(months_billed[keep].astype(np.int32)),
        "typical_amount": money(price), "last_amount": money(price),
        "last_date": dates(last_date), "next_expected_date": dates(next_date),
        "price_increase": pa.array(np.zeros(r, bool)),
        "missed_payment": pa.array(np.zeros(r, bool)),
        "detail": pick([""], np.zeros(r)),
    }).sort_by("user_id")
    over = np.flatnonzero(rng.random(n) < 0.03)
    oc = len(over)
    category_overrides = pa.table({
        "user_id": pick(pop.ids, over),
        "merchant_key": pick(vocab.keys, np.array(vocab.purchase)[
            rng.integers(0, len(vocab.purchase), oc)] * VARIANTS),
        "category": pick(tax.codes, tax.expense[rng.integers(0, len(tax.expense), oc)]),
        "source": pick(["dashboard"], np.zeros(oc)),
        "created_at": stamps(np.full(oc, synced)),
    })
    return {"accounts": accounts, "credentials": credentials,
            "recurring_payments": recurring, "category_overrides": category_overrides,
            "categories": pa.Table.from_pylist(categories()),
            "merchant_rules": pa.Table.from_pylist(merchant_rules()),
            "institutions": pa.Table.from_pylist(
                [{**i.public(), "partner": "plaid"} for i in institutions]),
            "institution_health": institution_health(spec, pop, institutions, rng),
            "budgets": manual_budgets(spec, pop),
            "custom_categories": pa.table({"user_id": pa.array([], pa.string())})}


def manual_budgets(spec: LakeSpec, pop: Population) -> pa.Table:
    """Budgets 10% of people set themselves (one or two categories)."""
    from pipelines.categories.reference import budget_template

    rng = np.random.default_rng([spec.seed, 6])
    prims = list(budget_template())
    who = np.flatnonzero(rng.random(pop.n) < 0.1)
    who = np.concatenate([who, who[rng.random(len(who)) < 0.5]])
    cat = rng.integers(0, len(prims), len(who))
    cat[len(who) // 2:] = (cat[len(who) // 2:] + 1) % len(prims)
    amount = np.round(pop.pay[who] * 2 * rng.uniform(0.05, 0.3, len(who)), -3)
    t = pa.table({"user_id": pick(pop.ids, who), "category_primary": pick(prims, cat),
                  "amount": money(amount), "set_by": pick(["dashboard"], np.zeros(len(who))),
                  "set_at": stamps(pop.start_day[who] * DAY_US + 3600 * 10**6 * 20)})
    keys = pc.binary_join_element_wise(t["user_id"], t["category_primary"], "|")
    _, first = np.unique(keys.to_numpy(zero_copy_only=False), return_index=True)
    return t.take(np.sort(first)).sort_by("user_id")


def institution_health(spec: LakeSpec, pop: Population, institutions: list[Any],
                       rng: np.random.Generator) -> pa.Table:
    items = np.bincount(pop.institution[:, :2].ravel(), minlength=len(institutions))
    items = items + np.bincount(pop.institution[pop.accounts == 4, 2],
                                minlength=len(institutions))
    last = epoch_day(date.fromisoformat(spec.as_of))
    days = np.arange(last - 89, last + 1)
    grid_i, grid_d = np.meshgrid(np.arange(len(institutions)), days, indexing="ij")
    ii, dd = grid_i.ravel(), grid_d.ravel()
    total = items[ii]
    rate = np.where(rng.random(len(ii)) < 0.03, rng.uniform(0.5, 0.95, len(ii)),
                    rng.uniform(0.985, 1.0, len(ii)))
    ok = np.round(total * rate).astype(np.int64)
    rate = np.where(total > 0, ok / np.maximum(total, 1), 0.0)
    status = np.where(total == 0, 4, np.where(ok == 0, 3, np.where(rate < 0.95, 1, 0)))
    due = np.round(total * 0.8).astype(np.int64)
    stale = np.round(due * (1 - rate)).astype(np.int64)
    return pa.table({
        "institution_id": pa.array([i.institution_id for i in institutions]).take(ii),
        "sync_date": dates(dd), "items": pa.array(total.astype(np.int32)),
        "items_succeeded": pa.array(ok.astype(np.int32)),
        "items_empty": pa.array(np.round(ok * 0.3).astype(np.int32)),
        "success_rate": pa.array(np.round(rate, 4)),
        "error_classes": pick(["", "INSTITUTION_DOWN,TIMEOUT"], (status > 0).astype(np.int64)),
        "status": pick(["healthy", "degraded", "silent", "down", "no_attempts"], status),
        "items_due": pa.array(due.astype(np.int32)),
        "items_stale": pa.array(stale.astype(np.int32)),
        "lag_hours": pa.array(np.where(stale > 0, rng.uniform(1, 30, len(ii)), 0.0)),
        "sla_met": pa.array(stale == 0),
    })


def sync_jobs_day(spec: LakeSpec, pop: Population, institutions: list[Any], day: int
                  ) -> pa.Table:
    """The nightly sync attempt of every item linked by ``day``."""
    rng = np.random.default_rng([spec.seed, 7, day])
    has_item = np.stack([np.ones(pop.n, bool), np.ones(pop.n, bool), pop.accounts == 4], axis=1)
    has_item &= (pop.start_day <= day)[:, None]
    ui, ii = np.nonzero(has_item)
    k = len(ui)
    draw = rng.random(k)
    status = np.where(draw < 0.97, 0, np.where(draw < 0.99, 1, 2))
    error = np.where(status == 0, 0, rng.integers(1, 4, k))
    start = day * DAY_US + 2 * 3600 * 10**6 + rng.integers(0, 3 * 3600 * 10**6, k)
    seconds = rng.uniform(0.3, 4.0, k)
    d = date.fromordinal(EPOCH.toordinal() + day)
    return pa.table({
        "job_id": hex_ids(rng, k, 32), "run_id": pick([f"nightly-{d.isoformat()}"], np.zeros(k)),
        "sync_date": dates(np.full(k, day)), "trigger": pick(["nightly"], np.zeros(k)),
        "user_id": pick(pop.ids, ui), "item_id": pick(pop.item_ids, ui * 3 + ii),
        "institution_id": pa.array([i.institution_id for i in institutions]).take(
            pop.institution[ui, ii]),
        "attempt": pa.array(np.ones(k, np.int32)),
        "started_at": stamps(start), "finished_at": stamps(start + (seconds * 1e6).astype(int)),
        "status": pick(["success", "failed", "retrying"], status),
        "error_class": pa.array([None, "INSTITUTION_DOWN", "RATE_LIMITED", "TIMEOUT"]).take(error),
        "error_code": pa.array([None, "INSTITUTION_DOWN", "RATE_LIMIT_EXCEEDED", None]).take(error),
        "detail": pick([""], np.zeros(k)), "pages": pa.array(np.ones(k, np.int32)),
        "txns_added": pa.array(np.where(status == 0, rng.poisson(0.8, k), 0).astype(np.int32)),
        "txns_modified": pa.array((rng.random(k) < 0.05).astype(np.int32)),
        "txns_removed": pa.array(np.zeros(k, np.int32)),
        "rate_wait_seconds": pa.array(np.zeros(k)), "seconds": pa.array(seconds),
    })


# ---- Writing the lake ------------------------------------------------------------------------


class LakeWriter:
    """Writes tables with delta-rs the way tests/support/lake_fixtures.py does, on a background
    thread (delta-rs releases the GIL) so one month is written while the next is generated."""

    def __init__(self, lake: Any, spec: LakeSpec) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        from deltalake import WriterProperties

        self.lake, self.spec = lake, spec
        self.rng = np.random.default_rng([spec.seed, 8])
        self.props = WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression="ZSTD",
                                      compression_level=1)
        self.stats: dict[str, dict[str, Any]] = {}
        self.thread = ThreadPoolExecutor(max_workers=1)
        self.batches: list[list[Future[None]]] = [[]]

    def write(self, name: str, data: pa.Table) -> None:
        self.batches[-1].append(self.thread.submit(self._write, name, data))

    def barrier(self) -> None:
        """Wait for the writes submitted before the previous barrier (at most two batches of
        tables are in memory)."""
        if len(self.batches) > 1:
            for f in self.batches.pop(0):
                f.result()
        self.batches.append([])

    def _write(self, name: str, data: pa.Table) -> None:
        from deltalake import write_deltalake

        from lake.arrow import arrow_schema
        from lake.tables import table

        t = table(name)
        schema = arrow_schema(t)
        n = data.num_rows
        cols = [data[f.name].cast(f.type) if f.name in data.column_names
                else pa.nulls(n, f.type) for f in schema]
        data = pa.Table.from_arrays(cols, schema=schema)
        if self.spec.unsorted and n > 1:
            data = data.take(self.rng.permutation(n))
        s = self.stats.setdefault(name, {"rows": 0, "commits": 0, "write_s": 0.0})
        started = time.perf_counter()
        write_deltalake(self.lake.uri(t), data, partition_by=list(t.partition_by) or None,
                        mode="append" if s["commits"] else "overwrite",
                        writer_properties=self.props, target_file_size=TARGET_FILE_BYTES)
        s["write_s"] += time.perf_counter() - started
        s["rows"] += n
        s["commits"] += 1

    def finish(self) -> None:
        """Checkpoint tables written in many commits; count files and bytes of every table."""
        from deltalake import DeltaTable

        from lake.tables import table

        for batch in self.batches:
            for f in batch:
                f.result()
        self.thread.shutdown()
        for name, s in self.stats.items():
            uri = self.lake.uri(table(name))
            if s["commits"] > 1:
                DeltaTable(uri).create_checkpoint()
            files = [p for p in Path(uri).rglob("*.parquet") if "_delta_log" not in p.parts]
            s["files"] = len(files)
            s["bytes"] = sum(p.stat().st_size for p in files)
            s["write_s"] = round(s["write_s"], 2)


def build(out: Path, spec: LakeSpec, log: Any = print) -> dict[str, Any]:
    """Generate the lake at ``out/lake``; returns the marker contents."""
    from connectors.sandbox_bank.institutions import institutions_for
    from lake.lake import Lake

    began = time.perf_counter()
    lake = Lake(str(out / "lake"))
    writer = LakeWriter(lake, spec)
    vocab, tax, starts = vocabulary(spec.seed), Taxonomy.load(), month_starts(spec)
    institutions = list(institutions_for(spec.seed, 40))
    pop = population(spec, vocab, starts, len(institutions))
    as_of = date.fromisoformat(spec.as_of)
    gold = GoldBuilder(spec, pop, tax, manual_budgets(spec, pop), spec.seed)
    wealth = Wealth(spec, pop)
    alerts, overrides = [], []
    timing = {"silver": 0.0, "gold": 0.0, "wealth": 0.0}
    for m in range(spec.months):
        month = starts[m].strftime("%Y-%m")
        t0 = time.perf_counter()
        silver = silver_month(spec, vocab, tax, pop, m, starts)
        writer.write("transactions", silver.table)
        t1 = time.perf_counter()
        month_end = min(starts[m + 1] - timedelta(days=1), as_of)
        for name, rows in gold.month(silver, m, month, month_end,
                                     epoch_day(starts[m])).items():
            writer.write(name, rows)
            if name == "budget_progress" and m >= spec.months - ALERT_MONTHS:
                alerts.append(gold.alerts(rows))
        txns = silver.table
        overrides.append(txns.filter(pc.is_valid(txns["user_category"])).select(
            ["user_id", "txn_id", "user_category", "updated_at", "posted_month"]))
        t2 = time.perf_counter()
        worth, balances = wealth.month(m, starts)
        writer.write("net_worth_daily", worth)
        if balances is not None:
            writer.write("balances_daily", balances)
        t3 = time.perf_counter()
        for k, v in zip(timing, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            timing[k] += v
        log(f"  [{m + 1:2d}/{spec.months} {month}] {txns.num_rows:>10,} txns "
            f"{worth.num_rows:>10,} net-worth rows | built: silver {t1 - t0:5.1f}s "
            f"gold {t2 - t1:5.1f}s wealth {t3 - t2:5.1f}s | elapsed {t3 - began:6.1f}s",
            flush=True)
        del silver, txns
        writer.barrier()
    t0 = time.perf_counter()
    for name, rows in small_tables(spec, pop, vocab, tax, wealth, starts, institutions).items():
        writer.write(name, rows.sort_by("user_id") if "user_id" in rows.column_names
                     and rows.num_rows else rows)
    writer.write("alerts", pa.concat_tables(alerts).sort_by("user_id"))
    ov = pa.concat_tables(overrides)
    writer.write("transaction_overrides", pa.table({
        "user_id": ov["user_id"], "txn_id": ov["txn_id"], "category": ov["user_category"],
        "source": pick(["dashboard"], np.zeros(ov.num_rows)), "created_at": ov["updated_at"],
        "posted_month": ov["posted_month"],
    }).sort_by("user_id"))
    last = epoch_day(as_of)
    for day in range(last - spec.sync_days + 1, last + 1):
        writer.write("sync_jobs", sync_jobs_day(spec, pop, institutions, day))
    timing["small_tables"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    writer.finish()
    timing["last_writes_and_checkpoints"] = time.perf_counter() - t0
    pool = pool_indices(spec)
    return {
        "params": spec.params(), "status": "done",
        "showcase": user_id(pool[0]), "five_year_users": [user_id(i) for i in pool],
        "seconds": round(time.perf_counter() - began, 1),
        "timing_s": {k: round(v, 1) for k, v in timing.items()},
        "tables": writer.stats,
        "rows": sum(s["rows"] for s in writer.stats.values()),
        "files": sum(s["files"] for s in writer.stats.values()),
        "bytes": sum(s["bytes"] for s in writer.stats.values()),
        "notes": [
            "net_worth_daily: every day of every user's history",
            f"balances_daily: the last {spec.balance_days} days for every account, the full "
            f"history only for the {len(pool)} five-year users",
            f"sync_jobs: the last {spec.sync_days} nights; institution_health: the last 90 days",
            f"alerts: budget alerts of the last {ALERT_MONTHS} months (one unpartitioned table "
            "sorted by user)",
            "budgets: mean of the previous months (the pipeline uses the median); "
            "unusual_activity: a sample of realistic size, not the pipeline's rules",
        ],
    }


def ensure_lake(out: Path, spec: LakeSpec, force: bool = False, log: Any = print
                ) -> dict[str, Any]:
    """The lake at ``out/lake`` for ``spec``: reused when its marker matches, else generated."""
    out = Path(out)
    marker = out / MARKER
    if marker.exists():
        info = json.loads(marker.read_text())
        if not force and info.get("status") == "done" and info.get("params") == spec.params():
            log(f"reusing the lake at {out / 'lake'} ({info['rows']:,} rows, "
                f"{info['bytes'] / 1e9:.2f} GB, generated in {info['seconds']} s)")
            return info
        log(f"regenerating {out / 'lake'} (different parameters or unfinished)")
        shutil.rmtree(out / "lake", ignore_errors=True)
    elif (out / "lake").exists() and any((out / "lake").iterdir()):
        raise SystemExit(f"{out / 'lake'} exists and was not made by this generator "
                         f"(no {MARKER}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"params": spec.params(), "status": "building"}))
    log(f"generating {spec.users:,} users x up to {spec.months} months at {out / 'lake'} "
        f"({'unsorted' if spec.unsorted else 'sorted by user within each partition'})")
    info = build(out, spec, log)
    marker.write_text(json.dumps(info, indent=1))
    return info


def describe(info: dict[str, Any], log: Any = print) -> None:
    log(f"{'table':<24} {'rows':>13} {'files':>6} {'MB':>9} {'commits':>7} {'write s':>8}")
    for name, s in sorted(info["tables"].items(), key=lambda kv: -kv[1]["bytes"]):
        log(f"{name:<24} {s['rows']:>13,} {s['files']:>6} {s['bytes'] / 1e6:>9.1f} "
            f"{s['commits']:>7} {s['write_s']:>8.1f}")
    log(f"{'total':<24} {info['rows']:>13,} {info['files']:>6} {info['bytes'] / 1e6:>9.1f}")
    log(f"generated in {info['seconds']} s ({info['timing_s']}); showcase user "
        f"{info['showcase']}; five-year users: {len(info['five_year_users'])}")
    for note in info["notes"]:
        log(f"  note: {note}")


def spec_from_args(args: argparse.Namespace, unsorted: bool | None = None) -> LakeSpec:
    return LakeSpec(users=args.users, txns_per_month=args.txns_per_month, seed=args.seed,
                    unsorted=args.unsorted if unsorted is None else unsorted)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="directory; the lake is DIR/lake")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--txns-per-month", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--unsorted", action="store_true",
                    help="shuffle rows within partitions (no clustering by user)")
    ap.add_argument("--force", action="store_true", help="regenerate even if the marker matches")
    args = ap.parse_args()
    describe(ensure_lake(args.out, spec_from_args(args), force=args.force))


if __name__ == "__main__":
    main()
