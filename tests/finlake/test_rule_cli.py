"""``finlake rule``: add, list, move, remove (audited, versioned), the dry-run, and hostile input
refused with one line and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finlake.cli import main
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import AUDIT_LOG, USER_RULES
from tests.support.lake_fixtures import ALICE, small_lake


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    return small_lake(tmp_path)


def rule(*argv: str) -> int:
    return main(["rule", *argv])


def test_add_list_move_remove(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    assert rule("add", "--user", ALICE, "--description-contains", "uber",
                "--direction", "out", "--category", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["position"] == 1 and first["actions"] == {
        "category": "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"}
    assert rule("add", "--user", ALICE, "--merchant-matches", "Amaz?n*", "--amount-min", "100",
                "--transfer", "--hide-from-budgets", "--position", "1") == 0
    second = json.loads(capsys.readouterr().out)
    assert second["not_applied_yet"] == ["hide_from_budgets"] and "not_applied_yet" not in first
    assert rule("list", "--user", ALICE) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in listed] == [second["rule_id"], first["rule_id"]]
    assert 'merchant matches "Amaz?n*" and amount at least 100.00 -> mark as transfer, ' \
           'hide from budgets' in listed[0]
    assert rule("move", "--user", ALICE, "--rule", second["rule_id"], "--to", "2") == 0
    assert json.loads(capsys.readouterr().out)["order"] == [first["rule_id"],
                                                            second["rule_id"]]
    assert rule("remove", "--user", ALICE, "--rule", first["rule_id"]) == 0
    capsys.readouterr()
    stored = {r["rule_id"]: r for r in read_rows(lake, USER_RULES)}
    # each edit is a new version of every rule it moves: first 1 -> 2 -> 1 -> removed
    assert stored[first["rule_id"]]["deleted"] and stored[first["rule_id"]]["version"] == 4
    assert (stored[second["rule_id"]]["position"], stored[second["rule_id"]]["version"]) \
        == (1, 3)  # added at 1, moved to 2, back to 1 after the removal
    actions = [r["action"] for r in read_rows(lake, AUDIT_LOG)]
    assert sorted(a for a in actions if a.endswith("_rule")) == [
        "add_rule", "add_rule", "move_rule", "remove_rule"]
    assert not any("uber" in r["detail"].lower() for r in read_rows(lake, AUDIT_LOG))
    assert rule("list", "--user", ALICE, "--json") == 0
    assert [json.loads(line)["rule_id"] for line in capsys.readouterr().out.splitlines()] \
        == [second["rule_id"]]


@pytest.mark.parametrize(("argv", "says"), [
    (["--description-matches", "(a+)+$", "--transfer"], "looks like a regular expression"),
    (["--description-contains", "x" * 10_240, "--transfer"], "10,240 characters"),
    (["--merchant-contains", "uber", "--category", "UBER_RIDES"], "unknown code 'UBER_RIDES'"),
    (["--account", "bob-checking", "--transfer"], "not one of this person's accounts"),
    (["--amount-min", "50", "--amount-max", "5", "--hide-from-budgets"],
     "minimum 50.00 is above the maximum 5.00"),
    (["--direction", "in"], "needs an action"),
])
def test_hostile_input_is_refused_and_nothing_written(
        lake: Lake, capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    assert rule("add", "--user", ALICE, *argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert "nothing was changed" in err
    assert lake.delta(USER_RULES) is None
    assert not [r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "add_rule"]


def test_unknown_rule_or_user_or_place(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    assert rule("add", "--user", "nobody", "--direction", "in", "--transfer") == 2
    assert "no user 'nobody'" in capsys.readouterr().err
    assert rule("remove", "--user", ALICE, "--rule", "r-missing") == 2
    assert "no rule 'r-missing'" in capsys.readouterr().err
    assert rule("add", "--user", ALICE, "--direction", "in", "--transfer") == 0
    rid = json.loads(capsys.readouterr().out)["rule_id"]
    assert rule("move", "--user", ALICE, "--rule", rid, "--to", "5") == 2
    assert "position: give 1 to 1" in capsys.readouterr().err
    assert rule("add", "--user", ALICE, "--direction", "in", "--transfer",
                "--position", "7") == 2
    assert "position: give 1 to 2" in capsys.readouterr().err
    assert len(read_rows(lake, USER_RULES)) == 1


def test_dry_run_lists_before_and_after_and_writes_nothing(
        lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    assert rule("test", "--user", ALICE, "--description-contains", "whole",
                "--category", "FOOD_AND_DRINK_RESTAURANT", "--json") == 0
    changes = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(c["description"], c["category_before"], c["category_after"], c["source_after"])
            for c in changes] == [("WHOLE FOODS", "FOOD_AND_DRINK_GROCERIES",
                                   "FOOD_AND_DRINK_RESTAURANT", "user_rule")]
    assert rule("test", "--user", ALICE, "--description-starts-with", "blue",
                "--category", "FOOD_AND_DRINK_COFFEE") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 past transaction(s) would change (nothing was written):"
    assert out[1].startswith("2024-02-03  BLUE BOTTLE ")
    assert out[1].endswith("FOOD_AND_DRINK_COFFEE (rule) -> FOOD_AND_DRINK_COFFEE (user_rule)"
                           "  (manual category FOOD_AND_DRINK_RESTAURANT stays)")
    assert lake.delta(USER_RULES) is None


def test_analysts_get_no_rule_text_and_forgetting_a_person_removes_their_rules(
        lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    from deltalake import DeltaTable

    from lake.analyst_tables import TableBuilder
    from lake.forget import forget

    for user in (ALICE, "bob"):
        assert rule("add", "--user", user, "--description-contains", f"{user} gym",
                    "--category", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS") == 0
    capsys.readouterr()
    analyst = TableBuilder(lake, "a test key")
    try:
        assert [c for c, _ in analyst.columns(USER_RULES)] == [
            "user_id", "rule_id", "position", "version", "source", "created_at", "updated_at",
            "deleted"]
        rows = analyst.batches(USER_RULES, lake.delta(USER_RULES)).read_all().to_pylist()
    finally:
        analyst.close()
    assert len(rows) == 2 and all(r["user_id"].startswith("p_") for r in rows)
    forget(lake, ALICE, revoke=None, say=lambda _: None)
    assert {r["user_id"] for r in read_rows(lake, USER_RULES)} == {"bob"}
    dt = lake.delta(USER_RULES)
    for version in range(dt.version() + 1):
        try:
            old = DeltaTable(lake.uri(USER_RULES), version=version).to_pyarrow_table()
        except Exception:  # noqa: BLE001 (a version whose files are gone holds nothing)
            continue
        assert ALICE not in old.column("user_id").to_pylist(), version
