"""DuckDB over the lake (lake/duck.py) and `finlake sql` output (finlake/commands/sql.py)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from finlake.commands.sql import run_sql
from lake.duck import LakeQueryError, available_tables, connect, query
from lake.lake import Lake
from lake.tables import ACCOUNTS
from tests.support.lake_fixtures import spend_lake

ALICE_POSTED = (
    "SELECT posted_date, description, amount, pending FROM transactions "
    "WHERE user_id = ? AND status = 'live' AND posted_date < ? ORDER BY posted_date"
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return spend_lake(tmp_path_factory.mktemp("home"))


def test_views_exist_for_existing_tables_only(lake: Lake) -> None:
    con = connect(lake)
    assert available_tables(con) == ["categories", "monthly_spend", "transactions"]
    assert not lake.exists(ACCOUNTS)
    count = con.execute("SELECT count(*) FROM transactions").fetchall()
    assert count == [(11,)]
    with pytest.raises(LakeQueryError):
        query(lake, "SELECT * FROM accounts")


def test_empty_lake_has_no_views(tmp_path) -> None:
    assert available_tables(connect(Lake(str(tmp_path / "lake")))) == []


def test_parameterised_query(lake: Lake) -> None:
    df = query(lake, ALICE_POSTED, ["alice", "2024-02-05"])
    assert list(df["description"]) == ["WHOLE FOODS", "ACME PAYROLL", "BLUE BOTTLE"]
    assert list(df["amount"]) == [82.40, -2500.00, 4.75]
    named = query(lake, "SELECT count(*) AS n FROM transactions WHERE user_id = $u",
                  {"u": "bob"})
    assert named["n"].iloc[0] == 5


def test_parameters_are_not_sql(lake: Lake) -> None:
    df = query(lake, "SELECT * FROM transactions WHERE user_id = ?", ["alice' OR '1'='1"])
    assert df.empty


@pytest.mark.parametrize("sql, fragment", [
    ("SELEC * FROM transactions", "Parser Error"),
    ("SELECT * FROM nowhere", "nowhere"),
    ("SELECT no_such_column FROM transactions", "no_such_column"),
])
def test_bad_sql_names_available_tables(lake: Lake, sql: str, fragment: str) -> None:
    with pytest.raises(LakeQueryError) as caught:
        query(lake, sql)
    message = str(caught.value)
    assert fragment in message
    assert "Available tables: categories, monthly_spend, transactions" in message
    assert caught.value.available == ["categories", "monthly_spend", "transactions"]


def _run(lake: Lake, sql: str, fmt: str) -> str:
    out = io.StringIO()
    assert run_sql(lake, sql, fmt, out=out) == 0
    return out.getvalue()


SUMMARY = (
    "SELECT user_id, posted_date, amount, pending, updated_at, category_confidence "
    "FROM transactions WHERE txn_id IN ('alice-t1', 'alice-t2') ORDER BY txn_id"
)


def test_run_sql_table(lake: Lake) -> None:
    lines = _run(lake, SUMMARY, "table").splitlines()
    assert lines[0].split(" | ")[:3] == ["user_id", "posted_date", "  amount"]
    assert set(lines[1]) <= {"-", "+"}
    assert lines[2].startswith("alice   | 2024-01-05  |    82.40 | false   | 2024-03-01 09:30")
    assert "| -2500.00 |" in lines[3]
    assert lines[3].endswith("NULL")
    assert lines[-1] == "(2 rows)"
    widths = {len(line) for line in lines[:4]}
    assert len(widths) == 1  # aligned


def test_run_sql_csv(lake: Lake) -> None:
    rows = list(csv.DictReader(io.StringIO(_run(lake, SUMMARY, "csv"))))
    assert rows == [
        {"user_id": "alice", "posted_date": "2024-01-05", "amount": "82.40", "pending": "false",
         "updated_at": "2024-03-01 09:30:00+00:00", "category_confidence": ""},
        {"user_id": "alice", "posted_date": "2024-01-15", "amount": "-2500.00",
         "pending": "false", "updated_at": "2024-03-01 09:30:00+00:00",
         "category_confidence": ""},
    ]


def test_run_sql_json(lake: Lake) -> None:
    records = json.loads(_run(lake, SUMMARY, "json"), parse_float=Decimal)
    assert records == [
        {"user_id": "alice", "posted_date": "2024-01-05", "amount": Decimal("82.4"),
         "pending": False, "updated_at": "2024-03-01T09:30:00+00:00",
         "category_confidence": None},
        {"user_id": "alice", "posted_date": "2024-01-15", "amount": Decimal("-2500.0"),
         "pending": False, "updated_at": "2024-03-01T09:30:00+00:00",
         "category_confidence": None},
    ]


def test_run_sql_error_goes_to_stderr(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert run_sql(lake, "SELECT * FROM accounts", "table", out=out) == 2
    assert out.getvalue() == ""
    err = capsys.readouterr().err
    assert "accounts" in err and "Available tables: categories" in err
    assert run_sql(lake, "SELECT 1", "xml", out=out) == 2
    assert "unknown format" in capsys.readouterr().err


def test_export_writes_a_duckdb_file_that_matches_the_lake(lake: Lake, tmp_path) -> None:
    import duckdb

    from finlake.commands.sql import export_file
    from lake.tables import CREDENTIALS

    out = io.StringIO()
    path = tmp_path / "lake.duckdb"
    assert export_file(lake, str(path), out) == 0
    con = duckdb.connect(str(path), read_only=True)
    exported = {r[0] for r in con.execute("SELECT table_name FROM _finlake_export").fetchall()}
    assert exported == set(available_tables(connect(lake)))
    assert CREDENTIALS.name not in exported  # sealed credentials never leave the lake
    sql = "SELECT month, category, amount FROM monthly_spend ORDER BY ALL"
    from lake.duck import query_rows

    assert con.execute(sql).fetchall() == query_rows(lake, sql)[2]
    [(kind,)] = con.execute("SELECT typeof(amount) FROM monthly_spend LIMIT 1").fetchall()
    assert kind == "DECIMAL(18,2)"  # the registry's types, not whatever Parquet inferred


def test_interactive_mode_runs_a_script_of_statements(lake: Lake, capsys) -> None:
    from finlake.commands.sql import interactive

    script = io.StringIO("-- a comment\nSELECT count(*) AS n\n  FROM transactions;\n"
                         ".tables\nSELECT 2 AS two;\n.quit\nSELECT 3;\n")
    out = io.StringIO()
    assert interactive(lake, "csv", script, out) == 0
    text = out.getvalue()
    assert text.startswith("n\n") and "monthly_spend" in text and "two\n2\n" in text
    assert "3" not in text.split("two\n2\n")[1]  # nothing after .quit
    bad = io.StringIO("SELECT * FROM nowhere;\nSELECT 1 AS one;\n")
    out = io.StringIO()
    assert interactive(lake, "csv", bad, out) == 1  # a script with a failed statement
    assert "one\n1\n" in out.getvalue()  # ... still runs the rest
    assert "Available tables" in capsys.readouterr().err


def test_a_registry_column_newer_than_the_files_reads_as_null(tmp_path) -> None:
    """A column added to the registry after a table was written (no file has it yet)."""
    from dataclasses import replace

    import duckdb

    from lake.duck import new_connection, register
    from lake.duck_export import export
    from lake.tables import REGISTRY, TRANSACTIONS

    lake = spend_lake(tmp_path)
    grown = replace(TRANSACTIONS, columns=(*TRANSACTIONS.columns, ("loyalty_points", "int")))
    con = new_connection()
    register(con, grown, lake.delta(TRANSACTIONS))
    assert con.execute("SELECT count(*), count(loyalty_points) FROM transactions "
                       "WHERE user_id = ?", ["alice"]).fetchall() == [(6, 0)]
    REGISTRY["transactions"] = grown
    try:
        export(lake, tmp_path / "x.duckdb")
    finally:
        REGISTRY["transactions"] = TRANSACTIONS
    with duckdb.connect(str(tmp_path / "x.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(loyalty_points) FROM transactions").fetchall() == [(0,)]
