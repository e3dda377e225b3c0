"""The same pipeline on both engines: embedded Sail and Apache Spark + Delta Lake
(``FINLAKE_ENGINE=spark-delta``), from the same raw pages of the session's demo.

Copies of the demo with every derived table deleted are rebuilt by replaying the demo's
first three days from its raw pages: the first day on each engine (the two lakes must hold
the same rows in every table), then the next two on Sail, on Spark + Delta over Sail's tables, and
on Sail over Spark + Delta's tables (the second engine MERGEs into tables the first wrote;
all three must be equal). delta-rs and DuckDB must read every table either engine wrote.
The Sail and Spark + Delta processes run side by side (the JVM leaves a core idle)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lake import tables as t
from lake.lake import Lake
from tests.support.demo import DemoBuild, copy_demo
from tests.support.engine_rebuild import DERIVED, table_rows

pytestmark = [pytest.mark.delta_spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SPARK = "Apache-Spark/"  # engineInfo of a delta-spark commit
SAIL = "sail-delta-lake"


def _replay(engine: str, home: Path, days: list[str], *, fresh: bool,
            remote: str | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINLAKE_", "SPARK_"))}
    if remote:
        env["SPARK_REMOTE"] = remote
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.engine_rebuild", engine, str(home),
         *([] if fresh else ["--continue"]), *days],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def _demo_days(home: Path) -> list[str]:
    raw = home / "lake" / "raw" / "transactions_sync"
    return sorted(p.name.removeprefix("sync_date=") for p in raw.glob("sync_date=*"))


def _writer(home: Path, table: t.Table) -> str:
    from deltalake import DeltaTable

    return DeltaTable(str(home / "lake" / table.key)).history(1)[0].get("engineInfo", "")


@pytest.fixture(scope="module")
def lakes(demo_build: DemoBuild, spark_delta_server: tuple[str, int],
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Spark + Delta runs share the session's server (``finlake spark-delta serve``,
    the engine ``FINLAKE_ENGINE=spark-delta`` starts embedded), so its JVM warms up once."""
    remote = spark_delta_server[0]
    base = tmp_path_factory.mktemp("engines")
    days = _demo_days(demo_build.home)
    assert len(days) >= 2, days
    # the first day, then two later days: each later day is a MERGE into the other engine's
    # tables, and two of them show a second MERGE over the first (more days add only time)
    first, rest = days[:1], days[1:3]
    out = {name: base / name for name in ("sail_day1", "spark_day1", "sail", "sail_then_spark",
                                          "spark_then_sail")}

    def on_sail() -> None:
        _replay("sail", copy_demo(demo_build, out["sail_day1"]), first, fresh=True)
        shutil.copytree(out["sail_day1"], out["sail"], symlinks=True)
        shutil.copytree(out["sail_day1"], out["sail_then_spark"], symlinks=True)
        _replay("sail", out["sail"], rest, fresh=False)

    def on_spark() -> None:
        _replay("spark-delta", copy_demo(demo_build, out["spark_day1"]), first, fresh=True,
                remote=remote)
        shutil.copytree(out["spark_day1"], out["spark_then_sail"], symlinks=True)

    with ThreadPoolExecutor(2) as pool:
        for job in [pool.submit(on_sail), pool.submit(on_spark)]:
            job.result()
        jobs = [pool.submit(_replay, "spark-delta", out["sail_then_spark"], rest, fresh=False,
                            remote=remote),
                pool.submit(_replay, "sail", out["spark_then_sail"], rest, fresh=False)]
        for job in jobs:
            job.result()
    return out


def _steps_done(rows: list | None) -> list[tuple]:
    return sorted({(dict(r)["step"], dict(r)["day"]) for r in rows or ()})


def _differences(a: Path, b: Path) -> dict[str, str]:
    out = {}
    for table in DERIVED:
        rows_a, rows_b = table_rows(str(a / "lake"), table), table_rows(str(b / "lake"), table)
        if table is t.STEP_MARKS:  # its inputs name each lake's own table ids and versions:
            rows_a, rows_b = _steps_done(rows_a), _steps_done(rows_b)  # compare which ran
        if rows_a != rows_b:
            only_a = set(rows_a or ()) - set(rows_b or ())
            only_b = set(rows_b or ()) - set(rows_a or ())
            sample = sorted(only_a, key=repr)[:1] + sorted(only_b, key=repr)[:1]
            out[table.name] = f"{len(only_a)} rows only in a, {len(only_b)} only in b: {sample}"
    return out


def test_every_table_is_the_same_on_sail_and_on_spark_with_delta(lakes) -> None:
    sail, spark = lakes["sail_day1"], lakes["spark_day1"]
    # Each engine wrote its own tables: the comparison is not of a lake with itself.
    for table in (t.TRANSACTIONS, t.MONTHLY_SPEND, t.RECURRING_PAYMENTS, t.NET_WORTH_DAILY):
        assert _writer(sail, table).startswith(SAIL), table.name
        assert _writer(spark, table).startswith(SPARK), table.name
    rows = {table.name: table_rows(str(spark / "lake"), table) for table in DERIVED}
    for name in ("transactions", "accounts", "monthly_spend", "daily_spend", "budget_progress",
                 "balances_daily", "net_worth_daily", "recurring_payments", "spend_trends",
                 "alerts", "gold_changes", "series_changes", "quality_results"):
        assert rows[name], f"{name} is empty: the comparison would prove nothing"
    assert _differences(sail, spark) == {}


@pytest.mark.parametrize("mixed, last", [("sail_then_spark", SPARK), ("spark_then_sail", SAIL)])
def test_each_engine_merges_into_tables_the_other_wrote(lakes, mixed: str, last: str) -> None:
    home = lakes[mixed]
    # The later days' MERGEs really ran on the second engine, into the first one's tables.
    for table in (t.TRANSACTIONS, t.MONTHLY_SPEND, t.DAILY_SPEND):
        assert _writer(home, table).startswith(last), table.name
    assert _differences(lakes["sail"], lakes["sail_day1"]) != {}, "the later days changed nothing"
    assert _differences(lakes["sail"], home) == {}


@pytest.mark.parametrize("name", ["spark_day1", "sail", "sail_then_spark", "spark_then_sail"])
def test_delta_rs_and_duckdb_read_what_either_engine_wrote(lakes, name: str) -> None:
    from deltalake import DeltaTable

    from lake.duck import available_tables, connect

    lake = Lake(str(lakes[name] / "lake"))
    con = connect(lake)  # analysts' views: no credentials, logins or pseudonyms
    shown = set(available_tables(con))
    analysed = {tbl.name for tbl in DERIVED if tbl.layer in ("silver", "gold")}
    assert analysed - {"quarantine"} <= shown
    for table in lake.tables():
        dt = DeltaTable(lake.uri(table))
        protocol = dt.protocol()
        assert (protocol.min_reader_version, protocol.min_writer_version) <= (3, 7), table.name
        n_rs = dt.to_pyarrow_table().num_rows
        if table.name not in shown:
            continue
        n_duck = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0]
        assert n_duck == n_rs, table.name
    spend = con.execute("SELECT sum(amount), count(*) FROM monthly_spend").fetchall()[0]
    assert spend[1] > 0 and spend[0] is not None
