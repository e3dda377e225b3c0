"""The sandbox bank, driven through the official plaid-python client over real HTTP."""

from __future__ import annotations

import csv
import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import plaid
import pytest
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.transactions_sync_request import TransactionsSyncRequest

from connectors.sandbox_bank import changes as ch
from connectors.sandbox_bank import merchants
from connectors.sandbox_bank.__main__ import main as bank_main
from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.generator import Generator
from connectors.sandbox_bank.server import RunningBank, serve
from connectors.sandbox_bank.world import Item

pytestmark = pytest.mark.integration

START, CLOCK = date(2025, 1, 1), date(2025, 1, 31)
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
PFC_CSV = (Path(__file__).resolve().parents[2] / "pipelines" / "categories" / "reference"
           / "pfc_v2_categories.csv")
COMPARED = ("account_id", "transaction_id", "amount", "iso_currency_code", "date",
            "authorized_date", "name", "merchant_name", "pending", "pending_transaction_id")


def _open(path: Path, **kw: object) -> SandboxBank:
    return SandboxBank.open(path, seed=7, users=4, history_start=START, clock=CLOCK, **kw)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningBank]:
    with serve(_open(tmp_path / "bank")) as rb:
        yield rb


def _api(url: str, secret: str | None = "secret") -> plaid_api.PlaidApi:
    keys = {"clientId": "client", **({"secret": secret} if secret else {})}
    cfg = plaid.Configuration(host=url, api_key=keys)
    return plaid_api.PlaidApi(plaid.ApiClient(cfg))


def _link(api: plaid_api.PlaidApi, user: str, ins: str) -> str:
    created = api.sandbox_public_token_create(SandboxPublicTokenCreateRequest(
        institution_id=ins, initial_products=[Products("transactions")],
        options=SandboxPublicTokenCreateRequestOptions(override_username=user)))
    assert re.fullmatch("public-sandbox-" + UUID4, created.public_token)
    exchanged = api.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=created.public_token))
    return exchanged.access_token


def _sync(api: plaid_api.PlaidApi, token: str, cursor: str, held: dict[str, dict],
          count: int = 7) -> tuple[str, int, list]:
    """Run one complete update, applying every page to ``held``; returns the pages too."""
    pages = []
    while True:
        kwargs = {"cursor": cursor} if cursor else {}
        resp = api.transactions_sync(TransactionsSyncRequest(access_token=token, count=count,
                                                             **kwargs))
        pages.append(resp)
        for t in resp.added + resp.modified:
            d = t.to_dict()
            held[t.transaction_id] = {k: d[k].isoformat() if isinstance(d[k], date) else d[k]
                                      for k in COMPARED}
        for r in resp.removed:
            held.pop(r.transaction_id, None)
        cursor = resp.next_cursor
        if not resp.has_more:
            return cursor, len(pages), pages


def _expect_error(fn: object, code: str, status: int = 400) -> dict:
    with pytest.raises(plaid.ApiException) as info:
        fn()  # type: ignore[operator]
    body = json.loads(info.value.body)
    assert info.value.status == status and body["error_code"] == code, body
    assert {"error_type", "error_message", "display_message", "request_id"} <= body.keys()
    return body


def test_link_flow_and_errors(running: RunningBank) -> None:
    api = _api(running.url)
    token = _link(api, "user_0001", "ins_1")
    assert re.fullmatch("access-sandbox-" + UUID4, token)
    listed = {(i["user_id"], i["institution_id"]): i for i in running.bank.items()}
    assert listed[("user_0001", "ins_1")]["access_token"] == token
    assert api.item_get(ItemGetRequest(access_token=token)).item.institution_id == "ins_1"
    assert api.accounts_balance_get(AccountsBalanceGetRequest(access_token=token)).accounts
    ins = api.institutions_get_by_id(InstitutionsGetByIdRequest(
        institution_id="ins_4", country_codes=[CountryCode("US")])).institution
    assert ins.name == "Tattersall Federal Credit Union"
    assert ("user_0001", "ins_7") not in listed
    _expect_error(lambda: _link(api, "user_0001", "ins_7"), "INVALID_CREDENTIALS")
    _expect_error(lambda: _link(api, "user_0001", "ins_99"), "INVALID_INSTITUTION")
    _expect_error(lambda: _link(api, "user_9999", "ins_1"), "INVALID_CREDENTIALS")
    _expect_error(lambda: api.item_get(ItemGetRequest(access_token="access-sandbox-nope")),
                  "INVALID_ACCESS_TOKEN")
    _expect_error(lambda: _api(running.url, secret=None).item_get(
        ItemGetRequest(access_token=token)), "INVALID_API_KEYS")
    log = running.bank.request_log
    assert {e["endpoint"] for e in log} >= {"/sandbox/public_token/create",
                                            "/item/public_token/exchange", "/item/get"}
    assert any(e["institution_id"] == "ins_1" and e["status"] == 200 for e in log)
    assert all({"monotonic", "wall_time", "status"} <= e.keys() for e in log)


def test_full_and_incremental_sync_match_truth(running: RunningBank) -> None:
    api, bank = _api(running.url), running.bank
    token = _link(api, "user_0001", "ins_1")
    held: dict[str, dict] = {}
    cursor, n_pages, pages = _sync(api, token, "", held)
    assert n_pages > 3
    truth = bank.truth(token, cursor)
    assert truth and held == {t["transaction_id"]: {k: t[k] for k in COMPARED} for t in truth}
    assert all(t["category_detailed"] for t in truth)
    # an up-to-date cursor yields an empty update and keeps its position
    again, _, empty = _sync(api, token, cursor, dict(held))
    assert again == cursor and not (empty[0].added or empty[0].modified or empty[0].removed)

    bank.advance_to(CLOCK + timedelta(days=6))
    cursor2, _, pages2 = _sync(api, token, cursor, held)
    truth2 = bank.truth(token, cursor2)
    assert held == {t["transaction_id"]: {k: t[k] for k in COMPARED} for t in truth2}
    removed = {r.transaction_id for p in pages2 for r in p.removed}
    promoted = [t for p in pages2 for t in p.added if t.pending_transaction_id in removed]
    assert promoted and all(not t.pending for t in promoted)
    assert bank.truth(token, cursor) == truth  # older positions keep their truth
    all_pages = pages + pages2
    assert all(p.transactions_update_status.value == "HISTORICAL_UPDATE_COMPLETE"
               and p.accounts for p in all_pages)


def test_world_has_unlinked_postings_voids_and_edits(tmp_path: Path) -> None:
    bank = _open(tmp_path)
    gen = Generator(bank.world)
    stories = [s for a in bank.world.accounts for i in range(31)
               for s in gen.stories(a, START + timedelta(days=i))]
    assert any(s.pending_id and s.posted_id and not s.linked for s in stories)
    assert any(s.pending_id and not s.posted_id for s in stories)  # voided pending
    assert any(s.modified_day for s in stories) and any(s.amount != s.pending_amount
                                                        for s in stories)
    assert any(s.amount < 0 and s.kind == "payroll" for s in stories)


def test_updates_compose_and_resyncs_leave_no_ghosts(tmp_path: Path) -> None:
    """state(a) + update(a->b) == state(b), also after a partial update a->m was applied."""
    bank = _open(tmp_path)
    bank.advance_to(CLOCK + timedelta(days=40))
    gen, start = bank.gen, bank.history_start
    kinds_seen: set[str] = set()

    def apply(held: dict, changes: list) -> None:
        for kind, payload in changes:
            kinds_seen.add(kind)
            if kind == "removed":
                held.pop(payload["transaction_id"], None)
            else:
                held[payload["transaction_id"]] = {k: payload[k] for k in COMPARED}

    def state(item: Item, day: date) -> dict:
        return {t["transaction_id"]: {k: t[k] for k in COMPARED}
                for t in ch.live_at(gen, item, day, start)}

    for item in bank.world.items:
        for a, m, b in [(5, 9, 30), (20, 21, 22), (0, 30, 60), (33, 40, 70)]:
            day_a, day_m, day_b = (START + timedelta(days=x) for x in (a, m, b))
            held = state(item, day_a)
            apply(held, ch.diff(gen, item, day_a, day_m, start))
            assert held == state(item, day_m)
            apply(held, ch.diff(gen, item, day_a, day_b, start))  # resync from the older cursor
            assert held == state(item, day_b)
    assert kinds_seen == {"added", "modified", "removed"}


def test_days_generate_identically_in_any_order(tmp_path: Path) -> None:
    world = _open(tmp_path).world
    acct = next(a for a in world.accounts.values() if a.kind == "checking").account_id
    days = [START + timedelta(days=i) for i in range(0, 40, 3)]
    g1, g2 = Generator(world), Generator(world)
    forward = {d: g1.stories(acct, d) for d in days}
    backward = {d: g2.stories(acct, d) for d in reversed(days)}
    assert forward == backward


def test_same_seed_same_bodies_and_restart(tmp_path: Path) -> None:
    a, b = _open(tmp_path / "a"), _open(tmp_path / "b")
    for item in a.items()[:4]:
        body = {"access_token": item["access_token"], "count": 50}
        while True:
            (sa, ra), (sb, rb) = a.transactions_sync(body), b.transactions_sync(body)
            assert sa == sb == 200 and json.dumps(ra) == json.dumps(rb)
            if not ra["has_more"]:
                break
            body = {**body, "cursor": ra["next_cursor"]}
    status, made = a.public_token_create({"institution_id": "ins_1",
                                          "options": {"override_username": "user_0001"}})
    assert status == 200
    a.advance_to(CLOCK + timedelta(days=3))
    with pytest.raises(ValueError, match="only moves forward"):
        a.advance_to(CLOCK)
    reopened = SandboxBank.open(tmp_path / "a", seed=99, users=1, clock=date(2030, 1, 1))
    assert reopened.clock == CLOCK + timedelta(days=3) and reopened.seed == 7
    assert reopened.items() == a.items()
    status, got = reopened.public_token_exchange({"public_token": made["public_token"]})
    assert status == 200 and got["item_id"] == a.items()[0]["item_id"]
    assert reopened.public_token_exchange(made)[1]["error_code"] == "INVALID_PUBLIC_TOKEN"
    state = (tmp_path / "a" / "state.json").read_text()
    assert "access-sandbox" not in state and made["public_token"] not in state


def test_mutation_during_pagination_and_bad_input(running: RunningBank) -> None:
    api, bank = _api(running.url), running.bank
    token = _link(api, "user_0001", "ins_1")
    first = api.transactions_sync(TransactionsSyncRequest(access_token=token, count=5))
    assert first.has_more
    bank.advance_to(CLOCK + timedelta(days=1))
    body = _expect_error(lambda: api.transactions_sync(TransactionsSyncRequest(
        access_token=token, cursor=first.next_cursor, count=5)),
        "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
    assert body["error_type"] == "TRANSACTIONS_ERROR"
    held: dict[str, dict] = {}
    cursor, _, _ = _sync(api, token, "", held, count=200)  # restart from the start cursor
    assert len(held) == len(bank.truth(token, cursor))
    _expect_error(lambda: api.transactions_sync(TransactionsSyncRequest(
        access_token=token, cursor="not-a-cursor")), "INVALID_FIELD")
    other = next(i["access_token"] for i in bank.items() if i["access_token"] != token)
    assert bank.transactions_sync({"access_token": other, "cursor": cursor})[1][
        "error_code"] == "INVALID_FIELD"
    assert bank.transactions_sync({"access_token": token, "count": 501})[0] == 400


def test_sandbox_endpoints(running: RunningBank) -> None:
    def post(path: str, body: dict) -> dict:
        req = urllib.request.Request(running.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    assert post("/sandbox/clock/get", {}) == {"clock": CLOCK.isoformat()}
    assert post("/sandbox/clock/advance", {"day": "2025-02-03"}) == {"clock": "2025-02-03"}
    items = post("/sandbox/items", {})["items"]
    assert items and all(set(i) == {"user_id", "institution_id", "item_id"} for i in items)
    token = running.bank.items()[0]["access_token"]
    assert post("/sandbox/truth", {"access_token": token, "cursor": None}) == {
        "transactions": [], "reissues": []}


def test_account_types_and_catalog(tmp_path: Path) -> None:
    bank = _open(tmp_path)
    kinds = set()
    for item in bank.items():
        status, body = bank.accounts_get({"access_token": item["access_token"]})
        assert status == 200
        assert all(re.fullmatch(r"\d{4}", a["mask"]) for a in body["accounts"])
        kinds |= {(a["type"], a["subtype"]) for a in body["accounts"]}
    assert {("depository", "checking"), ("depository", "savings"), ("credit", "credit card"),
            ("investment", "brokerage")} <= kinds
    assert any(t == "loan" for t, _ in kinds)
    institutions = bank.institutions()
    assert len(institutions) >= 5 and not all(i["sends_pending"] for i in institutions)
    assert {i["refresh_every_days"] for i in institutions if i["rate_limit_qps"] <= 10} == {3}
    with PFC_CSV.open() as f:
        codes = {row["detailed"] for row in csv.DictReader(f)}
    assert len(merchants.MERCHANTS) >= 250
    assert {m.category for m in merchants.MERCHANTS} <= codes
    assert codes >= merchants.FLOW_CATEGORIES
    assert all(m.mcc.isdigit() and len(m.mcc) == 4 for m in merchants.MERCHANTS)


def test_cli_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bank_main(["--state-dir", str(tmp_path), "--clock", "31/01/2025"])
    assert exc.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bank_main(["--state-dir", str(tmp_path), "--history-start", "2025-02-01",
                   "--clock", "2025-01-01"])
    assert "after clock" in capsys.readouterr().err
