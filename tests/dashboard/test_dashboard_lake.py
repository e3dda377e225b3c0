"""The dashboard benchmark's synthetic lake: complete, consistent with silver, reusable."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from bench.dashboard_lake import LakeSpec, ensure_lake
from lake.lake import Lake
from lake.tables import REGISTRY
from pipelines.categories.reference import categories

SPEC = LakeSpec(users=50, months=4, five_year_users=3, sync_days=1, balance_days=10)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dashboard-lake")
    return out, ensure_lake(out, SPEC, log=lambda *a, **k: None)


def read(out: Path, name: str) -> pa.Table:
    return DeltaTable(Lake(str(out / "lake")).uri(REGISTRY[name])).to_pyarrow_table()


def test_every_table_has_the_rows_the_marker_reports(generated: tuple[Path, dict]) -> None:
    out, info = generated
    for name, stats in info["tables"].items():
        assert read(out, name).num_rows == stats["rows"], name
    txns = read(out, "transactions")
    assert len(set(read(out, "accounts")["user_id"].to_pylist())) == 50
    assert len(set(txns["user_id"].to_pylist())) >= 45  # one linked on the last day has none
    showcase = txns.filter(pa.compute.equal(txns["user_id"], info["showcase"]))
    assert len(set(showcase["posted_month"].to_pylist())) == SPEC.months
    assert info["showcase"] == "u0000042"
    for name in ("monthly_spend", "daily_spend", "net_worth_daily", "budget_progress",
                 "accounts", "credentials", "recurring_payments", "sync_jobs"):
        assert info["tables"][name]["rows"] > 0, name


def test_monthly_spend_is_the_aggregate_of_the_users_transactions(
        generated: tuple[Path, dict]) -> None:
    out, info = generated
    con = duckdb.connect()
    con.register("txns", read(out, "transactions"))
    con.register("spend", read(out, "monthly_spend"))
    con.register("cats", pa.Table.from_pylist(categories()))
    expected = con.execute("""
        SELECT t.posted_month, coalesce(t.user_category, t.category, 'UNCATEGORIZED') AS cat,
               sum(t.amount) AS amount, count(*) AS n
        FROM txns t LEFT JOIN cats c
          ON c.category = coalesce(t.user_category, t.category, 'UNCATEGORIZED')
        WHERE t.user_id = ? AND t.status = 'live' AND NOT t.pending
          AND coalesce(c.category_primary, 'UNCATEGORIZED')
              NOT IN ('INCOME', 'TRANSFER_IN', 'TRANSFER_OUT')
          AND coalesce(t.user_category, t.category, '') <> 'LOAN_PAYMENTS_CREDIT_CARD_PAYMENT'
        GROUP BY ALL ORDER BY 1, 2""", [info["showcase"]]).fetchall()
    actual = con.execute("""
        SELECT month, category, amount, txn_count FROM spend WHERE user_id = ?
        ORDER BY 1, 2""", [info["showcase"]]).fetchall()
    assert len(expected) > 15
    assert actual == expected


def test_net_worth_is_assets_less_liabilities_of_the_daily_balances(
        generated: tuple[Path, dict]) -> None:
    out, info = generated
    con = duckdb.connect()
    con.register("worth", read(out, "net_worth_daily"))
    con.register("balances", read(out, "balances_daily"))
    rows = con.execute("""
        SELECT w.date, w.assets, w.liabilities, w.net_worth,
               sum(b.balance) FILTER (WHERE b.type IN ('depository', 'investment')),
               sum(b.balance) FILTER (WHERE b.type IN ('credit', 'loan'))
        FROM worth w JOIN balances b ON b.user_id = w.user_id AND b.date = w.date
        WHERE w.user_id = ? GROUP BY ALL""", [info["showcase"]]).fetchall()
    assert len(rows) > 100  # the showcase user's balances cover the whole history
    for _, assets, liabilities, net, summed_assets, summed_liabilities in rows:
        assert assets == (summed_assets or 0)
        assert liabilities == (summed_liabilities or 0)
        assert net == assets - liabilities


def test_a_finished_lake_is_reused(generated: tuple[Path, dict]) -> None:
    out, info = generated
    messages: list[str] = []
    again = ensure_lake(out, SPEC, log=messages.append)
    assert again["seconds"] == info["seconds"]
    assert messages and messages[0].startswith("reusing")
