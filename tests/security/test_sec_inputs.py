"""Security, issue 18 (findings 5 and 6, inputs checked at the door): per-user commands
refuse people the lake does not know; a missing FINLAKE_HOME is refused, never created or
answered from; every FINLAKE_* setting is checked when loaded, all problems at once;
unreachable services, read-only and full disks and out-of-range numbers get one line each
and a non-zero exit, never a traceback (``finlake --debug`` shows it).

Commands run through the real entry point in this process (``finlake.cli.main``), except
the unreachable Spark Connect server: on the old code its client retried for ten minutes,
so that one runs as a child process with a bound."""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings
from finlake.cli import main
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import CUSTOM_CATEGORIES, SYNC_JOBS
from tests.support.lake_fixtures import ALICE, small_lake
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No configuration of the machine running the tests leaks into a case."""
    for name in list(os.environ):
        if name.startswith(("FINLAKE_", "SPARK_", "DAGSTER_PG_")) or name == "AWS_ENDPOINT_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose lake knows alice and bob (their items, accounts and transactions)."""
    home = tmp_path / "home"
    small_lake(home)
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    return home


def versions(home: Path) -> dict[str, int]:
    """Every table's current version: a write of any kind adds one."""
    lake = Lake(str(home / "lake"))
    return {t.name: lake.delta(t).version() for t in lake.tables()}  # type: ignore[union-attr]


def one_line(err: str) -> str:
    """The single line a refused or failed command prints, checked for being one."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("finlake"), err
    return lines[0]


# --- per-user commands refuse people the lake does not know ---------------------------------

PER_USER = [
    ["budget", "set", "--user", "{u}", "--category", "FOOD_AND_DRINK", "--amount", "400"],
    ["budget", "clear", "--user", "{u}", "--category", "FOOD_AND_DRINK"],
    ["budget", "show", "--user", "{u}"],
    ["override", "--user", "{u}", "--merchant", "Blue Bottle", "--category",
     "FOOD_AND_DRINK_COFFEE"],
    ["override", "--user", "{u}", "--txn", "alice-t1", "--category", "FOOD_AND_DRINK_COFFEE"],
    ["category", "add", "--user", "{u}", "--name", "Pets", "--primary", "GENERAL_MERCHANDISE"],
    ["forget-user", "{u}", "--yes"],
]
STRANGERS = ["mallory", "ALICE", "alice ", "", "alice' OR '1'='1", "%"]


@pytest.mark.parametrize("argv", PER_USER, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("user", STRANGERS)
def test_per_user_commands_refuse_unknown_users(home: Path, argv: list[str], user: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = versions(home)
    assert main([a.replace("{u}", user) for a in argv]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"no user {user!r} in this lake" in line and "nothing was changed" in line
    assert versions(home) == before  # no budget, override, category or audit row
    assert not (home / "lake" / "requests").exists()  # no forget request either


def test_an_unfinished_forget_of_a_person_already_deleted_can_still_finish(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A forget stopped after the person's rows went leaves its request behind: the id is
    no longer in the lake, but running the command again must still finish the job."""
    from jobs.forget import request_forget

    lake = Lake(str(home / "lake"))
    request_forget(lake, "carol", "operator")  # carol's rows are gone; her forget never ended
    assert main(["forget-user", "carol", "--yes"]) == 0, capsys.readouterr().err
    assert "deletion certificate" in capsys.readouterr().out
    assert not list((home / "lake" / "requests").rglob("*.json"))


def test_a_known_user_is_still_served(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the same commands write for a person the lake knows."""
    before = versions(home)
    assert main(PER_USER[5][:3] + [ALICE] + PER_USER[5][4:]) == 0
    assert main([a.replace("{u}", ALICE) for a in PER_USER[3]]) == 0
    assert [r["user_id"] for r in read_rows(Lake(str(home / "lake")), CUSTOM_CATEGORIES)] \
        == [ALICE]
    added = set(versions(home)) - set(before)
    assert {"custom_categories", "category_overrides", "audit_log"} <= added, added
    assert "Traceback" not in capsys.readouterr().err


# --- only demo and link-sandbox may create a home ------------------------------------------

HOME_USERS = [["reconcile"], ["budget", "show", "--user", ALICE], ["login", "list"],
              ["keys", "status"], ["keys", "rotate"], ["quarantine", "list"],
              ["sql", "SELECT 1"], ["maintain", "--dry-run"], ["gold", "deliver-alerts"],
              ["nightly", "--date", YESTERDAY.isoformat()], ["sync", "--account", "a1"],
              ["override", "--user", ALICE, "--merchant", "Kroger", "--category",
               "FOOD_AND_DRINK_GROCERIES"], ["forget-user", ALICE, "--yes"], ["weekly"]]


@pytest.mark.parametrize("argv", HOME_USERS, ids=lambda a: " ".join(a[:2]))
def test_a_missing_home_is_refused_and_not_created(tmp_path: Path, argv: list[str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "finlkae-home"
    monkeypatch.setenv("FINLAKE_HOME", str(typo))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))  # restored afterwards
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert f"the finlake home {typo} (FINLAKE_HOME) does not exist" in line
    assert "finlake demo" in line and f"mkdir -p {typo}" in line
    assert not typo.exists() and list(tmp_path.iterdir()) == []


def test_a_home_that_is_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a home")
    monkeypatch.setenv("FINLAKE_HOME", str(notes))
    for argv in (["reconcile"], ["demo", "--days", "1"], ["link-sandbox"]):
        assert main(argv) == 2
        assert "is not a directory" in one_line(capsys.readouterr().err)
    assert notes.read_text() == "not a home"


def test_an_empty_home_is_not_an_exact_reconciliation(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped FINLAKE_HOME that happens to exist: nothing compared is not "exact"."""
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    assert main(["reconcile"]) == 2
    out = capsys.readouterr()
    assert '"exact"' not in out.out
    assert "nothing to reconcile: no linked item" in one_line(out.err)
    assert not (tmp_path / "sandbox_bank").exists()  # no bank made up to compare against


def test_only_demo_and_link_sandbox_may_create_a_home(tmp_path: Path) -> None:
    from finlake.preflight import home_problem

    settings = load_settings({"FINLAKE_HOME": str(tmp_path / "new")})
    assert home_problem(settings, "demo") is None
    assert home_problem(settings, "link-sandbox") is None
    assert home_problem(settings, "spark-delta fetch") is None  # never touches a home
    assert home_problem(settings, "sandbox-labelled") is None
    assert "does not exist" in (home_problem(settings, "sandbox-bank") or "")


# --- every setting checked when loaded, all problems at once -------------------------------

BAD = {
    "FINLAKE_SYNC_WORKERS": "0",
    "FINLAKE_SYNC_PAGE_SIZE": "0",
    "FINLAKE_K_ANONYMITY": "0",
    "FINLAKE_RATE_LIMITER": "bogus://",
    "FINLAKE_ALERT_SINK": "http://",
    "FINLAKE_LOG_LEVEL": "LOUD",
    "FINLAKE_PARTNER_TIMEOUT": "nan",
    "FINLAKE_RETRY_BASE_DELAY": "inf",
    "FINLAKE_CATEGORY_THRESHOLD": "1.5",
    "FINLAKE_BUDGET_APPROACHING": "-0.2",
    "FINLAKE_QUARANTINE_CEILING": "0",
    "FINLAKE_SANDBOX_USERS": "0",
    "FINLAKE_SANDBOX_SEED": "seven",
    "FINLAKE_ENGINE": "flink",
    "FINLAKE_SLA_TIMEZONE": "Mars/Olympus_Mons",
    "FINLAKE_SLA_DEADLINE": "25:00",
    "FINLAKE_KMS_KEY_ID": "my key",
    "FINLAKE_KMS_ENDPOINT": "localhost:4566",
    "FINLAKE_S3_ENDPOINT": "ftp://minio",
    "FINLAKE_S3_BUCKET": "My_Bucket",
    "FINLAKE_PARTNER_HOST": "sandbox",
    "FINLAKE_PSEUDONYM_KEY": "short",
    "FINLAKE_CRASH_AT": "everywhere",
    "SPARK_REMOTE": "sc://",
}


def test_every_bad_setting_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"FINLAKE_HOME": str(tmp_path), **BAD})
    problems = err.value.problems
    named = [re.match(r"[A-Z0-9_]+", p).group() for p in problems]  # type: ignore[union-attr]
    assert sorted(named) == sorted(BAD)  # every bad variable, once, and nothing else
    assert all("\n" not in p for p in problems)
    assert "short" not in str(err.value)  # a secret's value is never echoed


@pytest.mark.parametrize(("name", "value"), [
    ("FINLAKE_SYNC_WORKERS", "65"), ("FINLAKE_SYNC_WORKERS", "-1"),
    ("FINLAKE_SYNC_WORKERS", "4.5"), ("FINLAKE_SYNC_PAGE_SIZE", "501"),
    ("FINLAKE_K_ANONYMITY", "1"), ("FINLAKE_RATE_LIMITER", "redis://:6379/0"),
    ("FINLAKE_RATE_LIMITER", "redis://h:99999/0"), ("FINLAKE_RATE_LIMITER", "sqlite://rel.db"),
    ("FINLAKE_RATE_LIMITER", "memory"), ("FINLAKE_ALERT_SINK", "https://"),
    ("FINLAKE_ALERT_SINK", "http://hooks example"), ("FINLAKE_PARTNER_TIMEOUT", "-inf"),
    ("FINLAKE_PARTNER_TIMEOUT", "1e999"), ("FINLAKE_S3_PREFIX", "../other-team"),
    ("FINLAKE_LOG_LEVEL", "debug!"),
])
def test_hostile_values_are_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"FINLAKE_HOME": str(tmp_path), "FINLAKE_S3_BUCKET": "finlake-lake",
                       name: value})
    assert len(err.value.problems) == 1 and err.value.problems[0].startswith(name)


def test_valid_values_still_load(tmp_path: Path) -> None:
    s = load_settings({
        "FINLAKE_HOME": str(tmp_path), "FINLAKE_SYNC_WORKERS": "64",
        "FINLAKE_SYNC_PAGE_SIZE": "1", "FINLAKE_K_ANONYMITY": "2",
        "FINLAKE_RATE_LIMITER": "redis://:secret@redis.internal:6380/2",
        "FINLAKE_ALERT_SINK": "https://hooks.example/finlake?x=1", "FINLAKE_LOG_LEVEL": "debug",
        "FINLAKE_S3_BUCKET": "finlake-lake", "FINLAKE_S3_PREFIX": "",
        "FINLAKE_S3_ENDPOINT": "http://127.0.0.1:5000", "FINLAKE_PSEUDONYM_KEY": "k" * 32,
        "FINLAKE_CRASH_AT": "merge.mid", "SPARK_REMOTE": "sc://spark:15002/;token=t"})
    assert (s.sync_workers, s.sync_page_size, s.k_anonymity, s.log_level) == (64, 1, 2, "DEBUG")
    assert s.lake_root == "s3://finlake-lake"  # an empty prefix: the bucket's top level
    for limiter in ("memory://", f"sqlite://{tmp_path}/rl.db", f"sqlite:///{tmp_path}/rl.db",
                    "rediss://redis.internal"):
        assert load_settings({"FINLAKE_HOME": str(tmp_path),
                              "FINLAKE_RATE_LIMITER": limiter}).rate_limiter_url == limiter


def test_production_lists_every_missing_group_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"FINLAKE_HOME": str(tmp_path), "FINLAKE_ENV": "production",
                       "FINLAKE_SYNC_WORKERS": "0"})
    text = str(err.value)
    for name in ("FINLAKE_S3_BUCKET", "FINLAKE_KMS_KEY_ID", "SPARK_REMOTE", "DAGSTER_PG_HOST",
                 "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
                 "FINLAKE_SYNC_WORKERS"):
        assert name in text, name
    assert len(err.value.problems) == 9


def test_the_cli_prints_one_line_per_problem(home: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("FINLAKE_SYNC_WORKERS", "FINLAKE_LOG_LEVEL", "FINLAKE_RATE_LIMITER",
                 "FINLAKE_ALERT_SINK"):
        monkeypatch.setenv(name, BAD[name])
    before = versions(home)
    assert main(["login", "list"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 4 and "Traceback" not in err, err
    assert all(line.startswith("finlake: configuration error: FINLAKE_") for line in lines)
    assert versions(home) == before


def test_a_mistyped_variable_name_is_warned_about(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from core import settings_checks

    monkeypatch.setattr(settings_checks, "_warned", set())  # warned once per process
    monkeypatch.setenv("FINLAKE_SYNC_WORKER", "2")
    monkeypatch.setenv("FINLAKE_HOMEDIR", "/elsewhere")
    with caplog.at_level(logging.WARNING, logger="finlake.settings"):
        assert main(["login", "list"]) == 0  # a warning, not a refusal
    warned = [r.getMessage() for r in caplog.records if r.name == "finlake.settings"]
    assert any("FINLAKE_SYNC_WORKER is not a finlake setting" in w
               and "did you mean FINLAKE_SYNC_WORKERS?" in w for w in warned), warned
    assert any("FINLAKE_HOMEDIR is not a finlake setting" in w for w in warned), warned
    assert "3 login(s)" in capsys.readouterr().out


# --- categorise-eval --predictions -------------------------------------------------------

def test_categorise_eval_predictions_refuses_a_directory_and_writes_nothing(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("description,amount,category\nSTARBUCKS 0423,4.50,FOOD_AND_DRINK_COFFEE\n")
    assert main(["categorise-eval", str(labelled), "--predictions", str(tmp_path)]) == 2
    assert "not a regular file" in one_line(capsys.readouterr().err)
    missing = tmp_path / "no" / "such" / "p.csv"
    assert main(["categorise-eval", str(labelled), "--predictions", str(missing)]) == 2
    assert "no such directory" in one_line(capsys.readouterr().err)
    assert not missing.parent.exists()


@pytest.mark.integration
def test_categorise_eval_reports_abstention_and_writes_predictions(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import json

    labelled = tmp_path / "labelled.csv"
    labelled.write_text(
        "description,amount,category,merchant\n"
        "CARD PAYMENT TO TESCO STORES 2431 ON 12-03-2024,23.10,FOOD_AND_DRINK_GROCERIES,tesco\n"
        '"VIREMENT SEPA RECU /DE ACME SAS /MOTIF SALAIRE MARS",-2100,INCOME_SALARY,acme\n'
        "POS DEBIT 12345,12.00,UNCATEGORISED,generic-pos\n"
        "SEPA TRANSFER,50.00,UNCATEGORISED,generic-sepa\n")
    out = tmp_path / "p.csv"
    assert main(["categorise-eval", str(labelled), "--predictions", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["accuracy"] == 1.0 and summary["primary_accuracy"] == 1.0
    assert summary["should_abstain"] == 2 and summary["abstention"] == 1.0
    rows = list(csv.DictReader(out.open()))
    assert [r["predicted"] for r in rows] == ["FOOD_AND_DRINK_GROCERIES", "INCOME_SALARY", "", ""]
    assert [r["correct"] for r in rows] == ["1"] * 4
    assert rows[0]["source"] == "rule" and float(rows[0]["confidence"]) > 0.9
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".p.csv")] == []


# --- numbers on the command line ----------------------------------------------------------

@pytest.mark.parametrize("threshold", ["nan", "NaN", "inf", "-inf", "-0.1", "1.5", "abc", "1e999"])
def test_categorise_eval_refuses_a_threshold_that_is_not_a_share(
        home: Path, tmp_path: Path, threshold: str, capsys: pytest.CaptureFixture[str]) -> None:
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("description,amount,category\nSTARBUCKS 0423,4.50,FOOD_AND_DRINK_COFFEE\n")
    with pytest.raises(SystemExit) as exit_:
        main(["categorise-eval", str(labelled), f"--threshold={threshold}"])
    assert exit_.value.code == 2
    out = capsys.readouterr()
    assert out.out == ""  # no JSON at all, rather than JSON with NaN in it
    assert "--threshold" in one_line(out.err) and "from 0 to 1" in out.err


@pytest.mark.parametrize("argv", [["demo", "--days", "100000"], ["demo", "--users", "10000000"],
                                  ["demo", "--days", "1500"]])
def test_demo_refuses_sizes_it_cannot_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path / "new"))
    try:
        rc = main(argv)
    except SystemExit as exc:  # refused by the argument parser
        rc = exc.code
    assert rc == 2
    one_line(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()


# --- services that cannot be reached: one line, exit 1 ------------------------------------

def test_an_unreachable_s3_endpoint_is_one_line(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    for k, v in {"FINLAKE_S3_BUCKET": "finlake-lake", "FINLAKE_S3_ENDPOINT": endpoint,
                 "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    assert main(["login", "list"]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot reach the S3 endpoint {endpoint}" in line and "FINLAKE_S3_ENDPOINT" in line
    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):  # --debug: the traceback, as it was
        main(["--debug", "login", "list"])


def test_an_unreachable_postgresql_is_one_line(home: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    for k, v in {"FINLAKE_ENV": "production", "FINLAKE_S3_BUCKET": "finlake-lake",
                 "FINLAKE_KMS_KEY_ID": "alias/finlake", "SPARK_REMOTE": "sc://127.0.0.1:15002",
                 "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port),
                 "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USER": "dagster",
                 "DAGSTER_PG_PASSWORD": "", "DAGSTER_HOME": str(home / "dagster")}.items():
        monkeypatch.setenv(k, v)
    assert main(["nightly", "--date", YESTERDAY.isoformat()]) == 1
    err = capsys.readouterr().err
    # Dagster's own retries would log a warning each: the check fails before them
    line = one_line(err)
    assert f"cannot reach PostgreSQL (Dagster's storage) at 127.0.0.1:{port}" in line
    assert "Connection refused" in line and "DAGSTER_PG_HOST" in line


def test_an_unreachable_spark_connect_server_is_one_line(home: Path) -> None:
    env = {**os.environ, "FINLAKE_HOME": str(home),
           "SPARK_REMOTE": f"sc://127.0.0.1:{free_port()}"}
    done = subprocess.run([sys.executable, "-m", "finlake.cli", "gold", "rebuild"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr[-2000:]
    line = one_line(done.stderr)
    assert "cannot reach the Spark Connect server at sc://127.0.0.1:" in line
    assert "SPARK_REMOTE" in line


@pytest.fixture(scope="module")
def linked_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two sandbox people with their banks linked, nothing synced yet."""
    from connectors.sandbox_bank.bank import SandboxBank
    from finlake.commands.pipeline import HISTORY_DAYS

    home = tmp_path_factory.mktemp("sec_inputs") / "home"
    SandboxBank.open(home / "sandbox_bank", users=2,
                     history_start=YESTERDAY - timedelta(days=HISTORY_DAYS),
                     clock=YESTERDAY - timedelta(days=1))
    mp = pytest.MonkeyPatch()
    mp.setenv("FINLAKE_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    try:
        assert main(["link-sandbox"]) == 0
    finally:
        mp.undo()
    yield home


def test_an_unreachable_redis_fails_the_run_instead_of_blaming_banks(
        linked_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: every item's sync failed on the limiter and was recorded as its bank's
    failure, and the nightly said "ok"."""
    port = free_port()
    monkeypatch.setenv("FINLAKE_HOME", str(linked_home))
    monkeypatch.setenv("DAGSTER_HOME", str(linked_home / "dagster"))
    monkeypatch.setenv("FINLAKE_RATE_LIMITER", f"redis://127.0.0.1:{port}/0")
    lake = Lake(str(linked_home / "lake"))
    jobs = len(read_rows(lake, SYNC_JOBS))
    assert main(["nightly", "--date", YESTERDAY.isoformat()]) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1, out
    assert f"cannot reach Redis for the shared rate limits at redis://127.0.0.1:{port}/0" \
        in errors[0] and "FINLAKE_RATE_LIMITER" in errors[0]
    assert len(read_rows(lake, SYNC_JOBS)) == jobs  # no bank blamed for it


# --- read-only and full disks --------------------------------------------------------------

def _statvfs_of(home: Path, *, flag: int = 0, free_blocks: int | None = None):  # noqa: ANN202
    """``os.statvfs`` as the OS reports a read-only (``flag``) or full disk under ``home``."""
    real = os.statvfs

    def fake(path: str | os.PathLike[str]) -> os.statvfs_result:
        st = real(path)
        if not Path(path).resolve().is_relative_to(home.resolve()):
            return st
        fields = list(st)
        fields[8] |= flag  # f_flag
        if free_blocks is not None:
            fields[3] = fields[4] = free_blocks  # f_bfree, f_bavail
        return os.statvfs_result(fields)
    return fake


@pytest.mark.parametrize(("disk", "flag", "free", "said"), [
    ("read-only", os.ST_RDONLY, None, "is read-only"),
    ("full", 0, 3, "is full"),
])
def test_a_read_only_or_full_home_is_refused_before_writing(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        disk: str, flag: int, free: int | None, said: str) -> None:
    before = versions(home)
    monkeypatch.setattr(os, "statvfs", _statvfs_of(home, flag=flag, free_blocks=free))
    for argv in (["override", "--user", ALICE, "--merchant", "Kroger", "--category",
                  "FOOD_AND_DRINK_GROCERIES"],
                 ["category", "add", "--user", ALICE, "--name", "Pets", "--primary",
                  "GENERAL_MERCHANDISE"], ["keys", "rotate"], ["link-sandbox"]):
        assert main(argv) == 2, argv
        line = one_line(capsys.readouterr().err)
        assert f"the {'file system' if flag else 'disk'} holding {home} {said}" in line
        assert "nothing was written" in line
    assert versions(home) == before
    assert main(["login", "list"]) == 0  # reading still works
    assert "3 login(s)" in capsys.readouterr().out


def test_disk_failures_mid_command_are_one_line(tmp_path: Path) -> None:
    """What the disk says when it fills or turns read-only during a command, as Python,
    delta-rs and SQLite (Dagster's local storage) report it; a bug keeps its traceback."""
    import sqlalchemy.exc
    from deltalake.exceptions import DeltaError

    from finlake.failures import explain

    settings = load_settings({"FINLAKE_HOME": str(tmp_path)})
    key = tmp_path / "keys" / "0002.key"
    assert explain(OSError(errno.ENOSPC, "No space left on device", str(key)), settings) == (
        f"cannot write ({key}): no space left on the device; FINLAKE_HOME ({tmp_path}) needs "
        "a writable file system with free space; fix that and run the command again")
    rust = DeltaError("Failed to parse parquet: External: Generic LocalFileSystem error: "
                      "Unable to open file /h/lake/x.parquet#1: Read-only file system "
                      "(os error 30)")
    assert "the file system is read-only" in (explain(rust, settings) or "")
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as inner:
            raise sqlalchemy.exc.OperationalError("INSERT", {}, inner) from inner
    except sqlalchemy.exc.OperationalError as outer:
        wrapped = outer
    assert f"Dagster's storage in {tmp_path / 'dagster'} cannot be written" in (
        explain(wrapped, settings) or "")
    for bug in (ValueError("bad"), KeyError("x"), FileNotFoundError(2, "gone", "/x"),
                DeltaError("Invalid table version: 16"), sqlite3.OperationalError("no such table")):
        assert explain(bug, settings) is None, bug
