"""Benchmark: the silver transactions merge side by side on five engines (issues 9, 17).

    .venv/bin/python -m bench.merge_engines [--history 10000000] [--batch 1000000]
        [--engines sail spark-delta jvm deltars postgres] [--runs 2] [--dir /tmp]
        [--pg "host=127.0.0.1 port=5432 user=finlake dbname=finlake"]

One synthetic day's batch (mostly new transactions; modifications and removals of recent
rows with a newer ``source_seq``; stale changes older than the row, which must not apply;
late older content for tombstones; removals of never-seen ids) is merged into one synthetic
history (24 monthly partitions) by:

- **sail**: finlake's own ``merge_transactions`` (SQL ``MERGE INTO`` on Delta, pruned to the
  months the batch touches) on embedded Sail;
- **spark-delta**: the same ``merge_transactions`` on Apache Spark + delta-spark, finlake's
  second embedded engine (``FINLAKE_ENGINE=spark-delta``: a local JVM Spark Connect server);
- **jvm**: JVM Spark in Spark Connect local mode on Parquet, without Delta (written before
  the delta-spark jars were reachable; kept as the baseline with no transaction log): a
  full outer join of the touched partitions with the batch, rewritten with dynamic
  partition overwrite;
- **deltars**: delta-rs ``DeltaTable.merge`` with the same clauses and partition predicate;
- **postgres**: ``COPY`` into a staging table, then ``INSERT ... ON CONFLICT (account_id,
  partner_txn_id) DO UPDATE ... WHERE`` (the system design's approach).

Every engine reads the same Parquet inputs and runs in its own process (so peak memory is
its own); each merge runs ``--runs`` times from the same starting table (the first warms
up). Afterwards the results are compared (row count, count by status, sum of amounts,
a content checksum, whole rows for a sample of keys). Everything lives in a temporary
directory under ``--dir`` and a temporary PostgreSQL database, both removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute

from lake.tables import TRANSACTIONS
from pipelines.silver.merge import BOOKKEEPING, CONTENT, PARTNER_COLUMNS

pc: Any = _compute  # pyarrow's type stubs lack the generated compute functions
ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("sail", "spark-delta", "jvm", "deltars", "postgres")
MONTHS = 24  # history: 2024-11 .. 2026-10
FIRST_MONTH = np.datetime64("2024-11", "M")
BATCH_DAY = np.datetime64("2026-11-03", "D")
RECENT_MONTHS = 3  # changes to existing rows hit the last three months of history
# Batch mix (shares of the batch); the rest are new transactions.
SHARES = {"modify": 0.07, "resend": 0.01, "remove": 0.04, "stale_upsert": 0.0125,
          "stale_remove": 0.0125, "late_content": 0.005, "unseen_remove": 0.001}
KEYS = list(TRANSACTIONS.keys)
COLS = TRANSACTIONS.column_names
ARROW_TYPES = {"string": pa.string(), "boolean": pa.bool_(), "date": pa.date32(),
               "decimal(18,2)": pa.decimal128(18, 2), "double": pa.float64(),
               "timestamp": pa.timestamp("us", tz="UTC")}
PG_TYPES = {"string": "text", "boolean": "boolean", "date": "date", "double": "double precision",
            "decimal(18,2)": "numeric(18,2)", "timestamp": "timestamptz"}
SCHEMA = pa.schema([(c, ARROW_TYPES[t]) for c, t in TRANSACTIONS.columns])
BATCH_SCHEMA = SCHEMA.append(pa.field("change", pa.string())).append(
    pa.field("change_kind", pa.string()))
MERCHANTS = [  # (description stem, merchant, merchant_key, category)
    ("KROGER #", "Kroger", "kroger", "FOOD_AND_DRINK_GROCERIES"),
    ("STARBUCKS STORE ", "Starbucks", "starbucks", "FOOD_AND_DRINK_COFFEE"),
    ("SHELL OIL ", "Shell", "shell", "TRANSPORTATION_GAS"),
    ("AMZN Mktp US*", "Amazon", "amazon", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
    ("CHIPOTLE ", "Chipotle", "chipotle", "FOOD_AND_DRINK_FAST_FOOD"),
    ("UBER *TRIP ", "Uber", "uber", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
    ("CVS/PHARMACY #", "CVS", "cvs", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS"),
    ("TARGET T-", "Target", "target", "GENERAL_MERCHANDISE_SUPERSTORES"),
    ("NETFLIX.COM ", "Netflix", "netflix", "ENTERTAINMENT_TV_AND_MOVIES"),
    ("HOME DEPOT #", "Home Depot", "home depot", "HOME_IMPROVEMENT_HARDWARE"),
    ("PAYROLL ACME CORP ", "Acme Corp", "acme corp", "INCOME_WAGES"),
]
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------- synthetic data

def _mix(x: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of ``x``: a deterministic per-row hash, so any row can be rebuilt alone."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _ids(prefix: str, n: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(n), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _seq(day: np.ndarray, idx: np.ndarray, suffix: str = "") -> pa.Array:
    """A stream position: sync day, then row number (ordered as strings)."""
    return pc.binary_join_element_wise(pc.cast(pa.array(day), pa.string()), ":",
                                       _ids("", idx, 12), suffix, "")


def _decimal(cents: np.ndarray) -> pa.Array:
    """decimal(18,2) from integer cents, built from its 128-bit buffer (exact and fast)."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents),
                                 [None, pa.py_buffer(words.tobytes())])


def _timestamps(day: np.ndarray, hour: int) -> pa.Array:
    micros = (day.astype("datetime64[us]").astype(np.int64) + hour * 3_600_000_000)
    return pa.array(micros, type=ARROW_TYPES["timestamp"])


def _status(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pending, superseded, removed) of history rows: 5% pending (half of them superseded
    by their posting), 2% tombstones."""
    hp, hr = _mix(idx, 4), _mix(idx, 9)
    pending = hp % np.uint64(20) == 0
    superseded = hp % np.uint64(40) == 0
    removed = ~superseded & (hr % np.uint64(50) == 0)
    return pending, superseded, removed


def history_posted(idx: np.ndarray, n_hist: int) -> np.ndarray:
    month = FIRST_MONTH + (idx * MONTHS // n_hist)
    start = month.astype("datetime64[D]")
    days = ((month + 1).astype("datetime64[D]") - start).astype(np.int64)
    return start + (_mix(idx, 6) % days.astype(np.uint64)).astype(np.int64)


def txn_rows(idx: np.ndarray, n_hist: int, posted: np.ndarray | None = None) -> dict[str, Any]:
    """Silver rows for row numbers ``idx`` (history rows when ``posted`` is None)."""
    if posted is None:
        posted = history_posted(idx, n_hist)
    h = [_mix(idx, salt) for salt in range(12)]
    k = (h[0] % np.uint64(len(MERCHANTS) - 1)).astype(np.int64)
    income = h[1] % np.uint64(25) == 0
    k[income] = len(MERCHANTS) - 1
    cents = np.where(income, -(250_000 + (h[2] % np.uint64(400_000)).astype(np.int64)),
                     100 + (h[2] % np.uint64(25_000)).astype(np.int64))
    user = (h[3] % np.uint64(max(1, n_hist // 400))).astype(np.int64)
    account = user * 3 + (h[5] % np.uint64(3)).astype(np.int64)
    pending, superseded, removed = _status(idx)
    sync = posted + np.where(removed, 2, 1)
    pick = pa.array(k)

    def field(j: int) -> pa.Array:
        return pc.take(pa.array([m[j] for m in MERCHANTS]), pick)

    posted_arr = pa.array(posted)
    status = np.where(superseded, "superseded", np.where(removed, "removed", "live"))
    return {
        "txn_id": _ids("", h[7], 20),
        "user_id": _ids("user-", user, 8),
        "item_id": _ids("item-", user, 8),
        "account_id": _ids("acct-", account, 9),
        "partner_txn_id": _ids("ptx-", idx, 12),
        "pending": pa.array(pending),
        "pending_partner_txn_id": pa.nulls(len(idx), pa.string()),
        "amount": _decimal(cents),
        "currency": pa.repeat("USD", len(idx)),
        "posted_date": posted_arr,
        "authorized_date": pa.array(posted - (h[8] % np.uint64(3)).astype(np.int64)),
        "description": pc.binary_join_element_wise(field(0), _ids("", h[9] % np.uint64(9999),
                                                                  4), ""),
        "merchant": field(1),
        "merchant_key": field(2),
        "payment_channel": pc.take(pa.array(["online", "in store", "other"]),
                                   pa.array((h[10] % np.uint64(3)).astype(np.int64))),
        "category": field(3),
        "category_source": pa.repeat("rule", len(idx)),
        "category_confidence": pa.array(0.5 + (h[11] % np.uint64(50)) / 100.0),
        "user_category": pc.if_else(pa.array(h[11] % np.uint64(100) == 0),
                                    "FOOD_AND_DRINK_COFFEE", pa.nulls(len(idx), pa.string())),
        "status": pa.array(status),
        "removed_at": pc.if_else(pa.array(removed), _timestamps(sync, 4),
                                 pa.nulls(len(idx), ARROW_TYPES["timestamp"])),
        "superseded_by": pc.if_else(pa.array(superseded), _ids("ptx-p", idx, 12),
                                    pa.nulls(len(idx), pa.string())),
        "supersede_method": pc.if_else(pa.array(superseded), "link",
                                       pa.nulls(len(idx), pa.string())),
        "partner_duplicate": pa.repeat(False, len(idx)),
        "source_seq": _seq(sync, idx),
        "content_seq": _seq(posted + 1, idx),
        "raw_ref": pc.binary_join_element_wise(
            "raw/transactions/sync_date=", pc.cast(pa.array(sync), pa.string()), "/",
            _ids("item-", user, 8), "/page-00001.json", ""),
        "sync_date": pa.array(sync),
        "updated_at": _timestamps(sync, 3),
        "posted_month": pc.utf8_slice_codeunits(pc.cast(posted_arr, pa.string()), 0, 7),
    }


def _table(cols: dict[str, Any], schema: pa.Schema) -> pa.Table:
    return pa.table({f.name: pa.array(cols[f.name]).cast(f.type) for f in schema},
                    schema=schema)


def _as_change(cols: dict[str, Any], seq: pa.Array, change: str, kind: str,
               cents_delta: int | None = None) -> dict[str, Any]:
    """Turn silver rows into batch rows (as ``pipelines.silver.rows.transaction_rows`` shapes
    them): the day's bookkeeping, finlake-owned columns empty, content shifted."""
    n = len(seq)
    day = np.full(n, BATCH_DAY)
    out = dict(cols)
    out.update({
        "source_seq": seq, "sync_date": pa.array(day), "updated_at": _timestamps(day, 3),
        "raw_ref": pc.binary_join_element_wise(
            "raw/transactions/sync_date=2026-11-03/", cols["item_id"], "/page-00001.json", ""),
        "user_category": pa.nulls(n, pa.string()), "superseded_by": pa.nulls(n, pa.string()),
        "supersede_method": pa.nulls(n, pa.string()), "partner_duplicate": pa.repeat(False, n),
        "change": pa.repeat(change, n), "change_kind": pa.repeat(kind, n),
    })
    if change == "remove":  # a partner removal carries only the ids
        for c in ("pending", "pending_partner_txn_id", "amount", "currency", "posted_date",
                  "authorized_date", "description", "merchant", "merchant_key",
                  "payment_channel", "category", "category_confidence"):
            out[c] = pa.nulls(n, SCHEMA.field(c).type)
        out.update({"category_source": pa.repeat("none", n), "status": pa.repeat("removed", n),
                    "removed_at": _timestamps(day, 3), "content_seq": pa.nulls(n, pa.string())})
    else:
        out.update({"status": pa.repeat("live", n), "content_seq": seq,
                    "removed_at": pa.nulls(n, ARROW_TYPES["timestamp"])})
        if cents_delta:
            out["amount"] = _decimal(_cents(cols["amount"]) + cents_delta)
            out["description"] = pc.binary_join_element_wise(cols["description"], " ADJ", "")
    return out


def _cents(amount: pa.Array) -> np.ndarray:
    return np.asarray(pc.multiply(amount.cast(pa.float64()), 100).to_numpy().round(),
                      dtype=np.int64)


def build_batch(n_hist: int, n_batch: int, seed: int = 9) -> tuple[pa.Table, dict[str, Any]]:
    """The day's batch (one change per key, as ``place_in_months`` leaves it) and its makeup."""
    rng = np.random.default_rng(seed)
    counts = {k: int(n_batch * share) for k, share in SHARES.items()}
    counts["insert"] = n_batch - sum(counts.values())
    recent = np.arange(n_hist * (MONTHS - RECENT_MONTHS) // MONTHS, n_hist, dtype=np.int64)
    _, superseded, removed = _status(recent)
    live = rng.permutation(recent[~superseded & ~removed])
    need = sum(counts[k] for k in ("modify", "resend", "stale_upsert", "stale_remove"))
    if need + counts["remove"] > len(live) or counts["late_content"] > removed.sum():
        raise SystemExit("history too small for this batch: use a larger --history")
    chosen: dict[str, np.ndarray] = {}
    at = 0
    for kind in ("modify", "resend", "stale_upsert", "stale_remove"):
        chosen[kind] = np.sort(live[at:at + counts[kind]])
        at += counts[kind]
    removable = rng.permutation(np.concatenate([live[at:], recent[superseded]]))
    chosen["remove"] = np.sort(removable[:counts["remove"]])
    chosen["late_content"] = np.sort(rng.permutation(recent[removed])[:counts["late_content"]])
    positions = rng.permutation(n_batch)
    parts, kinds, start = [], [], 0
    for kind in ("insert", *SHARES):
        n = counts[kind]
        pos = positions[start:start + n]
        start += n
        batch_seq = _seq(np.full(n, BATCH_DAY), pos)
        if kind == "insert":
            idx = n_hist + pos.astype(np.int64)
            posted = BATCH_DAY - 1 - (_mix(idx, 13) % np.uint64(4)).astype(np.int64)
            row = _as_change(txn_rows(idx, n_hist, posted), batch_seq, "upsert", "added")
            row["pending"] = pa.array(_mix(idx, 14) % np.uint64(10) == 0)
        elif kind == "unseen_remove":
            idx = 10 * n_hist + pos.astype(np.int64)
            row = _as_change(txn_rows(idx, n_hist, np.full(n, BATCH_DAY)), batch_seq,
                             "remove", "removed")
            row["partner_txn_id"] = _ids("ptx-gone-", idx, 12)
            row["posted_month"] = pa.repeat("unseen", n)
        else:
            idx = chosen[kind]
            base = txn_rows(idx, n_hist)
            posted = history_posted(idx, n_hist)
            if kind == "modify":
                row = _as_change(base, batch_seq, "upsert", "modified", 100)
            elif kind == "resend":
                row = _as_change(base, batch_seq, "upsert", "added", 250)
            elif kind == "remove":
                row = _as_change(base, batch_seq, "remove", "removed")
            elif kind == "stale_upsert":  # older than the row's content: must not apply
                row = _as_change(base, _seq(posted, idx), "upsert", "modified", 300)
            elif kind == "stale_remove":  # older than the row: must not apply
                row = _as_change(base, _seq(posted, idx), "remove", "removed")
            else:  # late_content: between the tombstone's content and its removal
                row = _as_change(base, _seq(posted + 1, idx, ":late"), "upsert", "modified",
                                 400)
            row["posted_month"] = base["posted_month"]
        parts.append(_table(row, BATCH_SCHEMA))
        kinds.append((kind, pos))
    table = pa.concat_tables(parts)
    order = np.argsort(np.concatenate([p for _, p in kinds]))
    table = table.take(pa.array(order))
    # Row i of the sorted batch is position i: 40 keys of each kind for the row comparison.
    makeup = {"counts": counts,
              "samples": {kind: table.take(pa.array(np.sort(pos[:40]))).select(KEYS).to_pylist()
                          for kind, pos in kinds},
              "expected": {"inserted": counts["insert"] + counts["unseen_remove"],
                           "updated": counts["modify"] + counts["resend"] + counts["remove"]
                           + counts["late_content"]}}
    return table, makeup


def write_inputs(work: Path, n_hist: int, n_batch: int) -> dict[str, Any]:
    """History as hive-partitioned Parquet and as a Delta table (both engines' starting
    table), the batch as one Parquet file; returns the batch's makeup."""
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    src = work / "input"
    for m in range(MONTHS):
        lo, hi = -(-n_hist * m // MONTHS), -(-n_hist * (m + 1) // MONTHS)
        part = _table(txn_rows(np.arange(lo, hi, dtype=np.int64), n_hist), SCHEMA)
        folder = src / "history_parquet" / f"posted_month={part['posted_month'][0]}"
        folder.mkdir(parents=True)
        pq.write_table(part.drop_columns(["posted_month"]), folder / "part-00000.parquet")
    log(f"history: {n_hist:,} rows in {MONTHS} monthly Parquet partitions")
    write_deltalake(str(src / "history_delta"), history_dataset(src).scanner().to_reader(),
                    partition_by=["posted_month"], mode="overwrite")
    log("history: the same rows as a Delta table (delta-rs writer)")
    batch, makeup = build_batch(n_hist, n_batch)
    pq.write_table(batch, src / "batch.parquet")
    log(f"batch: {batch.num_rows:,} changes " + ", ".join(
        f"{k} {v:,}" for k, v in makeup["counts"].items()))
    untouched = np.linspace(0, n_hist * (MONTHS - RECENT_MONTHS) // MONTHS - 1, 40,
                            dtype=np.int64)
    makeup["samples"]["untouched"] = _table(txn_rows(untouched, n_hist), SCHEMA).select(
        KEYS).to_pylist()
    return makeup


def history_dataset(src: Path) -> Any:
    """The history Parquet as a dataset (posted_month from the folder names)."""
    import pyarrow.dataset as ds

    part = ds.partitioning(pa.schema([("posted_month", pa.string())]), flavor="hive")
    return ds.dataset(src / "history_parquet", schema=SCHEMA, format="parquet",
                      partitioning=part)


def _restore(pristine: Path, table: Path) -> float:
    """Put the starting table in place (untimed); returns seconds taken."""
    t = time.perf_counter()
    shutil.rmtree(table, ignore_errors=True)
    shutil.copytree(pristine, table)
    return time.perf_counter() - t


# ---------------------------------------------------------------- the merge, spelled per engine

def matched_clauses() -> list[tuple[str, dict[str, str]]]:
    """``merge_transactions``' WHEN MATCHED clauses as (condition, column -> expression),
    aliases ``t`` (silver) and ``s`` (batch); ``<=>`` spelled ``IS NOT DISTINCT FROM``,
    which Spark, DataFusion and PostgreSQL all parse. The clauses exclude each other."""
    newer = "(s.source_seq > t.source_seq OR t.source_seq IS NULL)"
    same = " AND ".join(f"(t.{c} IS NOT DISTINCT FROM s.{c})"
                        for c in ("amount", "posted_date", "description"))
    resent = f"s.change_kind = 'added' AND t.status = 'live' AND NOT ({same})"
    removal = {"status": "CASE WHEN t.superseded_by IS NOT NULL THEN 'superseded' "
                         "ELSE 'removed' END",
               "removed_at": "s.removed_at", **{c: f"s.{c}" for c in BOOKKEEPING}}
    upsert = {**{c: f"s.{c}" for c in PARTNER_COLUMNS},
              "partner_duplicate": f"coalesce(t.partner_duplicate, false) OR ({resent})",
              "status": "CASE WHEN t.superseded_by IS NOT NULL AND s.pending "
                        "THEN 'superseded' ELSE 'live' END",
              "removed_at": "NULL"}
    older = ("s.source_seq < t.source_seq AND "
             "(t.content_seq IS NULL OR s.source_seq > t.content_seq)")
    return [(f"s.change = 'remove' AND {newer}", removal),
            (f"s.change = 'upsert' AND {newer}", upsert),
            (f"s.change = 'upsert' AND {older}", {c: f"s.{c}" for c in CONTENT})]


def _case(column: str) -> str:
    """The value a matched row's column gets: the first clause that applies, else unchanged."""
    whens = " ".join(f"WHEN {cond} THEN {sets.get(column, f't.{column}')}"
                     for cond, sets in matched_clauses())
    return f"CASE {whens} ELSE t.{column} END"


def jvm_merge_sql(target: str, source: str) -> str:
    """The touched partitions after the merge: full outer join of silver and the batch."""
    values = ", ".join(f"CASE WHEN t.account_id IS NULL THEN s.{c} "
                       f"WHEN s.account_id IS NULL THEN t.{c} ELSE {_case(c)} END AS {c}"
                       for c in COLS)
    on = " AND ".join(f"t.{k} = s.{k}" for k in KEYS)
    return f"SELECT {values} FROM {target} t FULL OUTER JOIN {source} s ON {on}"


def postgres_upsert_sql() -> str:
    """INSERT ... ON CONFLICT DO UPDATE with the same clauses (the batch row is ``excluded``)."""
    changed = sorted({c for _, sets in matched_clauses() for c in sets})
    sets = ", ".join(f"{c} = {_case(c)}" for c in changed)
    where = " OR ".join(f"({cond})" for cond, _ in matched_clauses())
    update = re.sub(r"\bs\.", "excluded.", f"DO UPDATE SET {sets} WHERE {where}")
    cols = ", ".join([*COLS, "change", "change_kind"])
    return (f"INSERT INTO transactions AS t ({cols}) SELECT {cols} FROM staging "
            f"ON CONFLICT ({', '.join(KEYS)}) {update}")


# ---------------------------------------------------------------- engines (one process each)

def _maxrss_kib() -> int:
    """This process's peak resident set. getrusage's ru_maxrss is not used alone: on Linux it
    starts at the parent's peak (kept through fork and exec), here the data generator's."""
    own = vm_hwm_kib(os.getpid())
    return own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> None:
    """Restart this process's VmHWM (Linux: write 5 to /proc/self/clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def vm_hwm_kib(pid: int) -> int | None:
    """Peak resident set of another process (VmHWM), or None if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _months(spark_rows: Any) -> list[str]:
    return sorted(r[0] for r in spark_rows.select("posted_month").distinct().collect())


def _delta_commit(path: Path) -> dict[str, Any]:
    """Operation metrics of the table's last commit (files and rows rewritten)."""
    from deltalake import DeltaTable

    metrics = DeltaTable(str(path)).history(1)[0].get("operationMetrics", {})
    wanted = ("numTargetFilesAdded", "numTargetFilesRemoved", "numTargetRowsCopied",
              "numTargetRowsInserted", "numTargetRowsUpdated", "num_target_files_added",
              "num_target_files_removed", "num_target_rows_copied",
              "num_target_rows_inserted", "num_target_rows_updated")
    return {k: v for k, v in metrics.items() if k in wanted}


def finlake_merge(work: Path, runs: int, _: str, *, engine: str) -> dict[str, Any]:
    """finlake's own ``merge_transactions`` on one of its embedded engines (``sail`` or
    ``spark-delta``), as the nightly runs it. Start-up (the engine started until
    ``SELECT 1`` returns) is timed apart from the merges. Each run merges into a fresh copy
    of the starting table in its own folder, so no engine keeps a cached view of a table
    that was put back under it (delta-spark caches each path's log)."""
    from lake.lake import Lake
    from lake.spark import spark_session
    from pipelines.silver.merge import merge_transactions

    t = time.perf_counter()
    spark = spark_session(engine=engine)
    spark.sql("SELECT 1").collect()
    out: dict[str, Any] = {"startup_s": time.perf_counter() - t, "runs": []}
    table = Path()
    for run in range(runs):
        if run:
            shutil.rmtree(work / engine / f"run-{run}", ignore_errors=True)
        lake = Lake(str(work / engine / f"run-{run + 1}"))
        table = Path(lake.uri(TRANSACTIONS))
        log(f"{engine} run {run + 1}: starting table restored in "
            f"{_restore(work / 'input' / 'history_delta', table):.1f}s")
        t = time.perf_counter()
        rows = spark.read.parquet(str(work / "input" / "batch.parquet"))
        months = _months(rows)
        affected = merge_transactions(spark, lake, rows, months)
        seconds = time.perf_counter() - t
        out["runs"].append({"seconds": seconds, "rows_affected": affected,
                            "work": _delta_commit(table)})
        log(f"{engine} run {run + 1}: {seconds:.1f}s, {affected:,} rows affected, "
            f"months {months}")
    out["table"] = str(table)
    if engine == "sail":
        out["peak_kib"] = {"python process (Sail in-process)": _maxrss_kib()}
    else:
        from lake.spark_delta import _embedded

        server = _embedded["server"]
        assert isinstance(server, subprocess.Popen)
        # spark-submit execs java, so the server's pid is the JVM's; read it before exit.
        jvms = [server.pid] if _command(server.pid) == "java" else [
            p for p in descendants(server.pid) if _command(p) == "java"]
        out["peak_kib"] = {"python process (Spark Connect client)": _maxrss_kib()}
        for pid in jvms or [server.pid]:
            out["peak_kib"][f"JVM server (pid {pid}, -Xmx4g)"] = vm_hwm_kib(pid)
    return out


def engine_jvm(work: Path, runs: int, _: str) -> dict[str, Any]:
    import pyarrow.parquet as pq
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    os.environ["PYSPARK_PYTHON"] = sys.executable
    t = time.perf_counter()
    spark = (SparkSession.builder.remote("local[2]")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g")
             .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
             .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
             .getOrCreate())
    spark.sql("SELECT 1").collect()
    out: dict[str, Any] = {"startup_s": time.perf_counter() - t, "runs": []}
    java = [p for p in descendants(os.getpid()) if _command(p) == "java"]
    table = work / "jvm" / "transactions"
    for run in range(runs):
        log(f"jvm run {run + 1}: starting table restored in "
            f"{_restore(work / 'input' / 'history_parquet', table):.1f}s")
        t = time.perf_counter()
        batch = spark.read.parquet(str(work / "input" / "batch.parquet"))
        months = _months(batch)
        spark.read.schema(TRANSACTIONS.ddl).parquet(str(table)).filter(
            F.col("posted_month").isin(months)).createOrReplaceTempView("silver_touched")
        batch.createOrReplaceTempView("batch")
        (spark.sql(jvm_merge_sql("silver_touched", "batch")).repartition("posted_month")
         .write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
         .partitionBy("posted_month").parquet(str(table)))
        seconds = time.perf_counter() - t
        rewritten = sum(pq.ParquetFile(f).metadata.num_rows for m in months
                        for f in (table / f"posted_month={m}").glob("*.parquet"))
        out["runs"].append({"seconds": seconds, "work": {"rows_written": rewritten,
                                                         "partitions_rewritten": len(months)}})
        log(f"jvm run {run + 1}: {seconds:.1f}s, {len(months)} partitions rewritten "
            f"({rewritten:,} rows)")
    out["table"] = str(table)
    out["peak_kib"] = {"python process (Spark Connect client)": _maxrss_kib()}
    for pid in java:
        out["peak_kib"][f"JVM (pid {pid}, -Xmx4g)"] = vm_hwm_kib(pid)
    if not java:
        out["peak_kib"]["JVM"] = None
    return out


def engine_deltars(work: Path, runs: int, _: str) -> dict[str, Any]:
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    out: dict[str, Any] = {"startup_s": 0.0, "runs": []}
    table = work / "deltars" / "transactions"
    on = " AND ".join(f"t.{k} = s.{k}" for k in KEYS)
    for run in range(runs):
        log(f"deltars run {run + 1}: starting table restored in "
            f"{_restore(work / 'input' / 'history_delta', table):.1f}s")
        t = time.perf_counter()
        source = pq.read_table(work / "input" / "batch.parquet")
        months = sorted(pc.unique(source["posted_month"]).to_pylist())
        pruned = "t.posted_month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
        merger = DeltaTable(str(table)).merge(source, f"{on} AND {pruned}", source_alias="s",
                                              target_alias="t")
        for cond, sets in matched_clauses():
            merger = merger.when_matched_update(sets, cond)
        metrics = merger.when_not_matched_insert({c: f"s.{c}" for c in COLS}).execute()
        seconds = time.perf_counter() - t
        affected = metrics["num_target_rows_inserted"] + metrics["num_target_rows_updated"]
        out["runs"].append({"seconds": seconds, "rows_affected": affected,
                            "work": _delta_commit(table)})
        log(f"deltars run {run + 1}: {seconds:.1f}s, {affected:,} rows affected")
    out["table"] = str(table)
    out["peak_kib"] = {"python process (delta-rs in-process)": _maxrss_kib()}
    return out


class CsvStream:
    """A file-like object COPY reads: Arrow batches rendered as CSV on demand."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.batches, self.chunk, self.pos = batches, b"", 0

    def read(self, size: int = -1) -> bytes:
        import io

        import pyarrow.csv as pacsv

        while self.pos >= len(self.chunk):
            batch = next(self.batches, None)
            if batch is None:
                return b""
            sink = io.BytesIO()
            pacsv.write_csv(pa.Table.from_batches([batch]), sink,
                            pacsv.WriteOptions(include_header=False))
            self.chunk, self.pos = sink.getvalue(), 0
        end = len(self.chunk) if size < 0 else self.pos + size
        out = self.chunk[self.pos:end]
        self.pos = end
        return out


def postgres_ddl() -> str:
    cols = ", ".join(f"{c} {PG_TYPES[t]}" for c, t in TRANSACTIONS.columns)
    return f"CREATE TABLE transactions ({cols}, change text, change_kind text)"


def engine_postgres(work: Path, runs: int, dsn: str) -> dict[str, Any]:
    import psycopg2
    import pyarrow.parquet as pq

    out: dict[str, Any] = {"startup_s": 0.0, "runs": []}
    cols = ", ".join(COLS)
    t = time.perf_counter()
    load = psycopg2.connect(dsn)  # its own backend: the index build's memory is not counted
    cur = load.cursor()             # in the merge's peak
    cur.execute("SET maintenance_work_mem = '1GB'")
    cur.execute(postgres_ddl())
    cur.copy_expert(f"COPY transactions ({cols}) FROM STDIN WITH (FORMAT csv, FREEZE)",
                    CsvStream(iter(history_dataset(work / "input").to_batches(
                        batch_size=50_000, batch_readahead=1, fragment_readahead=1))),
                    size=1 << 20)
    copied = time.perf_counter() - t
    cur.execute(f"ALTER TABLE transactions ADD PRIMARY KEY ({', '.join(KEYS)})")
    load.commit()
    load.autocommit = True
    cur.execute("VACUUM ANALYZE transactions")
    load.close()
    out["history_load"] = {"copy_s": copied, "total_s": time.perf_counter() - t}
    log(f"postgres: history loaded in {out['history_load']['total_s']:.1f}s "
        f"(COPY {copied:.1f}s, then primary key and VACUUM ANALYZE)")
    out["history_load"]["client_peak_kib"] = _maxrss_kib()
    _reset_peak()  # the client's peak below is the merge runs' own
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    backend = cur.fetchone()[0]
    cur.execute("SET TIME ZONE 'UTC'")
    upsert = postgres_upsert_sql()
    for run in range(runs):
        last = run == runs - 1
        cur.execute("BEGIN")
        cur.execute("CREATE TEMP TABLE staging (LIKE transactions) ON COMMIT DROP")
        t = time.perf_counter()
        batch = pq.ParquetFile(work / "input" / "batch.parquet")
        cur.copy_expert(f"COPY staging ({cols}, change, change_kind) FROM STDIN (FORMAT csv)",
                        CsvStream(batch.iter_batches(batch_size=50_000)), size=1 << 20)
        copy_s = time.perf_counter() - t
        t = time.perf_counter()
        cur.execute(upsert)
        affected = cur.rowcount
        cur.execute("COMMIT" if last else "ROLLBACK")
        upsert_s = time.perf_counter() - t
        out["runs"].append({"seconds": copy_s + upsert_s, "copy_s": copy_s,
                            "upsert_s": upsert_s, "rows_affected": affected,
                            "committed": last})
        log(f"postgres run {run + 1}: COPY {copy_s:.1f}s + upsert {upsert_s:.1f}s, "
            f"{affected:,} rows affected, {'committed' if last else 'rolled back'}")
        if not last:
            t = time.perf_counter()
            cur.execute("VACUUM transactions")
            log(f"postgres: VACUUM after the rolled-back run {time.perf_counter() - t:.1f}s "
                "(untimed)")
    out["peak_kib"] = {"python process (COPY client, merge runs)": _maxrss_kib(),
                       f"postgres backend (pid {backend}; includes shared buffers it touched)":
                       vm_hwm_kib(backend)}
    conn.close()
    return out


ENGINE_RUNNERS: dict[str, Callable[[Path, int, str], dict[str, Any]]] = {
    "sail": partial(finlake_merge, engine="sail"),
    "spark-delta": partial(finlake_merge, engine="spark-delta"),
    "jvm": engine_jvm, "deltars": engine_deltars, "postgres": engine_postgres}


# ---------------------------------------------------------------- do the engines agree?

def _row_hash(dialect: str) -> str:
    """A 32-bit md5 of the columns the merge decides, summed over the table (same in both)."""
    if dialect == "duckdb":
        txt, epoch = "CAST({} AS VARCHAR)", "CAST(epoch_us(removed_at) AS VARCHAR)"
    else:
        txt, epoch = "{}::text", "(extract(epoch FROM removed_at) * 1000000)::bigint::text"
    parts = ", ".join(["account_id", "partner_txn_id", "status", txt.format("amount"),
                       "source_seq", "content_seq", "description", "posted_month",
                       txt.format("partner_duplicate"), txt.format("sync_date"), epoch])
    digest = f"substr(md5(concat_ws('|', {parts})), 1, 8)"
    if dialect == "duckdb":
        return f"CAST('0x' || {digest} AS BIGINT)"
    return f"('x' || {digest})::bit(32)::bigint"


def _norm(value: Any) -> Any:
    from datetime import UTC, datetime
    from decimal import Decimal

    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat() + "Z"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return round(value, 9)
    return value if value is None or isinstance(value, bool | str) else str(value)


def _summary(rows: list[tuple], totals: tuple, samples: list[tuple]) -> dict[str, Any]:
    return {"rows": int(totals[0]), "amount_sum": str(totals[1]), "checksum": int(totals[2]),
            "by_status": {s: int(n) for s, n in sorted(rows)},
            "sample": {f"{r[COLS.index('account_id')]}/{r[COLS.index('partner_txn_id')]}":
                       [_norm(v) for v in r] for r in samples}}


def summarise_dataset(dataset: Any, keys: pa.Table) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("silver", dataset)
    con.register("sample_keys", keys)
    by_status = con.execute("SELECT status, count(*) FROM silver GROUP BY status").fetchall()
    totals = con.execute("SELECT count(*), sum(amount), "
                         f"sum({_row_hash('duckdb')}) FROM silver").fetchall()[0]
    picked = ", ".join(f"s.{c}" for c in COLS)
    samples = con.execute(f"SELECT {picked} FROM silver s JOIN sample_keys k ON "
                          "s.account_id = k.account_id AND s.partner_txn_id = k.partner_txn_id"
                          ).fetchall()
    con.close()
    return _summary(by_status, totals, samples)


def summarise_postgres(dsn: str, keys: pa.Table) -> dict[str, Any]:
    import psycopg2
    from psycopg2.extras import execute_values

    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.execute("SELECT status, count(*) FROM transactions GROUP BY status")
    by_status = cur.fetchall()
    cur.execute(f"SELECT count(*), sum(amount), sum({_row_hash('postgres')}) FROM transactions")
    totals = cur.fetchone()
    cur.execute("CREATE TEMP TABLE sample_keys (account_id text, partner_txn_id text)")
    execute_values(cur, "INSERT INTO sample_keys VALUES %s",
                   [(r["account_id"], r["partner_txn_id"]) for r in keys.to_pylist()])
    cur.execute(f"SELECT {', '.join('t.' + c for c in COLS)} FROM transactions t "
                "JOIN sample_keys k USING (account_id, partner_txn_id)")
    samples = cur.fetchall()
    conn.close()
    return _summary(by_status, totals, samples)


def summarise(engine: str, result: dict[str, Any], keys: pa.Table, dsn: str
              ) -> dict[str, Any]:
    from deltalake import DeltaTable

    if engine == "postgres":
        return summarise_postgres(dsn, keys)
    if engine == "jvm":
        import pyarrow.dataset as ds

        part = ds.partitioning(pa.schema([("posted_month", pa.string())]), flavor="hive")
        dataset = ds.dataset(result["table"], schema=SCHEMA, format="parquet",
                             partitioning=part)
    else:
        dataset = DeltaTable(result["table"]).to_pyarrow_dataset()
    return summarise_dataset(dataset, keys)


# ---------------------------------------------------------------- orchestration and report

def run_worker(engine: str, work: Path, runs: int, dsn: str) -> dict[str, Any]:
    """Run one engine in its own Python process; relay its progress, return its result."""
    log(f"== {engine}: starting its process")
    err = work / f"{engine}.stderr"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.merge_engines", "--worker", engine,
             "--work", str(work), "--runs", str(runs), "--pg", dsn],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
        result: dict[str, Any] | None = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
            else:
                print(f"    {engine} | {line.rstrip()}", flush=True)
        proc.wait()
    if proc.returncode != 0 or result is None:
        tail = err.read_text()[-3000:]
        log(f"== {engine}: FAILED (exit {proc.returncode})\n{tail}")
        return {"error": f"exit {proc.returncode}: {tail[-500:]}"}
    return result


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{a:.2f}" for a in averages)


def _mib(kib: int | None) -> str:
    return "unreadable" if kib is None else f"{kib / 1024:,.0f} MiB"


def report(results: dict[str, dict[str, Any]], checks: dict[str, dict[str, Any]],
           n_batch: int, makeup: dict[str, Any]) -> bool:
    """Print the side-by-side tables; returns whether every engine agreed with the first."""
    base = results.get("sail", {}).get("runs")
    base_s = base[-1]["seconds"] if base else None
    print("\n== merge of the batch (last run measured; earlier runs warm up)")
    print(f"{'engine':<11} {'start-up s':>10} {'runs (s)':<22} {'measured s':>10} "
          f"{'rows/s':>10} {'time vs Sail':>12}  peak memory")
    for engine, r in results.items():
        if "error" in r:
            print(f"{engine:<11} FAILED: {r['error'][:200]}")
            continue
        secs = [x["seconds"] for x in r["runs"]]
        ratio = f"{secs[-1] / base_s:.2f}x" if base_s else "-"
        peaks = "; ".join(f"{k}: {_mib(v)}" for k, v in r["peak_kib"].items())
        peaks += f" (the Python process held {_mib(r['process_at_start_kib'])} at start)"
        print(f"{engine:<11} {r.get('startup_s', 0.0):>10.1f} "
              f"{', '.join(f'{s:.1f}' for s in secs):<22} {secs[-1]:>10.1f} "
              f"{n_batch / secs[-1]:>10,.0f} {ratio:>12}  {peaks}")
    for engine, r in results.items():
        if "error" in r:
            continue
        last = r["runs"][-1]
        extra = {k: v for k, v in last.items() if k not in ("seconds",)}
        start = f", start-up {r['startup_s']:.1f}s (untimed)" if r.get("startup_s") else ""
        load = r.get("history_load")
        if load:
            start += f", history load {load['total_s']:.1f}s (untimed)"
        print(f"  {engine}: {json.dumps(extra)}{start}")
    exp = makeup["expected"]
    print(f"  expected: {exp['inserted']:,} rows inserted, {exp['updated']:,} updated "
          f"(= {exp['inserted'] + exp['updated']:,} affected); "
          f"{makeup['counts']['stale_upsert'] + makeup['counts']['stale_remove']:,} stale "
          "changes must change nothing")
    print("\n== do the engines agree? (whole table after the measured run)")
    print(f"{'engine':<11} {'rows':>11} {'by status':<48} {'sum(amount)':>16} "
          f"{'checksum':>18} {'sample rows':>11}  agrees")
    ref_name = next(iter(checks), "")
    agree = True
    for engine, c in checks.items():
        ref = checks[ref_name]
        same_sample = c["sample"] == ref["sample"]
        same = same_sample and all(c[k] == ref[k] for k in ("rows", "amount_sum", "checksum",
                                                             "by_status"))
        agree = agree and same
        status = ", ".join(f"{k} {v:,}" for k, v in c["by_status"].items())
        print(f"{engine:<11} {c['rows']:>11,} {status:<48} {c['amount_sum']:>16} "
              f"{c['checksum']:>18,} {len(c['sample']):>5} {'same' if same_sample else 'DIFF':>5}"
              f"  {'yes' if same else 'NO'}")
        if not same_sample:
            for key, row in c["sample"].items():
                if ref["sample"].get(key) != row:
                    print(f"    first differing row {key}:\n      {ref_name}: "
                          f"{ref['sample'].get(key)}\n      {engine}: {row}")
                    break
    print(f"all engines agree with {ref_name}: {'yes' if agree else 'NO'}")
    return agree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    ap.add_argument("--runs", type=int, default=2, help="merges per engine (last is measured)")
    ap.add_argument("--dir", default=None, help="parent of the temporary directory")
    ap.add_argument("--pg", default="host=127.0.0.1 port=5432 user=finlake dbname=finlake",
                    help="libpq DSN of a database to create the bench database from")
    ap.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        started = _maxrss_kib()  # numpy, pyarrow and pyspark already imported
        result = ENGINE_RUNNERS[args.worker](Path(args.work), args.runs, args.pg)
        result["process_at_start_kib"] = started
        print("RESULT " + json.dumps(result), flush=True)
        return
    import psycopg2
    from psycopg2.extensions import make_dsn

    engines = [e for e in ENGINES if e in args.engines]
    work = Path(tempfile.mkdtemp(prefix="finlake-merge-engines-", dir=args.dir))
    db = f"finlake_bench_merge_{os.getpid()}"
    dsn = make_dsn(args.pg, dbname=db)
    created = False
    load_before = os.getloadavg()
    log(f"{args.batch:,} changes into {args.history:,} rows; engines {engines}; "
        f"{args.runs} runs each; working in {work}; load average {_load(load_before)}")
    try:
        makeup = write_inputs(work, args.history, args.batch)
        if "postgres" in engines:
            admin = psycopg2.connect(args.pg)
            admin.autocommit = True
            admin.cursor().execute(f"CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8' "
                                   "LC_COLLATE 'C' LC_CTYPE 'C'")
            admin.close()
            created = True
        results = {e: run_worker(e, work, args.runs, dsn) for e in engines}
        keys = pa.Table.from_pylist([k for ks in makeup["samples"].values() for k in ks])
        checks = {}
        for engine, result in results.items():
            if "error" not in result:
                log(f"checking {engine}'s table")
                checks[engine] = summarise(engine, result, keys, dsn)
        agree = report(results, checks, args.batch, makeup)
        load_after = os.getloadavg()
        print(f"load average (1, 5, 15 min): before {_load(load_before)}, "
              f"after {_load(load_after)} (the machine may be shared: compare within a run)")
        print(json.dumps({
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python "
                       f"{platform.python_version()}",
            "history": args.history, "batch": args.batch, "agree": agree,
            "load_average": {"before": load_before, "after": load_after},
            "results": results,
            "checks": {e: {k: v for k, v in c.items() if k != "sample"}
                       for e, c in checks.items()}}, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created:
            admin = psycopg2.connect(args.pg)
            admin.autocommit = True
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.close()
        log(f"removed {work}" + (f" and database {db}" if created else ""))


if __name__ == "__main__":
    main()
