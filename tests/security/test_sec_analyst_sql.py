"""The analyst's SQL as an attacker uses it (issue 18: findings 1 and 2, and `sql --export`
overwriting any file from finding 6).

On a copy of the demo lake (real key-encryption keys, sealed credentials, raw pages, silver
with real ids), every attack of the finding is tried through ``finlake sql`` (in process, and
once as a child process) and through the library the dashboard's analyst page uses
(lake/analyst_sql.py), in the default de-identified mode and in ``--identified`` mode. Each
must be refused with one line, read nothing, write nothing and leave an audit row; the
pseudonym key must be nowhere an analyst can look, and a known user id must not be turnable
into its pseudonym.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from finlake import cli  # noqa: F401 - imported before any test captures stdout
from finlake.commands import sql as sql_cli
from lake.duck import LakeQueryError, connect
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG
from tests.support.demo import copy_demo

REPO = Path(__file__).resolve().parents[2]
MODES = [pytest.param(False, id="deidentified"), pytest.param(True, id="identified")]

# (id, SQL, refused by the sandbox with its one "refused ..." line). {home}: FINLAKE_HOME,
# {kek}: the current key-encryption key file, {out}: an empty directory nothing may appear in.
CREDS = "{home}/lake/tables/ops/credentials/**/*.parquet"
ATTACKS = [
    ("read_blob_kek", "SELECT content FROM read_blob('{home}/keys/kek-*.key')", True),
    ("read_parquet_credentials", f"SELECT * FROM read_parquet('{CREDS}')", True),
    ("read_parquet_silver_real_ids",
     "SELECT DISTINCT user_id FROM read_parquet('{home}/lake/tables/silver/**/*.parquet')", True),
    ("read_json_raw_pages", "SELECT * FROM read_json_auto('{home}/lake/raw/**/*.json')", True),
    ("read_text_etc_passwd", "SELECT content FROM read_text('/etc/passwd')", True),
    ("glob_root", "SELECT * FROM glob('/root/**')", True),
    ("file_path_as_table", f"SELECT * FROM '{CREDS}'", False),
    ("query_function_indirection",
     "SELECT * FROM query('SELECT content FROM read_blob(''{kek}'')')", True),
    ("copy_over_the_kek", "COPY (SELECT 'overwritten' AS k) TO '{kek}' (FORMAT csv)", True),
    ("copy_table_out", "COPY transactions TO '{out}/leak.csv'", True),
    ("export_database", "EXPORT DATABASE '{out}/dump'", True),
    ("attach", "ATTACH '{out}/attached.duckdb' AS other", True),
    ("install", "INSTALL '{out}/evil.duckdb_extension'", True),
    ("load", "LOAD json", True),
    ("set", "SET temp_directory = '{out}/spill'", True),
    ("reset", "RESET memory_limit", True),
    ("unlock", "SET lock_configuration = false", True),
    ("pragma", "PRAGMA enable_profiling", True),
    ("create_view_over_read_parquet",
     f"CREATE VIEW creds AS SELECT * FROM read_parquet('{CREDS}')", True),
    ("explain_analyze_copy", "EXPLAIN ANALYZE COPY transactions TO '{out}/explained.csv'", True),
    ("copy_after_a_select", "SELECT 1 AS one; COPY transactions TO '{out}/second.csv'", True),
    ("copy_behind_a_comment", "/* SELECT */ copy transactions to '{out}/hidden.csv'", True),
]


@pytest.fixture(scope="module")
def home(demo_build, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    return copy_demo(demo_build, tmp_path_factory.mktemp("sec_sql") / "home")


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FINLAKE_HOME is the demo copy, and nothing else of finlake's is configured."""
    for name in list(os.environ):
        if name.startswith("FINLAKE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    return home


def finlake_sql(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``finlake sql ARGS`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = cli.main(["sql", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def the_kek(home: Path) -> Path:
    [kek] = sorted((home / "keys").glob("kek-*.key"))
    return kek


def pseudonym_key_of(home: Path) -> str:
    from lake.pseudonyms import pseudonym_key

    return pseudonym_key(home / "keys")


def attack_sql(sql: str, home: Path, out: Path) -> str:
    return sql.format(home=home, kek=the_kek(home), out=out)


def audit_rows(home: Path) -> list[dict]:
    return sorted(read_rows(Lake(str(home / "lake")), AUDIT_LOG), key=lambda r: r["occurred_at"])


# --- finding 1: every attack, refused, through the CLI and the library -----------------------

@pytest.mark.parametrize("identified", MODES)
@pytest.mark.parametrize("name, sql, refused", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_cli_refuses_the_attack(env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                name: str, sql: str, refused: bool, identified: bool) -> None:
    kek = the_kek(env)
    kek_bytes = kek.read_bytes()
    rc, out, err = finlake_sql(capsys, *(["--identified"] if identified else []),
                               attack_sql(sql, env, tmp_path))
    assert rc == 2, out
    assert out == ""
    if refused:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("refused"), err
        assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert kek.read_bytes() == kek_bytes  # the key-encryption key is intact


@pytest.mark.parametrize("identified", MODES)
@pytest.mark.parametrize("name, sql, refused", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_library_refuses_the_attack(home: Path, tmp_path: Path, name: str, sql: str,
                                    refused: bool, identified: bool) -> None:
    from lake.analyst_sql import AnalystSession, StatementRefused

    kek_bytes = the_kek(home).read_bytes()
    key = None if identified else pseudonym_key_of(home)
    with AnalystSession(Lake(str(home / "lake")), key) as session:
        with pytest.raises(StatementRefused if refused else LakeQueryError):
            session.run(attack_sql(sql, home, tmp_path))
        # the session still works afterwards
        assert session.run("SELECT count(*) FROM accounts")[2][0][0] > 0
    assert list(tmp_path.iterdir()) == []
    assert the_kek(home).read_bytes() == kek_bytes


@pytest.mark.parametrize("sql", [
    "SELECT content FROM read_blob('{kek}')",
    f"SELECT * FROM read_parquet('{CREDS}')",
    "COPY (SELECT 1) TO '{out}/x.csv'",
    "ATTACH '{out}/x.duckdb'",
    "LOAD '{out}/evil.duckdb_extension'",
    "SET lock_configuration = false",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    f"CREATE VIEW creds AS SELECT * FROM read_parquet('{CREDS}')",
])
def test_duckdb_itself_holds_when_the_statement_check_is_bypassed(home: Path, tmp_path: Path,
                                                                   sql: str) -> None:
    """Defence in depth: the session's connection refuses these even when run on it directly
    (external access off, configuration locked), not just because the parser said no."""
    from lake.analyst_sql import AnalystSession

    with AnalystSession(Lake(str(home / "lake")), pseudonym_key_of(home)) as session:
        with pytest.raises(duckdb.Error):
            session._con.execute(attack_sql(sql, home, tmp_path))
        settings = dict(session._con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'python_enable_replacements')").fetchall())
    assert settings == {"enable_external_access": "false", "lock_configuration": "true",
                        "python_enable_replacements": "false"}
    assert list(tmp_path.iterdir()) == []


def test_python_objects_in_the_process_are_not_tables(home: Path) -> None:
    import pandas as pd

    lake = Lake(str(home / "lake"))
    out = io.StringIO()
    assert sql_cli.run_sql(lake, "SELECT current_setting('python_enable_replacements') AS scans",
                           "csv", out, pseudonym_key=pseudonym_key_of(home)) == 0
    assert out.getvalue() == "scans\nfalse\n"

    from lake.analyst_sql import AnalystSession

    secret_frame = pd.DataFrame({"token": ["access-sandbox-not-for-analysts"]})  # noqa: F841
    plain = duckdb.connect()  # the attack is real: a plain connection scans the variable
    assert plain.execute("SELECT token FROM secret_frame").fetchall() == [
        ("access-sandbox-not-for-analysts",)]
    with AnalystSession(lake, pseudonym_key_of(home)) as session:
        with pytest.raises(LakeQueryError, match="secret_frame does not exist"):
            session.run("SELECT token FROM secret_frame")
        with pytest.raises(duckdb.CatalogException):
            session._con.execute("SELECT token FROM secret_frame")


@pytest.mark.parametrize("sql, expected", [
    ("SELECT ';COPY transactions TO ''x.csv''' AS s", [(";COPY transactions TO 'x.csv'",)]),
    ("-- COPY t TO 'x'\nSELECT 2 AS two", [(2,)]),
    ("WITH c AS (SELECT count(*) AS n FROM transactions) SELECT n > 0 FROM c", [(True,)]),
    ("DESCRIBE accounts", None),
    ("SUMMARIZE monthly_spend", None),
    ("EXPLAIN ANALYZE SELECT count(*) FROM transactions", None),
    ("SELECT count(*) > 0 FROM query('SELECT * FROM transactions')", [(True,)]),
    ('SELECT count(*) > 0 FROM TRANSACTIONS, "Accounts" LIMIT 1', [(True,)]),
    ("SELECT count(*) > 0 FROM main.transactions", [(True,)]),
])
def test_reads_still_run_whatever_they_look_like(home: Path, sql: str, expected) -> None:  # noqa: ANN001
    """The check is DuckDB's parser, not a pattern: a string or comment saying COPY is a read;
    however a query names a table, it reads the table's rows, never an empty stand-in."""
    from lake.analyst_sql import AnalystSession

    with AnalystSession(Lake(str(home / "lake")), pseudonym_key_of(home)) as session:
        rows = session.run(sql)[2]
    assert rows if expected is None else rows == expected


def test_identified_mode_shows_real_ids_of_analyst_tables_only(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    real = {r[0] for r in connect(lake).execute("SELECT DISTINCT user_id FROM accounts")
            .fetchall()}
    out = io.StringIO()
    assert sql_cli.run_sql(lake, "SELECT DISTINCT user_id FROM accounts", "csv", out) == 0
    assert set(out.getvalue().split()[1:]) == real
    for ops in ("credentials", "logins", "audit_subjects"):
        out = io.StringIO()
        assert sql_cli.run_sql(lake, f"SELECT * FROM {ops}", "csv", out) == 2
        assert out.getvalue() == ""


def test_the_dashboards_analyst_page_reads_through_the_sandbox(home: Path, tmp_path: Path) -> None:
    from dashboard.data import aggregates
    from lake.analyst_sql import StatementRefused

    lake = Lake(str(home / "lake"))
    for sql in ("SELECT content FROM read_blob('{kek}')", "COPY accounts TO '{out}/a.csv'"):
        with pytest.raises(StatementRefused):
            aggregates._aggregate(lake, attack_sql(sql, home, tmp_path))
    users = aggregates._aggregate(lake, "SELECT DISTINCT user_id FROM accounts")["user_id"]
    assert len(users) > 1 and all(u.startswith("p_") for u in users)
    assert list(tmp_path.iterdir()) == []


# --- finding 2: the pseudonym key is nowhere an analyst can look ------------------------------

CATALOG = ("SELECT coalesce(sql, '') AS text FROM duckdb_views() UNION ALL "
           "SELECT coalesce(sql, '') FROM duckdb_tables() UNION ALL "
           "SELECT name || '=' || coalesce(value, '') FROM duckdb_settings() UNION ALL "
           "SELECT coalesce(macro_definition, '') FROM duckdb_functions() UNION ALL "
           "SELECT name FROM duckdb_variables()")


def test_the_key_is_in_no_view_setting_export_or_log(env: Path, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    key = pseudonym_key_of(env)
    catalog = io.StringIO()
    assert sql_cli.run_sql(Lake(str(env / "lake")), CATALOG, "csv", catalog,
                           pseudonym_key=key) == 0
    text = catalog.getvalue()
    assert len(text.splitlines()) > 50  # the catalog was read...
    assert key not in text  # ...and holds no key
    assert str(env / "lake") not in text  # nor a path of the lake

    path = tmp_path / "analyst.duckdb"
    rc, out, err = finlake_sql(capsys, "--export", str(path))
    assert rc == 0, err
    raw = path.read_bytes()
    assert key.encode() not in raw and str(env).encode() not in raw
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal")\
            .fetchall() == [(0,)]  # data only: nothing in the file reads the lake
        texts = db.execute(CATALOG).fetchall()
        assert not any(key in t or str(env) in t for (t,) in texts)
        for table, column in db.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                        "WHERE data_type = 'VARCHAR' AND NOT internal").fetchall():
            hits = db.execute(f'SELECT count(*) FROM "{table}" WHERE contains("{column}", ?) '
                              f'OR contains("{column}", ?)', [key, str(env)]).fetchall()
            assert hits == [(0,)], (table, column)
    assert oct(path.stat().st_mode)[-3:] == "600"

    # Logs, at DEBUG, of a child `finlake sql`: no key.
    child = subprocess.run(
        [sys.executable, "-m", "finlake.cli", "sql", "--format", "json",
         "SELECT count(DISTINCT user_id) AS people FROM transactions"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FINLAKE_")},
             "FINLAKE_HOME": str(env), "FINLAKE_LOG_LEVEL": "DEBUG"})
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout)[0]["people"] > 1
    assert key not in child.stdout + child.stderr


def test_a_known_user_id_cannot_be_turned_into_its_pseudonym(home: Path) -> None:
    """The analyst knows a real user id (from outside the lake) and tries to compute or
    confirm its pseudonym with what the sandbox offers."""
    from lake.analyst_sql import AnalystSession

    lake = Lake(str(home / "lake"))
    key = pseudonym_key_of(home)
    target = sorted(r[0] for r in connect(lake).execute(
        "SELECT DISTINCT user_id FROM transactions").fetchall())[0]
    truth = "p_" + hashlib.sha256(f"{key}u{target}".encode()).hexdigest()[:20]
    with AnalystSession(lake, key) as session:
        pseudonyms = {r[0] for r in session.run("SELECT DISTINCT user_id FROM transactions")[2]}
        assert truth in pseudonyms  # the mapping the attacker is after is really there
        # No function of the sandbox takes an id and gives a pseudonym: no UDF, no macro.
        assert session.run("SELECT count(*) FROM duckdb_functions() WHERE NOT internal")[2] \
            == [(0,)]
        # Hashing without the key (or with guesses at it) gives something else.
        guesses = session.run(
            "SELECT 'p_' || left(sha256('u' || $id), 20), 'p_' || left(sha256($id), 20), "
            "'p_' || left(md5('u' || $id), 20), 'p_' || left(sha256('' || 'u' || $id), 20), "
            "'p_' || left(sha256(current_setting('TimeZone') || 'u' || $id), 20)",
            {"id": target})[2][0]
        assert truth not in guesses
        # The key is in no catalog text, setting or variable, and in no value of any table;
        # the real id is in no table either, so no join can line it up with its pseudonym.
        assert not any(key in t for (t,) in session.run(CATALOG)[2])
        for table in session.tables():
            for column, typ in session.run(f"SELECT column_name, data_type FROM "
                                           f"duckdb_columns() WHERE table_name = '{table}'")[2]:
                if typ != "VARCHAR":
                    continue
                hits = session.run(f'SELECT count(*) FROM "{table}" WHERE contains("{column}", '
                                   f'$key) OR "{column}" = $id', {"key": key, "id": target})[2]
                assert hits == [(0,)], (table, column)


# --- audit: every statement, refused ones too ----------------------------------------------

def test_every_statement_leaves_an_audit_row(env: Path, capsys, tmp_path: Path,  # noqa: ANN001
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    key = pseudonym_key_of(env)
    before = len(audit_rows(env))
    marker = "SELECT count(*) AS n FROM accounts WHERE user_id = 'user_0001'"
    statements = [
        ([], marker, 0),
        ([], f"COPY accounts TO '{tmp_path}/a.csv'", 2),
        ([], f"SELECT content FROM read_blob('{the_kek(env)}')", 2),
        ([], "SELECT * FROM no_such_table", 2),
        (["--identified"], "SET lock_configuration = false", 2),
        (["--identified"], "SELECT count(*) AS n FROM accounts", 0),
    ]
    for flags, sql, rc in statements:
        assert finlake_sql(capsys, *flags, sql)[0] == rc, sql
    monkeypatch.setattr(sys, "stdin", io.StringIO("PRAGMA version;\nSELECT 1 AS one;\n"))
    assert finlake_sql(capsys)[0] == 1  # an interactive script with a refused statement

    rows = audit_rows(env)[before:]
    got = [(r["action"], json.loads(r["detail"])) for r in rows]
    assert [(a, d["outcome"], d["statement"], d["identified"]) for a, d in got] == [
        ("analyst_query", "ok", "SELECT", False),
        ("analyst_query", "refused", "COPY", False),
        ("analyst_query", "refused", "SELECT", False),
        ("analyst_query", "failed", "SELECT", False),
        ("identified_query", "refused", "SET", True),
        ("identified_query", "ok", "SELECT", True),
        ("analyst_query", "refused", "PRAGMA", False),
        ("analyst_query", "ok", "SELECT", False),
    ]
    assert got[0][1]["query_sha256"] == hashlib.sha256(marker.encode()).hexdigest()
    assert got[0][1]["tables"] == ["accounts"] and got[0][1]["rows"] == 1
    assert [d["interactive"] for _a, d in got[-2:]] == [True, True]
    assert all(r["actor"].startswith("cli:") for r in rows)
    for r in rows:  # the row says what happened, never the text (it may name a person)
        assert "user_0001" not in r["detail"] and key not in r["detail"]
        assert str(tmp_path) not in r["detail"]


# --- finding 6: --export never overwrites a file it was not told to ---------------------------

def test_export_refuses_an_existing_file_unless_replace(env: Path, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    target = tmp_path / "notes.duckdb"
    target.write_text("three weeks of work")
    rc, out, err = finlake_sql(capsys, "--export", str(target))
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "already exists" in lines[0] and "--replace" in lines[0]
    assert target.read_text() == "three weeks of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.duckdb"]

    rc, out, err = finlake_sql(capsys, "--export", str(target), "--replace")
    assert rc == 0, err
    with duckdb.connect(str(target), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM accounts").fetchall()[0][0] > 0
        assert db.execute("SELECT DISTINCT identified FROM _finlake_export").fetchall() == [
            (False,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.duckdb"]  # no temp files
    rc, _out, err = finlake_sql(capsys, "--replace", "SELECT 1")
    assert rc == 2 and "--replace only goes with --export" in err


# --- the same on S3 (moto) ---------------------------------------------------------------------

def test_an_s3_lake_is_sandboxed_and_exports_without_key_or_paths(moto_s3: str,
                                                                   tmp_path: Path) -> None:
    import boto3

    from finlake.commands.sql import run_sql
    from lake.tables import ACCOUNTS, CREDENTIALS, TRANSACTIONS
    from tests.support.lake_fixtures import accounts, ops_rows, transactions, write_table

    bucket = "sec-analyst-sql"
    boto3.client("s3", endpoint_url=moto_s3).create_bucket(Bucket=bucket)
    lake = Lake(f"s3://{bucket}/lake", moto_s3)
    now = datetime.now(UTC)
    write_table(lake, TRANSACTIONS, transactions())
    write_table(lake, ACCOUNTS, accounts(now))
    write_table(lake, CREDENTIALS, ops_rows(now)[CREDENTIALS])
    key = "s3-test-pseudonym-key-" + "z" * 32
    real = {r["user_id"] for r in transactions()}

    out = io.StringIO()
    assert run_sql(lake, CATALOG, "csv", out, pseudonym_key=key) == 0
    assert key not in out.getvalue() and bucket not in out.getvalue()
    out = io.StringIO()
    assert run_sql(lake, "SELECT DISTINCT user_id FROM transactions", "csv", out,
                   pseudonym_key=key) == 0
    shown = set(out.getvalue().split()[1:])
    assert len(shown) == len(real) and not shown & real
    assert all(p.startswith("p_") for p in shown)
    assert run_sql(lake, "SELECT * FROM credentials", "csv", io.StringIO(),
                   pseudonym_key=key) == 2
    assert run_sql(lake, f"SELECT * FROM read_parquet('s3://{bucket}/lake/tables/ops/"
                         "credentials/*.parquet')", "csv", io.StringIO(), pseudonym_key=key) == 2

    from lake.duck_export import export

    path = tmp_path / "s3.duckdb"
    assert set(export(lake, path, key)) == {"accounts", "transactions"}
    raw = path.read_bytes()
    assert key.encode() not in raw and bucket.encode() not in raw
    with duckdb.connect(str(path), read_only=True) as db:
        exported = {r[0] for r in db.execute("SELECT DISTINCT user_id FROM transactions")
                    .fetchall()}
    assert exported == shown
