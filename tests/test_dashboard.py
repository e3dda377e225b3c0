"""The Streamlit dashboard (dashboard/app.py) and its data access (dashboard/data.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from lake_fixtures import small_lake
from streamlit.testing.v1 import AppTest

from dashboard import data
from lake.catalog import Lake

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TIMEOUT = 60  # the first run imports pandas, altair, delta-rs...


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    small_lake(home)
    return home


@pytest.fixture
def app(home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def _shown_transactions(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Description"])


def test_page_renders(app: AppTest) -> None:
    assert not app.exception
    assert [t.value for t in app.title] == ["finlake"]
    assert app.selectbox[0].options == ["alice", "bob"]
    assert app.selectbox[0].value == "alice"
    assert any(c.value == "Data last refreshed: 2024-03-01 09:30 UTC" for c in app.caption)


def test_spend_chart_uses_display_names(app: AppTest) -> None:
    [chart] = app.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["axis"]["format"] == "$,.2f"
    [dataset] = chart.proto.datasets
    shown = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
    assert list(shown.columns) == ["Month", "Category", "Spend"]
    assert set(shown["Month"]) == {"Jan 2024", "Feb 2024"}
    assert set(shown["Category"]) == {"Food & drink", "Shopping"}  # no codes, no income
    assert sorted(shown["Spend"]) == [4.75, 82.40, 1234.56]


def test_transactions_follow_the_user(app: AppTest) -> None:
    alice = _shown_transactions(app)
    assert alice == ["UBER", "AMAZON", "BLUE BOTTLE", "ACME PAYROLL", "WHOLE FOODS"]
    assert "DUPLICATE CHARGE" not in alice  # removed rows are not shown
    app.selectbox[0].set_value("bob").run()
    assert not app.exception
    bob = _shown_transactions(app)
    assert bob == ["NETFLIX REFUND", "SAVINGS TRANSFER", "NETFLIX", "LANDLORD", "LANDLORD"]


def test_amounts_and_categories_are_readable(app: AppTest) -> None:
    table = app.dataframe[0].value
    assert list(table.columns) == ["Date", "Description", "Merchant", "Category", "Amount",
                                   "Pending"]
    amounts = dict(zip(table["Description"], table["Amount"], strict=True))
    assert amounts["AMAZON"] == "$1,234.56"
    assert amounts["ACME PAYROLL"] == "-$2,500.00"
    categories = dict(zip(table["Description"], table["Category"], strict=True))
    assert categories["BLUE BOTTLE"] == "Restaurant"  # the user's own choice wins
    assert categories["AMAZON"] == "Online marketplaces"
    assert list(table["Pending"]) == [True, False, False, False, False]
    assert not any("_" in str(v) for v in table["Category"])


def test_empty_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["finlake"]
    assert [i.value for i in at.info] == ["No data yet: run `finlake demo`"]
    assert not at.selectbox


def test_monthly_spend_is_expenses_only(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    spend = data.monthly_spend(lake, "alice")
    assert list(spend["primary_name"]) == ["Food & drink", "Food & drink", "Shopping"]
    assert list(spend["category_name"]) == ["Groceries", "Restaurant", "Online marketplaces"]
    assert list(spend["amount"]) == [82.40, 4.75, 1234.56]
    bob = data.monthly_spend(lake, "bob")
    assert set(bob["category"]) == {"RENT_AND_UTILITIES_RENT", "ENTERTAINMENT_TV_AND_MOVIES"}
    assert data.monthly_spend(lake, "nobody").empty


def test_data_functions(home: Path) -> None:
    lake = Lake(str(home / "lake"))
    assert data.users(lake) == ["alice", "bob"]
    assert list(data.latest_transactions(lake, "bob", limit=2)["description"]) == [
        "NETFLIX REFUND", "SAVINGS TRANSFER"]
    assert data.last_refreshed(lake) == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_data_sees_new_table_versions(tmp_path: Path) -> None:
    from lake_fixtures import transactions, write_table

    from lake.tables import TRANSACTIONS

    lake = small_lake(tmp_path)
    assert data.users(lake) == ["alice", "bob"]
    write_table(lake, TRANSACTIONS, [r for r in transactions() if r["user_id"] == "bob"])
    assert data.users(lake) == ["bob"]
