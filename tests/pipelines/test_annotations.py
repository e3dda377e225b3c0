"""Issue 24, item 3: a person's tags and note on a transaction stay with it when the partner
modifies it and follow it when a pending transaction posts (carried over like a category);
the CLI sets them, only on the person's own transactions, and refuses bad input with one
line and nothing written."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from core.settings import load_settings
from finlake.commands.annotate import note_clear, note_set, tag_change, tag_list
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import TRANSACTION_NOTES, TRANSACTION_TAGS, TRANSACTIONS
from pipelines.categories.refresh import seed_reference
from pipelines.corrections.annotate import Annotations, annotations_of, change_tags, set_note
from pipelines.silver.merge import apply_supersession
from pipelines.silver.pending import carried_annotations
from pipelines.silver.refresh import merge_partition
from tests.support.raw_builder import USER, land, page, txn

D1, D2 = date(2026, 1, 5), date(2026, 1, 6)


def silver(lake: Lake) -> dict[str, dict]:
    return {r["partner_txn_id"]: r for r in read_rows(lake, TRANSACTIONS)}


def _cli(lake: Lake, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    monkeypatch.setenv("FINLAKE_HOME", str(Path(lake.root).parent))
    return load_settings()


def _json(capsys: pytest.CaptureFixture) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def story(spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, dict[str, str]]:
    """Two nights: a pending taxi ride and a grocery purchase arrive and are tagged (the ride
    with a note too); the next night the ride posts (naming its pending id, which is
    removed) and the partner modifies the groceries' amount and description. One lake for the
    module's tests (two merges, not four); returns it and each partner id's silver txn_id."""
    lake = Lake(str(tmp_path_factory.mktemp("annotations") / "lake"))
    seed_reference(spark, lake)
    land(lake.store, D1.isoformat(), 1, [page(added=[
        txn("p1", 42.00, "2026-01-04", "YELLOW CAB", merchant="Yellow Cab", pending=True),
        txn("a1", 50.00, "2026-01-03", "KROGER #12", merchant="Kroger")])])
    merge_partition(spark, lake, D1)
    ids = {k: r["txn_id"] for k, r in silver(lake).items()}
    change_tags(lake, USER, ids["p1"], actor="test", source="cli", add="Holiday 2026, business")
    set_note(lake, USER, ids["p1"], "taxi to the airport", actor="test", source="cli")
    change_tags(lake, USER, ids["a1"], actor="test", source="cli",
                add=["Reimbursable", "team lunch"])
    set_note(lake, USER, ids["a1"], "<b>claim</b> by Friday\r\nref 7", actor="test",
             source="cli")
    land(lake.store, D2.isoformat(), 2, [page(
        added=[txn("q1", 42.00, "2026-01-05", "YELLOW CAB", merchant="Yellow Cab",
                   pending_id="p1")],
        modified=[txn("a1", 57.25, "2026-01-03", "KROGER #12 GROCERY", merchant="Kroger")],
        removed=["p1"])])
    merge_partition(spark, lake, D2)
    ids.update({k: r["txn_id"] for k, r in silver(lake).items()})
    return lake, ids


def test_tags_and_note_follow_a_pending_transaction_to_its_posting(
        spark, story: tuple[Lake, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    lake, ids = story
    p1, q1 = ids["p1"], ids["q1"]
    rows = silver(lake)
    assert (rows["p1"]["status"], rows["p1"]["superseded_by"]) == ("superseded", "q1")
    assert annotations_of(lake, USER, [q1])[q1] == Annotations(
        ["business", "holiday-2026"], "taxi to the airport")
    assert {r["source"] for r in read_rows(lake, TRANSACTION_TAGS) if r["txn_id"] == q1} == {
        "carried"}

    # supersession again (a replay) carries nothing twice: no new version of either table
    versions = (lake.delta(TRANSACTION_TAGS).version(), lake.delta(TRANSACTION_NOTES).version())
    apply_supersession(spark, lake, ["2026-01"])
    assert (lake.delta(TRANSACTION_TAGS).version(),
            lake.delta(TRANSACTION_NOTES).version()) == versions

    # a change named by the pending id after the posting goes on the posted transaction
    settings = _cli(lake, monkeypatch)
    assert tag_change(settings, USER, p1, ["work"]) == 0
    assert _json(capsys) == {"user_id": USER, "txn_id": q1, "pending_txn_id": p1,
                             "tags": ["business", "holiday-2026", "work"]}
    assert tag_list(settings, USER, None, "WORK") == 0
    assert [t["txn_id"] for t in _json(capsys)["transactions"]] == [q1]


def test_tags_and_note_stay_when_the_partner_modifies_the_transaction(
        story: tuple[Lake, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    lake, ids = story
    a1 = ids["a1"]
    row = silver(lake)["a1"]
    assert (str(row["amount"]), row["description"], row["txn_id"]) == (
        "57.25", "KROGER #12 GROCERY", a1)
    settings = _cli(lake, monkeypatch)
    assert tag_list(settings, USER, a1, None) == 0
    assert _json(capsys) == {"user_id": USER, "txn_id": a1,
                             "tags": ["reimbursable", "team-lunch"],
                             "note": "<b>claim</b> by Friday\nref 7"}
    assert tag_change(settings, USER, a1, ["team lunch"], remove=True) == 0
    assert note_clear(settings, USER, a1) == 0
    assert annotations_of(lake, USER, [a1])[a1] == Annotations(["reimbursable"], None)


def test_a_posting_keeps_its_own_note_and_gains_the_pending_tags(spark) -> None:
    links = spark.createDataFrame([("u", "pend", "post")],
                                  "user_id string, pending_txn_id string, posted_txn_id string")
    tags = spark.createDataFrame(
        [("u", "pend", "trip"), ("u", "pend", "work"), ("u", "post", "work"),
         ("v", "pend", "not-mine")], "user_id string, txn_id string, tag string")
    notes = spark.createDataFrame([("u", "pend", "old"), ("u", "post", "mine")],
                                  "user_id string, txn_id string, note string")
    assert sorted(tuple(r) for r in carried_annotations(
        links, tags, ("user_id", "txn_id", "tag")).collect()) == [("u", "post", "trip")]
    assert carried_annotations(links, notes, ("user_id", "txn_id")).collect() == []


def test_the_cli_refuses_bad_input_and_other_peoples_transactions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from tests.support.lake_fixtures import ALICE, small_lake

    lake = small_lake(tmp_path)
    settings = _cli(lake, monkeypatch)
    refused = [
        (lambda: tag_change(settings, "mallory", "alice-t4", ["x"]), "no user 'mallory'"),
        (lambda: tag_change(settings, ALICE, "bob-t1", ["x"]), "No transaction 'bob-t1'"),
        (lambda: tag_change(settings, ALICE, "nope", ["x"]), "No transaction 'nope'"),
        (lambda: tag_change(settings, ALICE, "alice-t5", ["x"]), "removed by the bank"),
        (lambda: tag_change(settings, ALICE, "alice-t4", ["ok", "<script>"]),
         "only letters, digits"),
        (lambda: tag_change(settings, ALICE, "alice-t4", ["a,b c,d" + "e" * 40]),
         "at most 40"),
        (lambda: tag_change(settings, ALICE, "alice-t4", [f"t{i}" for i in range(21)]),
         "at most 20 tags"),
        (lambda: note_set(settings, ALICE, "alice-t4", "x" * 100_000), "at most 2,000"),
        (lambda: note_set(settings, ALICE, "alice-t4", "bell\x07"), "U+0007"),
        (lambda: tag_list(settings, ALICE, "bob-t2", None), "No transaction 'bob-t2'"),
    ]
    for run, said in refused:
        assert run() == 2
        out, err = capsys.readouterr()
        assert not out and len(err.strip().splitlines()) == 1 and said in err, err
        assert "Traceback" not in err
    assert not lake.exists(TRANSACTION_TAGS) and not lake.exists(TRANSACTION_NOTES)
