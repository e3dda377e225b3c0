"""Issue 18, findings 5 and 6 on files: what ``finlake quarantine release`` lands, what a
hostile release record or labelled CSV does to the CLI, and the modes of the files finlake
writes under FINLAKE_HOME.

Every command runs as a subprocess, as an operator runs it: its exit code, its stderr (one
line, no traceback) and what it left on disk are what is checked."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import QUARANTINE, TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.corrections.release import MAX_DEPTH, MAX_RECORD_BYTES
from pipelines.gold.refresh import refresh_gold
from pipelines.silver.changes import changed_cells
from pipelines.silver.refresh import merge_partition
from tests.support.raw_builder import land, page, txn
from tests.support.secret_scan import Scanner
from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 2, 2)
# Full numbers an operator might paste into a fix (the card and routing numbers pass their
# checksums, as real ones do)
NUMBERS = {"an account number": "123456789012", "a routing number": "021000021",
           "a card number": "4111111111111111", "a card in groups": "5500 0000 0000 0004"}
DEVICE_MEMORY = 3 << 30  # enough to start finlake; reading /dev/zero to its end is not


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("FINLAKE_", "DAGSTER_", "SPARK_REMOTE"))}


def run_as_operator(argv: list[str], home: Path, *, umask: int = 0o022,
                    memory: int | None = None, timeout: float = 300,
                    env: dict[str, str] | None = None, stdin: str | None = None
                    ) -> subprocess.CompletedProcess[str]:
    """``argv`` in its own process with FINLAKE_HOME=home, started by a shell with ``umask``
    (a usual login's, whatever this process has) and at most ``memory`` bytes of address
    space (a command reading a device to its end fails instead of filling the machine).
    (A shell, not preexec_fn: that runs this process's fork handlers, gRPC's among them.)"""
    limit = f"ulimit -v {memory // 1024} && " if memory else ""
    return subprocess.run(["sh", "-c", f'umask {umask:03o} && {limit}exec "$@"', "sh", *argv],
                          cwd=ROOT, text=True, timeout=timeout, input=stdin,
                          env={**_clean_env(), "FINLAKE_HOME": str(home), **(env or {})},
                          capture_output=True)


def finlake(home: Path, *args: str, **how: Any) -> subprocess.CompletedProcess[str]:
    """``finlake ARGS``, as :func:`run_as_operator` runs it."""
    return run_as_operator([sys.executable, "-m", "finlake.cli", *args], home, **how)


def python(home: Path, code: str, **how: Any) -> subprocess.CompletedProcess[str]:
    """Python ``code``, as :func:`run_as_operator` runs it."""
    return run_as_operator([sys.executable, "-c", code], home, **how)


def _quarantine_one(home: Path, spark) -> str:  # noqa: ANN001
    """A lake at ``home`` whose day, merged to gold, holds one good transaction and one
    quarantined for its currency ("usd"); the quarantined record's id."""
    lake = Lake(str(home / "lake"))
    held = txn("low", 25.0, "2026-02-01", "BEST BUY 00123", merchant="Best Buy", currency="usd")
    land(lake.store, DAY.isoformat(), 1, [page(added=[txn("ok", 10.0, "2026-02-01"), held])])
    seed_reference(spark, lake)
    merged = merge_partition(spark, lake, DAY)
    assert merged.reconciliation["quarantined_records"] == 1
    refresh_gold(spark, lake, changed_cells(spark, lake, DAY), DAY)
    return read_rows(lake, QUARANTINE)[0]["record_id"]


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory, spark) -> tuple[Path, str]:  # noqa: ANN001
    """A home with a quarantined record that every refused release below leaves alone."""
    home = tmp_path_factory.mktemp("held")
    return home, _quarantine_one(home, spark)


def _files(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes()
            for p in sorted(home.rglob("*")) if p.is_file()}


def _one_clear_line(run: subprocess.CompletedProcess[str], says: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert lines[0].startswith("finlake ") and says in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0][:400]  # the input is not echoed back whole


# --- what a release lands ----------------------------------------------------------------

def test_a_release_lands_no_full_account_routing_or_card_number(tmp_path: Path,
                                                                spark) -> None:  # noqa: ANN001
    record_id = _quarantine_one(tmp_path, spark)
    note = (f"called bank: acct {NUMBERS['an account number']}, routing "
            f"{NUMBERS['a routing number']}, card {NUMBERS['a card in groups']}")
    run = finlake(tmp_path, "quarantine", "release", record_id,
                  "--set", "iso_currency_code=USD", "--set", f"note={note}",
                  "--set", f"name=Refund to card {NUMBERS['a card number']}",
                  "--set", "memo=" + json.dumps({"lines": [{"card": NUMBERS["a card number"]}]}),
                  "--set", f"{NUMBERS['an account number']}=the number as a field name")
    assert run.returncode == 0, run.stderr[-3000:]
    lake = Lake(str(tmp_path / "lake"))
    [row] = read_rows(lake, QUARANTINE)
    assert row["status"] == "released"
    landed = json.loads(lake.store.get(row["released_ref"]))["response"]["added"][0]
    assert landed["note"] == "called bank: acct ****9012, routing ****0021, card ****0004"
    assert landed["name"] == "Refund to card ****1111"
    assert landed["memo"] == {"lines": [{"card": "****1111"}]}
    assert landed["****9012"] == "the number as a field name"
    assert (landed["transaction_id"], landed["amount"]) == ("low", 25.0)  # the fix itself
    silver = {r["partner_txn_id"]: r for r in read_rows(lake, TRANSACTIONS)}
    assert silver["low"]["currency"] == "USD"
    assert silver["low"]["description"] == "Refund to card ****1111"
    scan = Scanner(NUMBERS)  # every file of the home, as a reader of each would see it
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            scan.file(str(path.relative_to(tmp_path)), path)
    assert scan.scanned and not scan.hits, scan.report()


@pytest.mark.parametrize("sets, says", [
    (["note=" + "x" * 30_000_000], "is 30,000,000 characters long"),
    (["note=" + "[" * 100_000], "nested too deeply"),
    (["note=" + "[" * MAX_DEPTH + "]" * MAX_DEPTH], f"nested more than {MAX_DEPTH} levels"),
    (['transaction_id="4111111111111111"'], "an id cannot be masked"),
    (["amount=4111111111111111"], "looks like an account, routing or card number"),
    (["x" * 200 + "=1"], "characters long (at most 128)"),
    (["no-equals-sign" * 1000], "use FIELD=VALUE"),
])
def test_a_hostile_fix_is_refused_in_one_line_and_lands_nothing(
        held: tuple[Path, str], sets: list[str], says: str) -> None:
    home, record_id = held
    before = _files(home)
    args = [a for item in sets for a in ("--set", item)]
    if len(sets[0]) > 100_000:  # longer than one argument may be: the same through main()
        run = _in_process(home, ["quarantine", "release", record_id, *args])
    else:
        run = finlake(home, "quarantine", "release", record_id, *args)
    _one_clear_line(run, says)
    assert _files(home) == before


def _in_process(home: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``finlake.cli.main(argv)`` in a child Python (argv too long for a command line)."""
    return python(home, "import json, os, sys; from finlake.cli import main; "
                        "code = main(json.loads(sys.stdin.read())); sys.stderr.flush(); "
                        "os._exit(code)",  # as finlake's entry point exits (see cli.entry)
                  stdin=json.dumps(argv))


@pytest.mark.parametrize("content, says", [
    ("/dev/zero", f"holds more than {MAX_RECORD_BYTES:,} bytes"),
    (b"[" * 200_000 + b"]" * 200_000, f"holds more than {MAX_RECORD_BYTES:,} bytes"),
    (b"[" * 60_000 + b"]" * 60_000, "nested too deeply"),
    (b"{" + b'"a":{' * 20 + b"}" * 21, f"nested more than {MAX_DEPTH} levels"),
    (json.dumps({"transaction_id": "low", "note": "y" * (30 << 20)}).encode(),
     f"holds more than {MAX_RECORD_BYTES:,} bytes"),
    (b"\xff\xfe not UTF-8", "cannot read the fixed record"),
    (b"{not json", "cannot read the fixed record"),
    ("a folder", "cannot read the fixed record"),
    ("missing", "cannot read the fixed record"),
])
def test_a_hostile_record_file_is_refused_in_one_line_and_lands_nothing(
        held: tuple[Path, str], tmp_path: Path, content: bytes | str, says: str) -> None:
    home, record_id = held
    if content == "/dev/zero":
        path = "/dev/zero"
    elif content == "a folder":
        path = str(tmp_path)
    elif content == "missing":
        path = str(tmp_path / "missing.json")
    else:
        (tmp_path / "fix.json").write_bytes(content)
        path = str(tmp_path / "fix.json")
    before = _files(home)
    _one_clear_line(finlake(home, "quarantine", "release", record_id, "--record", path,
                            memory=DEVICE_MEMORY), says)
    assert _files(home) == before


@pytest.mark.parametrize("body, says", [
    (f'"{"A" * 200_000}",4.50,FOOD_AND_DRINK_COFFEE\n'.encode(),
     "line 2: field larger than field limit"),
    (b"STARBUCKS,4.50,FOOD_AND_DRINK_COFFEE\n\xff\xfe,1,FOOD_AND_DRINK_COFFEE\n",
     "labelled.csv: not UTF-8 text"),
])
def test_a_hostile_labelled_csv_is_refused_in_one_line(
        held: tuple[Path, str], tmp_path: Path, body: bytes, says: str) -> None:
    home, _ = held
    path = tmp_path / "labelled.csv"
    path.write_bytes(b"description,amount,category\n" + body)
    _one_clear_line(finlake(home, "categorise-eval", str(path)), says)
    _one_clear_line(finlake(home, "categorise-eval", "/dev/zero", memory=DEVICE_MEMORY),
                    "not a file")


# --- file modes --------------------------------------------------------------------------

def _not_private(home: Path, paths: set[Path] | None = None) -> list[str]:
    """Every file or folder under ``home`` (itself included), or of ``paths``, that its
    group or others may read, write or enter, with its mode."""
    found = []
    for path in sorted(paths) if paths is not None else [home, *sorted(home.rglob("*"))]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
            kind = "folder" if stat.S_ISDIR(mode) else "file"
            found.append(f"{kind} {oct(stat.S_IMODE(mode))} {path.relative_to(home.parent)}")
    return found


def _assert_private(home: Path, after: str, before: set[Path] | None = None) -> None:
    """No file or folder under ``home`` (not in ``before``: only those made since) is open
    to others."""
    paths = None if before is None else set(home.rglob("*")) - before
    assert paths is None or paths, f"{after} wrote nothing under FINLAKE_HOME"
    offenders = _not_private(home, paths)
    assert not offenders, (f"after {after}, {len(offenders)} of the files and folders under "
                           "FINLAKE_HOME can be read by others:\n" + "\n".join(offenders[:60]))


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo lake built by ``finlake demo`` in its own process, started with umask 022 on a
    FINLAKE_HOME that does not exist yet; the home and the demo's output."""
    home = tmp_path_factory.mktemp("modes") / "home"
    run = finlake(home, "demo", "--users", "2", "--days", "1", timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    return home, run.stdout


def test_the_cli_writes_files_only_its_owner_can_read(demo_home: tuple[Path, str]) -> None:
    home, _ = demo_home
    # raw pages, Delta tables and their logs, Dagster's storage, keys, the sandbox bank
    assert {"lake", "dagster", "keys"} <= {p.name for p in home.iterdir()}, list(home.iterdir())
    assert list(home.glob("lake/tables/**/_delta_log/*.json"))
    assert list(home.glob("lake/**/*.parquet")) and list(home.glob("lake/raw/**/page-*.json"))
    _assert_private(home, "finlake demo")
    export = home / "exports" / "analyst.duckdb"
    export.parent.mkdir(mode=0o700)
    before = set(home.rglob("*"))
    run = finlake(home, "sql", "--export", str(export))
    assert run.returncode == 0 and export.exists(), run.stderr[-3000:]
    _assert_private(home, "finlake sql --export", before)


def test_the_dashboard_writes_files_only_its_owner_can_read(
        demo_home: tuple[Path, str]) -> None:
    home, shown = demo_home
    password = re.search(r"sign in as demo / (\S+)", shown)
    assert password, shown[-2000:]
    before = set(home.rglob("*"))
    script = f"""
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / "dashboard" / "app.py")!r}, default_timeout=120).run()
at.text_input(key="sign_in_login").input("demo")
at.text_input(key="sign_in_password").input({password.group(1)!r})
next(b for b in at.button if b.label == "Sign in").click().run()
at.switch_page("views/budgets.py").run()
at.text_input(key="budget_amount").input("123")
next(b for b in at.button if b.label == "Save budget").click().run()
assert not at.exception and [s.value for s in at.success], [e.value for e in at.error]
"""
    run = python(home, script)
    assert run.returncode == 0, run.stderr[-3000:]
    _assert_private(home, "setting a budget on the dashboard", before)


def test_a_dagster_run_writes_files_only_its_owner_can_read(
        demo_home: tuple[Path, str]) -> None:
    """A run as Dagster's daemon or UI launches one: a process of its own that loads the
    code location (finlake.definitions) and executes a job (here the maintenance job)."""
    home, _ = demo_home
    before = set(home.rglob("*"))
    run = run_as_operator([str(Path(sys.executable).parent / "dagster"), "job", "execute",
                           "-m", "finlake.definitions", "-j", "maintenance"], home,
                          env={"DAGSTER_HOME": str(home / "dagster")}, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    _assert_private(home, "a Dagster run of the maintenance job", before)


@pytest.mark.delta_spark
def test_the_spark_delta_server_writes_files_only_its_owner_can_read(
        demo_home: tuple[Path, str]) -> None:
    """``finlake spark-delta serve``, started with umask 022: the JVM it starts (Hadoop's
    file system, Delta's commits) writes a Delta table under FINLAKE_HOME for a client."""
    home, _ = demo_home
    port = free_port()
    server = subprocess.Popen(
        ["sh", "-c", 'umask 022 && exec "$@"', "sh", sys.executable, "-m", "finlake.cli",
         "spark-delta", "serve", "--port", str(port)], cwd=ROOT,
        env={**_clean_env(), "FINLAKE_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server, "the Spark + Delta Connect server", timeout=300)
        before = set(home.rglob("*"))
        table = home / "lake" / "tables" / "modes_probe"
        run = python(home, "from lake.spark import spark_session\n"
                           f"spark = spark_session('sc://127.0.0.1:{port}')\n"
                           "spark.range(5).selectExpr('id', 'id % 2 AS part').write"
                           ".format('delta').partitionBy('part')"
                           f".save({str(table)!r})\n")
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        server.terminate()
        server.wait(60)
    written = {p.name for p in set(home.rglob("*")) - before}
    assert any(n.endswith(".parquet") for n in written), written  # by the JVM
    assert "00000000000000000000.json" in written, written
    _assert_private(home, "a Delta table written by `finlake spark-delta serve`", before)
