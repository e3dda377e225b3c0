"""Re-issued ids: a transaction the partner sends again under a new id is flagged as a
probable duplicate and counted once; identical purchases delivered together never are; the
person's "not a duplicate" sticks; any replay order gives the same flags; and over a sandbox
world with the fault on, precision and recall are measured."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import DUPLICATE_KEEPS, MONTHLY_CASHFLOW, TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.gold.refresh import reconcile_cells, refresh_gold
from pipelines.silver.refresh import merge_partition
from pipelines.silver.reissued import probable_duplicates
from tests.support.raw_builder import USER, land, page, txn

pytestmark = pytest.mark.integration

D1, D2, D3, D4 = date(2026, 3, 3), date(2026, 3, 5), date(2026, 3, 8), date(2026, 3, 10)
BLUE = "BLUE BOTTLE COFFEE 0423"
PASSWORD = "a dozen characters at least"


# -- the rule, on hand-made rows -------------------------------------------------------------
def _row(pid: str, update: int, amount: str = "4.50", day: str = "2026-03-02",
         desc: str = "STARBUCKS 123", *, status: str = "live", pending: bool = False,
         user: str = USER, account: str = "acc_1", pos: int = 0) -> dict:
    return {"user_id": user, "txn_id": f"id_{pid}", "account_id": account,
            "partner_txn_id": pid, "posted_month": day[:7], "posted_date": date.fromisoformat(day),
            "amount": Decimal(amount), "description": desc, "pending": pending,
            "status": status, "source_seq": f"{update:010d}-a-00001-{pos:06d}"}


SCHEMA = ("user_id string, txn_id string, account_id string, partner_txn_id string, "
          "posted_month string, posted_date date, amount decimal(18,2), description string, "
          "pending boolean, status string, source_seq string")


def _flags(spark, rows: list[dict], kept: list[tuple[str, str]] | None = None) -> dict:
    df = spark.createDataFrame(rows, SCHEMA)
    keep = spark.createDataFrame(kept or [], "user_id string, txn_id string")
    return {r["partner_txn_id"]: r["duplicate_of"]
            for r in probable_duplicates(df, keep).collect()}


def test_a_later_copy_is_a_duplicate_of_the_first(spark) -> None:
    rows = [_row("a", 1, "12.00", desc=BLUE),
            _row("b", 3, "12.00", desc="blue  bottle coffee-0423"),
            _row("x", 3, "12.01", desc=BLUE), _row("y", 3, "12.00", day="2026-03-03", desc=BLUE),
            _row("z", 3, "12.00", desc=BLUE, account="acc_2"),
            _row("w", 3, "12.00", desc=BLUE, user="user_0002")]
    # the copy differs only in case and punctuation; other amount, day, account, person: no
    assert _flags(spark, rows) == {"b": "a"}


def test_identical_purchases_delivered_together_are_never_merged(spark) -> None:
    coffees = [_row("c1", 1, pos=1), _row("c2", 1, pos=2)]  # two $4.50 coffees, one sync
    assert _flags(spark, coffees) == {}
    # a third, later: one copy of a known coffee (the first), never of itself
    assert _flags(spark, [*coffees, _row("c3", 2)]) == {"c3": "c1"}
    # three in one later update where two were known: two copies, one more coffee
    later = [_row("c3", 2, pos=1), _row("c4", 2, pos=2), _row("c5", 2, pos=3)]
    assert _flags(spark, [*coffees, *later]) == {"c3": "c1", "c4": "c2"}


def test_nothing_earlier_listed_means_no_duplicate(spark) -> None:
    copy = _row("b", 3, "12.00", desc=BLUE)
    # the original removed (or superseded, or pending): the copy is the purchase
    for status, pending in (("removed", False), ("superseded", False), ("live", True)):
        assert _flags(spark, [_row("a", 1, "12.00", desc=BLUE, status=status,
                                   pending=pending), copy]) == {}
    # an already flagged copy stays flagged; a kept one is never flagged
    flagged = {**copy, "status": "duplicate"}
    assert _flags(spark, [_row("a", 1, "12.00", desc=BLUE), flagged]) == {"b": "a"}
    assert _flags(spark, [_row("a", 1, "12.00", desc=BLUE), flagged],
                  kept=[(USER, "id_b")]) == {}


# -- through the lake: merge, gold, reconciliation, replays, keep ------------------------------
def _history(lake: Lake) -> None:
    """Day 1: a $12 coffee, two identical $4.50 coffees and fuel in one update. Day 2: the
    partner re-sends the $12 coffee under a new id (the old one kept) and a real $4.50
    coffee on another day. Day 3: it re-sends one of the twin coffees under a new id."""
    land(lake.store, D1.isoformat(), 1, [
        page(added=[txn("a", 12.00, "2026-03-02", BLUE, merchant="Blue Bottle"),
                    txn("c1", 4.50, "2026-03-02")], has_more=True),
        page(added=[txn("c2", 4.50, "2026-03-02"),
                    txn("f", 40.00, "2026-03-02", "SHELL OIL 5521", merchant="Shell")]),
    ])
    land(lake.store, D2.isoformat(), 2, [
        page(added=[txn("a2", 12.00, "2026-03-02", BLUE, merchant="Blue Bottle"),
                    txn("e", 4.50, "2026-03-04")]),
    ])
    land(lake.store, D3.isoformat(), 3, [page(added=[txn("c3", 4.50, "2026-03-02")])])


def _statuses(lake: Lake) -> dict[str, str]:
    return {r["partner_txn_id"]: r["status"]
            for r in lake.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()}


def _expense(spark, lake: Lake, refresh: bool = True) -> Decimal:
    cells = spark.createDataFrame([(USER, "2026-03")], "user_id string, month string")
    if refresh:
        refresh_gold(spark, lake, cells, D3)
    assert reconcile_cells(spark, lake, cells) == []  # gold == silver, cell by cell
    got = read_rows(lake, MONTHLY_CASHFLOW)
    return sum((r["expense"] for r in got if r["user_id"] == USER), Decimal(0))


EXPECTED = {"a": "live", "c1": "live", "c2": "live", "f": "live", "e": "live",
            "a2": "duplicate", "c3": "duplicate"}


@pytest.fixture(scope="module")
def merged(spark, tmp_path_factory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("reissued") / "lake"))
    seed_reference(spark, lake)
    _history(lake)
    for day in (D1, D2, D3):
        merge_partition(spark, lake, day)  # raises if raw<->silver does not reconcile
    return lake


def test_a_reissue_counts_once_and_the_twins_twice(spark, merged: Lake) -> None:
    assert _statuses(merged) == EXPECTED
    # $12 once, the twin coffees twice, the later coffee, fuel: not 12 + 12 + 4 x 4.50 + 40
    assert _expense(spark, merged) == Decimal("65.50")


def test_flagged_rows_wait_in_the_review_queue(merged: Lake) -> None:
    from dashboard import auth
    from dashboard.data import txns

    auth.create_login(merged, "coffee", PASSWORD, USER, "user")
    queue, _ = txns.review_queue(merged, auth.verify(merged, "coffee", PASSWORD))
    ids = {r["txn_id"]: r["partner_txn_id"]
           for r in merged.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()}
    sent_again = {ids[t] for t, why in zip(queue["txn_id"], queue["reasons"], strict=True)
                  if txns.SENT_AGAIN in why}
    assert sent_again == {"a2", "c3"}  # both copies, with the reason; the originals count


def test_cli_lists_pairs_and_refuses_bad_input(merged: Lake, monkeypatch, capsys) -> None:
    from finlake.cli import main

    monkeypatch.setenv("FINLAKE_HOME", str(Path(merged.root).parent))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    ids = {r["partner_txn_id"]: r["txn_id"]
           for r in merged.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()}
    assert main(["duplicate", "list", "--user", USER, "--month", "2026-03"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(p["txn_id"], p["duplicate_of"]) for p in listed["probable_duplicates"]} == {
        (ids["a2"], ids["a"]), (ids["c3"], ids["c1"])}
    assert listed["kept"] == []
    for argv in (["keep", "--user", USER, "--transaction", "a2"],  # a partner id, not ours
                 ["keep", "--user", USER, "--transaction", "x" * 5000 + "\n"],
                 ["list", "--user", USER, "--month", "2026-13"]):
        with pytest.raises(SystemExit) as exit_:
            main(["duplicate", *argv])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 300
    assert main(["duplicate", "keep", "--user", "nobody", "--transaction", ids["a2"]]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err
    assert main(["duplicate", "keep", "--user", USER, "--transaction", ids["a"]]) == 2
    err = capsys.readouterr().err
    assert "not flagged as a probable duplicate" in err and err.count("\n") == 1
    assert read_rows(merged, DUPLICATE_KEEPS) == []  # nothing half-written


def test_any_replay_order_gives_the_same_flags(spark, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    seed_reference(spark, lake)
    _history(lake)
    for day in (D3, D2, D1):  # the copies arrive before their originals
        merge_partition(spark, lake, day)
    assert _statuses(lake) == EXPECTED
    # the partner removes the original: its copy is the purchase now, and counts
    land(lake.store, D4.isoformat(), 4, [page(removed=["a"])])
    merge_partition(spark, lake, D4)
    assert _statuses(lake) == {**EXPECTED, "a": "removed", "a2": "live"}


def test_not_a_duplicate_counts_again_across_replays(spark, merged: Lake) -> None:
    from pipelines.corrections.duplicates import NotFlagged, keep_transaction

    ids = {r["partner_txn_id"]: r["txn_id"]
           for r in merged.delta(TRANSACTIONS).to_pyarrow_table().to_pylist()}
    for wrong in (ids["c1"], "0" * 32):  # a counted row, an unknown id: nothing written
        with pytest.raises(NotFlagged):
            keep_transaction(spark, merged, USER, wrong, as_of=D3)
    with pytest.raises(NotFlagged):  # someone else's transaction
        keep_transaction(spark, merged, "user_0002", ids["c3"], as_of=D3)
    assert read_rows(merged, DUPLICATE_KEEPS) == []
    out = keep_transaction(spark, merged, USER, ids["c3"], as_of=D3)
    assert out["rows_changed"] == 1 and out["month"] == "2026-03"
    assert _statuses(merged)["c3"] == "live" and _statuses(merged)["a2"] == "duplicate"
    # the third coffee counts now, in the gold the keep refreshed
    assert _expense(spark, merged, refresh=False) == Decimal("70.00")
    version = merged.delta(TRANSACTIONS).version()
    merge_partition(spark, merged, D3)  # a replay keeps the person's word, changes nothing
    assert _statuses(merged)["c3"] == "live"
    assert merged.delta(TRANSACTIONS).version() == version
    assert keep_transaction(spark, merged, USER, ids["c3"], as_of=D3)["already_kept"]
    assert len(read_rows(merged, DUPLICATE_KEEPS)) == 1


# -- precision and recall over a sandbox world with the fault on --------------------------------
def test_precision_and_recall_over_a_sandbox_world(tmp_path: Path) -> None:
    from bench.duplicates import measure

    out = measure(tmp_path, seed=11, users=2, days=2, rate=1.0, count=2)
    assert out["reissue_pairs"] >= 4
    assert (out["precision"], out["recall"]) == (1.0, 1.0), out
    rec = out["reconcile"]
    assert rec["exact"] and (rec["lost"], rec["duplicated"], rec["merged"]) == (0, 0, 0)
    assert rec["reissued"] == rec["flagged"] == out["reissue_pairs"]
