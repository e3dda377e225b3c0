"""Issue 24, item 3 on the Transactions page: a person tags a transaction and writes a note on
it, finds it again by tag (filter) or by any word of a tag or the note (search), only ever on
their own transactions; what they type is shown as typed and bad input is refused with what
to do, with nothing written. Forgetting the person removes their tags and notes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import annotate
from dashboard.actions import ActionError
from dashboard.data import annotations, txns
from lake.duck import analyst_tables
from lake.lake import Lake
from lake.small_tables import append_rows, read_rows
from lake.tables import AUDIT_LOG, TRANSACTION_NOTES, TRANSACTION_TAGS
from tests.dashboard.test_dashboard import _button, _open, who
from tests.support.lake_fixtures import ALICE, BOB

NOTE = "<script>alert('x')</script> **receipt** in the drawer\nsecond line & :smile:"


@pytest.fixture
def lake(writable_home: Path) -> Lake:
    lake = Lake(str(writable_home / "lake"))
    now = datetime.now(UTC)
    # bob's rows on alice's transaction ids: alice must never see or find them
    append_rows(lake, TRANSACTION_TAGS, [{"user_id": BOB, "txn_id": "alice-t1", "tag": "bobs",
                                          "source": "dashboard", "created_at": now}])
    append_rows(lake, TRANSACTION_NOTES, [{"user_id": BOB, "txn_id": "alice-t2",
                                           "note": "bobs secret", "source": "dashboard",
                                           "updated_at": now}])
    return lake


def _tags(lake: Lake, user: str = ALICE) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in read_rows(lake, TRANSACTION_TAGS):
        if r["user_id"] == user:
            out.setdefault(r["txn_id"], []).append(r["tag"])
    return {k: sorted(v) for k, v in out.items()}


def _found(lake: Lake, **f: object) -> list[str]:
    rows, _ = txns.search_transactions(lake, who(lake, ALICE), txns.TxnFilter(**f))
    return list(rows["description"])


def _tag_on_page(at: AppTest, description: str, tags: str, note: str) -> AppTest:
    pick = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Transaction to tag"))
    pick.set_value(next(o for o in pick.options if description in o)).run()
    at.text_input(key=next(t.key for t in at.text_input if t.label == "Tags")).input(tags)
    at.text_area(key=next(t.key for t in at.text_area if t.label == "Note")).input(note)
    _button(at, "Save tags and note").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_tag_a_transaction_and_find_it_again(lake: Lake, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    at = _open(Path(lake.root).parent, monkeypatch, "transactions", ALICE)
    assert "Tags" not in at.dataframe[0].value.columns  # nothing tagged yet: no empty column
    assert at.selectbox(key="txn_tag").options == ["Any"]  # bob's tag is not alice's
    _tag_on_page(at, "AMAZON", "Holiday 2026, Business,  reimbursable ", NOTE)
    assert [s.value for s in at.success] == ["AMAZON: tagged business, holiday-2026, "
                                             "reimbursable, with a note."]
    assert _tags(lake) == {"alice-t4": ["business", "holiday-2026", "reimbursable"]}
    [note] = [r for r in read_rows(lake, TRANSACTION_NOTES) if r["user_id"] == ALICE]
    assert (note["txn_id"], note["note"], note["source"]) == ("alice-t4", NOTE, "dashboard")
    table = at.dataframe[0].value
    shown = dict(zip(table["Description"], table["Tags"], strict=True))
    assert shown["AMAZON"] == "business, holiday-2026, reimbursable 🗒"
    assert shown["WHOLE FOODS"] == ""
    # the form shows what is stored, as typed: the note's HTML and markdown are text
    assert at.text_area(key=next(t.key for t in at.text_area if t.label == "Note")).value == NOTE
    assert not [m for m in at.markdown if "<script>" in m.value]
    # audited with counts only: no tag, note or id
    [row] = [r for r in read_rows(lake, AUDIT_LOG) if r["action"] == "annotate_transaction"
             and "tags_added" in r["detail"]]
    assert json.loads(row["detail"]) == {"tags_added": 3, "tags_removed": 0}
    assert not [r for r in read_rows(lake, AUDIT_LOG) if "holiday" in r["detail"]
                or "drawer" in r["detail"]]

    # searchable: by a word of a tag or of the note, and by the tag filter
    assert _found(lake, text="holiday") == ["AMAZON"]
    assert _found(lake, text="DRAWER") == ["AMAZON"]
    assert _found(lake, text="bobs") == []  # bob's tag and note on alice's ids
    assert _found(lake, tag="reimbursable") == ["AMAZON"]
    assert _found(lake, tag="bobs") == []
    at.selectbox(key="txn_tag").set_value("business").run()
    assert list(at.dataframe[0].value["Description"]) == ["AMAZON"]
    at.selectbox(key="txn_tag").set_value(None).run()
    at.text_input(key="txn_text").input("drawer").run()
    assert list(at.dataframe[0].value["Description"]) == ["AMAZON"]
    at.text_input(key="txn_text").input("").run()

    # a tag removed and the note cleared: the whole form is what the transaction keeps
    _tag_on_page(at, "AMAZON", "business", "")
    assert _tags(lake) == {"alice-t4": ["business"]}
    assert not [r for r in read_rows(lake, TRANSACTION_NOTES) if r["user_id"] == ALICE]
    assert [s.value for s in at.success] == ["AMAZON: tagged business, no note."]


def test_bad_tags_and_notes_are_refused_and_nothing_is_written(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = who(lake, ALICE)
    refused = {
        "x" * 100_000: "at most 2,000",
        "ring the bell \x07 now": "control character (U+0007)",
        "reversed \u202e text": "control character (U+202E)",
    }
    for note, said in refused.items():
        with pytest.raises(ActionError, match=re.escape(said)):
            annotate.save(lake, alice, "alice-t4", "fine-tag", note)
    for tags, said in {"<b>bold</b>": "only letters, digits", "a" * 41: "at most 40",
                       ",".join(f"t{i}" for i in range(21)): "at most 20 tags",
                       "tab\there": "control character"}.items():
        with pytest.raises(ActionError, match=said):
            annotate.save(lake, alice, "alice-t4", tags, "a fine note")
    for other in ("bob-t1", "no-such-txn", "alice-t5"):  # bob's, unknown, removed by the bank
        with pytest.raises(ActionError, match="not one of yours"):
            annotate.save(lake, alice, other, "mine", "mine")
    assert _tags(lake) == {} and _tags(lake, BOB) == {"alice-t1": ["bobs"]}
    assert [r["user_id"] for r in read_rows(lake, TRANSACTION_NOTES)] == [BOB]

    at = _open(Path(lake.root).parent, monkeypatch, "transactions", ALICE)
    _tag_on_page(at, "AMAZON", "ok, not;ok", "note")
    [error] = [e.value for e in at.error]
    assert "'not;ok' holds ';'" in error and "comma separates tags" in error
    assert _tags(lake) == {}


def test_annotations_are_per_user_and_forgotten_with_the_person(lake: Lake) -> None:
    from lake.forget import forget

    alice = who(lake, ALICE)
    annotate.save(lake, alice, "alice-t4", "business", "for the tax return")
    assert annotations.annotations_for(lake, alice, ["alice-t4", "alice-t1"]) == {
        "alice-t4": (["business"], "for the tax return"), "alice-t1": ([], None)}
    assert annotations.tags_in_use(lake, alice) == ["business"]
    # analysts get both tables de-identified; the note (free text) is left out
    from lake.analyst_tables import TableBuilder

    builder = TableBuilder(lake, "k" * 64)
    try:
        names = {t.name: t for t in analyst_tables()}
        assert [c for c, _ in builder.columns(names["transaction_notes"])] == [
            "user_id", "txn_id", "source", "updated_at"]
        rows = builder.batches(names["transaction_tags"],
                               lake.delta(names["transaction_tags"])).read_all().to_pylist()
        assert {r["tag"] for r in rows} == {"business", "bobs"}
        assert not {r["user_id"] for r in rows} & {ALICE, BOB}
    finally:
        builder.close()

    forget(lake, ALICE, revoke=None, say=lambda _: None)
    assert [r["user_id"] for r in read_rows(lake, TRANSACTION_TAGS)] == [BOB]
    assert [r["user_id"] for r in read_rows(lake, TRANSACTION_NOTES)] == [BOB]


def test_a_tag_saved_while_the_nightly_marks_the_pending_row_posted_reaches_the_posting(
        lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nightly's carry-over read the pending row's tags just before this save wrote them,
    then marked the row posted (as alice-t4 here): the save's own check afterwards puts them
    on the posted transaction too."""
    seen = iter(["alice-t6", "alice-t4"])  # pending when checked, posted right after writing
    monkeypatch.setattr(annotate.annotations, "annotated_transaction",
                        lambda *_: next(seen))
    saved = annotate.save(lake, who(lake, ALICE), "alice-t6", "work", "cab to the office")
    assert saved.changed and saved.tags == ["work"]
    assert _tags(lake) == {"alice-t4": ["work"], "alice-t6": ["work"]}
    assert sorted(r["txn_id"] for r in read_rows(lake, TRANSACTION_NOTES)
                  if r["user_id"] == ALICE) == ["alice-t4", "alice-t6"]
