"""Issue 18, finding 6: text people, partners or settings control is shown as text by the
dashboard, never rendered as markdown (a budget amount made a link and loaded an image).

Streamlit only hands markdown source to the browser, so the source each element gets is
parsed here with a CommonMark parser (markdown-it) and checked for Streamlit's additions to
it (shortcodes, bare links, math) with the patterns Streamlit's front end uses."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dashboard.plain import JOINER, plain
from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import (
    ACCOUNTS,
    ALERTS,
    BUDGETS,
    CUSTOM_CATEGORIES,
    INSTITUTIONS,
    RECURRING_PAYMENTS,
    TRANSACTIONS,
    UNUSUAL_ACTIVITY,
)
from tests.support.lake_fixtures import (
    ALICE,
    LOGIN_PASSWORDS,
    accounts,
    gold_rows,
    ops_rows,
    small_lake,
    transactions,
    txn,
    write_table,
)

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
# A link, an image (loaded from the network), HTML, code, emphasis, math, an emoji and an
# icon shortcode, Streamlit's logo image, a directive and bare links, all in one value.
HOSTILE = ("[pwn](http://evil.example/a) ![x](http://127.0.0.1:9/i.png) <b>bold</b> "
           "<img src=x onerror=alert(1)> `tick` **loud** $x^2$ :smile: :material/home: "
           ":streamlit: :red[red] www.evil.example me@evil.example -> --")
MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# What Streamlit finds in text nodes after CommonMark has unescaped them.
STREAMLIT_TEXT = {
    "emoji or icon shortcode": re.compile(r":(?:material/)?[\w+-][\w_+-]*:"),
    "directive": re.compile(r":[a-z][a-z0-9-]*\["),
    "bare link": re.compile(r"https?://|\bwww\.|[\w.+-]@[\w-]+\.", re.IGNORECASE),
    "arrow or dash": re.compile(r"(?:^|\s)(?:<->|->|<-|--|>=|<=|~=)(?:\s|$)"),
}
MATH = re.compile(r"(?<![\\$])\$(?![\s$])[^$\n]*?[^\s$\\]\$")  # Streamlit's inline math


# Inline or block markdown a value must never turn into (the dashboard's own templates use
# strong emphasis, list items and, on the overview, a <span>).
RENDERED = ("link_open", "image", "html_inline", "html_block", "code_inline", "em_open",
            "strong_open", "s_open", "heading_open", "hr", "blockquote_open", "table_open",
            "bullet_list_open", "ordered_list_open", "fence", "code_block")


def _rendered(source: str) -> tuple[str, set[str]]:
    """The plain text a CommonMark renderer shows for ``source``, and its token kinds."""
    text, kinds = [], set()
    for block in MARKDOWN.parse(source):
        kinds.add(block.type)
        for tok in block.children or []:
            kinds.add(tok.type)
            if tok.type == "text":
                text.append(tok.content)
            elif tok.type in ("softbreak", "hardbreak"):
                text.append(" ")
    return "".join(text), kinds


def _problems(source: str, value: str, forbidden: tuple[str, ...] = ("link_open", "image")
              ) -> list[str]:
    """What is wrong with how the markdown ``source`` shows ``value`` (empty: shown as text,
    as typed). A value turned into code, emphasis or HTML is no longer in the plain text."""
    text, kinds = _rendered(source)
    problems = [f"renders a {k}" for k in forbidden if k in kinds]
    if " ".join(value.split()) not in text.replace(JOINER, ""):
        problems.append(f"does not show the value as typed: {text!r}")
    problems += [f"Streamlit finds a {name}" for name, pattern in STREAMLIT_TEXT.items()
                 if pattern.search(text)]
    if MATH.search(source):
        problems.append("Streamlit renders math")
    return problems


@pytest.mark.parametrize("value", [
    HOSTILE,
    "[a](javascript:alert(1))", "![x](http://127.0.0.1:9/i.png)", "<img src=x>",
    "<script>alert(1)</script>", "`code` and ``more``", "$x$ and $$y$$", "\\$5 \\[not\\]",
    ":smile: :+1: :material/home: :streamlit: :blue-badge[b] :help[tip]",
    "line one\n---\n# heading\n- item\n1. one\n> quote\n\n    indented code\r\nend",
    "---", "- dash", "+ plus", "1. first", "2) second", "=== ", "> quote", "# head",
    "***", "|a|b|\n|-|-|\n|1|2|", "~~gone~~", "*em* _em_ **strong** __strong__",
    "&lt;b&gt; &#x1F600; &amp; Food & drink", "http://evil.example www.evil.example a@b.co",
    "<http://evil.example>", "[ref]\n\n[ref]: http://evil.example", "back\\slash\\",
    "-> <- <-> -- >= <= ~=", "Café ☕ 09:30 — 50% off!", "",
])
def test_plain_shows_hostile_text_as_typed(value: str) -> None:
    source = plain(value)
    assert "\n" not in source and "\r" not in source
    text = _rendered(source)[0]
    assert not _problems(source, value, RENDERED), (source, _problems(source, value, RENDERED))
    assert text.replace(JOINER, "") == " ".join(value.split())  # nothing added or lost


def test_plain_inside_the_dashboards_own_markdown() -> None:
    # Bold around it, a list item before it, HTML allowed after it (the overview's alerts).
    source = f"- **{plain(HOSTILE)}** — {plain(HOSTILE)} <span>(1 Mar)</span>"
    _, kinds = _rendered(source)
    assert "link_open" not in kinds and "image" not in kinds
    assert "strong_open" in kinds  # the dashboard's own emphasis still works
    assert plain(None) == "" and plain(Decimal("1.50")) == "1.50"


# --- every page, over a lake whose text is hostile -------------------------------------------

def _hostile_lake(home: Path) -> Lake:
    """The small dashboard lake with attacker-chosen text in every field a page shows in
    markdown: bank and account names, a review reason, a description and merchant, a
    recurring payment's detail, an alert, an unusual-activity reason and a custom category."""
    lake = small_lake(home)
    now = datetime.now(UTC)
    ops = ops_rows(now)
    write_table(lake, INSTITUTIONS, [dict(r, name=f"Bank {HOSTILE}") if r["institution_id"]
                                     == "ins_2" else r for r in ops[INSTITUTIONS]])
    accts = accounts(now)
    for a in accts:
        if a["account_id"] == "alice-savings":
            a["name"] = f"Savings {HOSTILE}"
        if a["account_id"] == "alice-checking":
            a.update(needs_review=True, review_reason=f"Reason {HOSTILE}")
    write_table(lake, ACCOUNTS, accts)
    write_table(lake, TRANSACTIONS, [*transactions(), txn(
        ALICE, 9, date(2024, 2, 21), "9.99", f"Desc {HOSTILE}", "ENTERTAINMENT_TV_AND_MOVIES",
        merchant=f"Shop {HOSTILE}", merchant_key="evil")])
    write_table(lake, CUSTOM_CATEGORIES, [{
        "user_id": ALICE, "category": "CUSTOM_EVIL", "category_primary": "ENTERTAINMENT",
        "display_name": f"Cat {HOSTILE}", "created_at": now}])
    gold = gold_rows(now)
    write_table(lake, ALERTS, [dict(r, detail=f"Alert {HOSTILE}") for r in gold[ALERTS]])
    write_table(lake, UNUSUAL_ACTIVITY, [dict(r, reason=f"Odd {HOSTILE}")
                                         for r in gold[UNUSUAL_ACTIVITY]])
    write_table(lake, RECURRING_PAYMENTS, [*gold[RECURRING_PAYMENTS], dict(
        gold[RECURRING_PAYMENTS][0], user_id=ALICE, merchant_key="evil", missed_payment=True,
        detail=f"monthly, last $15.49 (was {HOSTILE})")])
    return lake


def _app(home: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    monkeypatch.setenv("FINLAKE_HOME", str(home))
    monkeypatch.delenv("FINLAKE_S3_BUCKET", raising=False)
    monkeypatch.delenv("FINLAKE_ENV", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input(key="sign_in_login").input(ALICE)
    at.text_input(key="sign_in_password").input(LOGIN_PASSWORDS[ALICE])
    next(b for b in at.button if b.label == "Sign in").click().run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _markdown_sources(at: AppTest) -> list[str]:
    """The markdown source of every element that renders it (text, alerts, labels)."""
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "warning", "info",
                 "success", "error", "toast"):
        out += [str(el.value) for el in getattr(at, kind)]
    out += [b.label for b in at.button]
    out += [el.proto.text for el in at.get("progress")]
    return out


def _hostile_shown(at: AppTest) -> dict[str, list[str]]:
    """Each element source that holds the hostile value, with what is wrong with it."""
    return {src: _problems(src, HOSTILE) for src in _markdown_sources(at) if "pwn" in src}


@pytest.mark.parametrize("page, expected", [
    ("overview", 2),       # the alert (HTML allowed) and the unusual-activity reason
    ("accounts", 2),       # the bank's name as a heading, the review reason
    ("recurring", 2),      # the price rise (merchant and old price), the missed payment
])
def test_pages_show_hostile_partner_text_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 page: str, expected: int) -> None:
    _hostile_lake(tmp_path)
    at = _app(tmp_path, monkeypatch, page)
    shown = _hostile_shown(at)
    # + the bank's sign-in banner on every page (bank and account names)
    assert len(shown) == expected + 1, list(shown)
    assert not {src: p for src, p in shown.items() if p}, shown


def test_a_hostile_budget_amount_is_shown_as_text(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lake = _hostile_lake(tmp_path)
    at = _app(tmp_path, monkeypatch, "budgets")
    at.text_input(key="budget_amount").input(HOSTILE)
    next(b for b in at.button if b.label == "Save budget").click().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert "is not a positive amount" in error
    assert not _problems(error, repr(HOSTILE)), (error, _problems(error, repr(HOSTILE)))
    assert [r["amount"] for r in read_rows(lake, BUDGETS)] == [Decimal("1000.00")]


def test_hostile_description_merchant_and_category_on_the_transactions_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hostile_lake(tmp_path)
    at = _app(tmp_path, monkeypatch, "transactions")
    pick = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Transaction"))
    pick.set_value(next(o for o in pick.options if "Desc" in o)).run()
    at.selectbox(key="txn_new_category").set_value("CUSTOM_EVIL")
    [label] = [b.label for b in at.button if b.label.startswith("Always use it for")]
    assert not _problems(label, f"Shop {HOSTILE}"), (label, _problems(label, HOSTILE))
    next(b for b in at.button if b.label == "Set for this transaction").click().run()
    assert not at.exception
    [saved] = [s.value for s in at.success]
    for value in (f"Desc {HOSTILE}", f"Cat {HOSTILE}"):
        assert not _problems(saved, value), (saved, _problems(saved, value))
