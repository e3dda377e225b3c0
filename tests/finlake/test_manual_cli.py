"""``finlake manual account`` and ``finlake manual transaction`` (issue 24, item 4), and the
``--json``/``--actor`` of ``finlake duplicate keep`` the dashboard runs (issue 23, item 3).

One lake for the module, the commands run in-process: the account and a transaction land in
raw and merge into silver like an imported file's rows (gold's refresh is stubbed here: the
dashboard's test runs it through the real child); the same entry sent twice is one
transaction, two entries of the same purchase are two; a category given is the person's own.
Everything hostile is refused with one line, exit status 2 and nothing written."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from connectors.files.importing import MANUAL_TYPES, ManualAccount
from lake.lake import Lake
from lake.raw import RAW_PREFIX
from lake.small_tables import read_rows
from lake.tables import ACCOUNTS, AUDIT_LOG, TRANSACTION_OVERRIDES, TRANSACTIONS
from tests.support.lake_fixtures import txn, write_table

USER, OTHER = "user_0042", "user_0043"
HTML = "<img src=x onerror=alert(1)> Farmers market"


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    from finlake.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        mp.setenv("FINLAKE_HOME", str(home))
        for name in ("FINLAKE_PARTNER_HOST", "FINLAKE_S3_BUCKET", "FINLAKE_ENV"):
            mp.delenv(name, raising=False)
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's refusals
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _state(lake: Lake) -> dict[str, Any]:
    return {"raw": sorted(lake.store.list(RAW_PREFIX + "/")),
            "versions": {t.name: lake.delta(t).version() for t in (TRANSACTIONS, ACCOUNTS)
                         if lake.delta(t) is not None}}


def _wallet(lake: Lake, user: str = USER) -> list[dict[str, Any]]:
    acct = ManualAccount(user, "Wallet").account_id
    return sorted(read_rows(lake, TRANSACTIONS, ds.field("account_id") == acct),
                  key=lambda r: r["partner_txn_id"])


def _account(lake: Lake, name: str, user: str = USER) -> dict[str, Any]:
    [acct] = [a for a in read_rows(lake, ACCOUNTS)
              if a["account_id"] == ManualAccount(user, name).account_id]
    return acct


TXN = ("manual", "transaction", "--user", USER, "--account", "wallet", "--date", "2024-10-05",
       f"--description={HTML}", "--amount", "12.50", "--direction", "out")


@pytest.fixture(scope="module")
def made(spark, tmp_path_factory) -> dict[str, Any]:  # noqa: ANN001 - spark: the session's engine
    """The two people exist (a partner row each; the person has a linked checking account);
    then the commands run, the state after each kept."""
    home = tmp_path_factory.mktemp("manual_cli") / "home"
    lake = Lake(str(home / "lake"))
    write_table(lake, TRANSACTIONS, [
        txn(USER, 1, date(2024, 10, 3), "12.00", "LYFT RIDE",
            "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
        txn(OTHER, 1, date(2024, 10, 3), "8.00", "BUS", "TRANSPORTATION_PUBLIC_TRANSIT")])
    write_table(lake, ACCOUNTS, [{
        "account_id": f"{USER}-checking", "user_id": USER, "item_id": f"{USER}-item",
        "institution_id": "ins_1", "name": "Everyday Checking", "type": "depository",
        "subtype": "checking", "currency": "USD"}])
    out: dict[str, Any] = {"home": home, "lake": lake}
    with pytest.MonkeyPatch.context() as mp:
        from pipelines.gold import refresh

        mp.setattr(refresh, "refresh_gold", lambda *_a, **_k: refresh.GoldResult())
        out["account"] = _cli(home, "manual", "account", "--user", USER, "--name", " Wallet ",
                              "--type", "cash", "--currency", "usd", "--balance", "100")
        out["first"] = _cli(home, *TXN, "--entry-id", "form-1")
        out["first_state"] = _state(lake)
        out["again"] = _cli(home, *TXN, "--entry-id", "form-1")
        out["again_state"] = _state(lake)
        out["second"] = _cli(home, *TXN, "--entry-id", "form-2", "--json", "--actor",
                             "dashboard")
        out["salary"] = _cli(home, "manual", "transaction", "--user", USER, "--account",
                             "Wallet", "--date", "2024-10-06", "--description", "Cash gift",
                             "--amount", "40", "--direction", "in", "--category",
                             "INCOME_OTHER")
    return out


def test_the_type_names_the_cli_offers_are_the_accounts_types() -> None:
    from finlake.commands.manual import TYPE_NAMES

    assert tuple(MANUAL_TYPES) == TYPE_NAMES


def test_a_manual_account_lands_and_merges_with_no_transaction(made) -> None:
    code, out, err = made["account"]
    assert code == 0, err
    assert "Added the manual account Wallet (cash, USD)" in out
    acct = _account(made["lake"], "Wallet")
    assert (acct["user_id"], acct["institution_id"], acct["type"], acct["subtype"],
            acct["currency"], acct["name"]) == (USER, "manual", "depository", "cash", "USD",
                                                "Wallet")
    assert any(f"/user={USER}/item=manual-item-" in k
               for k in made["lake"].store.list(RAW_PREFIX + "/"))


def test_a_transaction_goes_through_raw_and_the_merge_and_moves_the_balance(made) -> None:
    code, out, err = made["first"]
    assert code == 0, err
    [row] = [r for r in _wallet(made["lake"]) if r["amount"] == D("12.50")][:1]
    assert (row["description"], row["posted_date"], row["status"], row["currency"]) == (
        HTML, date(2024, 10, 5), "live", "USD")  # stored as typed; shown as text
    assert row["raw_ref"].startswith(f"{RAW_PREFIX}/")


def test_the_same_entry_sent_twice_is_one_transaction(made) -> None:
    code, out, err = made["again"]
    assert code == 0, err
    assert "Already added (the same entry was sent again)" in out
    assert made["again_state"] == made["first_state"]  # no raw object, no table version


def test_two_entries_of_the_same_purchase_are_two(made) -> None:
    code, out, err = made["second"]
    assert code == 0, err
    steps = [json.loads(line) for line in out.splitlines()]
    assert [s["step"] for s in steps][-1] == "done" and steps[-1]["added"] == 1
    rows = [r for r in _wallet(made["lake"]) if r["amount"] == D("12.50")]
    assert len(rows) == 2 and len({r["partner_txn_id"] for r in rows}) == 2
    actors = [(r["actor"], r["action"]) for r in read_rows(made["lake"], AUDIT_LOG)
              if r["action"].startswith("add_manual")]
    assert ("dashboard", "add_manual_transaction") in actors
    assert USER not in json.dumps([r["detail"] for r in read_rows(made["lake"], AUDIT_LOG)])


def test_money_in_with_the_persons_category(made) -> None:
    code, out, err = made["salary"]
    assert code == 0, err
    [gift] = [r for r in _wallet(made["lake"]) if r["description"] == "Cash gift"]
    assert (gift["amount"], gift["user_category"]) == (D("-40.00"), "INCOME_OTHER")
    [override] = [o for o in read_rows(made["lake"], TRANSACTION_OVERRIDES)
                  if o["txn_id"] == gift["txn_id"]]
    assert (override["user_id"], override["category"], override["source"]) == (
        USER, "INCOME_OTHER", "cli")
    # 100 - 12.50 - 12.50 + 40 (the same entry again moved nothing)
    assert _account(made["lake"], "Wallet")["balance_current"] == D("115.00")


TOMORROW_BUT_ONE = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()


@pytest.mark.parametrize(("change", "says"), [
    ({"--amount": "1e400"}, "--amount must be more than 0 and less than 1,000,000,000"),
    ({"--amount": "NaN"}, "--amount 'NaN' is not a number"),
    ({"--amount": "12.345"}, "--amount '12.345' has more than two decimals"),
    ({"--amount": "-5"}, "--amount must be more than 0"),
    ({"--date": "2999-01-01"}, "2999-01-01 is not a day a transaction happened"),
    ({"--date": TOMORROW_BUT_ONE}, "is not a day a transaction happened"),
    ({"--date": "1985-06-01"}, "1985-06-01 is not a day a transaction happened"),
    ({"--date": "05/10/2024"}, "'05/10/2024' is not a date; use YYYY-MM-DD"),
    ({"--description": "   "}, "give a description of 1 to 1000 printable characters"),
    ({"--description": "x" * 1001}, "give a description of 1 to 1000"),
    ({"--description": "line\u2028break\x07"}, "printable characters"),
    ({"--account": "Everyday Checking"}, "no manual account named 'Everyday Checking'"),
    ({"--category": "NOT_A_CATEGORY"}, "unknown category 'NOT_A_CATEGORY'"),
    ({"--user": "nobody"}, "no user 'nobody' in this lake"),
    ({"--user": OTHER}, "you have no manual account named 'wallet'"),  # another's account
])
def test_hostile_transactions_are_refused_with_one_line(made, change: dict[str, str],
                                                        says: str) -> None:
    argv = [a for a in TXN if not a.startswith("--description=")] + [
        "--description", HTML, "--category", "FOOD_AND_DRINK_COFFEE"]
    for flag, value in change.items():
        argv[argv.index(flag) + 1] = value
    before = _state(made["lake"])
    code, out, err = _cli(made["home"], *[a for a in argv if a != "--json"])
    assert code == 2, out + err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert err.endswith("nothing was changed\n")
    assert _state(made["lake"]) == before


@pytest.mark.parametrize(("argv", "says"), [
    (("--name", "WALLET"), "you already have a manual account named 'Wallet'"),
    (("--name", "everyday  checking"), "is the name of an account linked through your bank"),
    (("--name", "x" * 101), "give the account a name of 1 to 100 printable characters"),
    (("--currency", "ZZZ"), "--currency 'ZZZ' is not an ISO 4217 code"),
    (("--balance", "NaN"), "--balance 'NaN' is not a number"),
    (("--balance", "1e400"), "--balance must be less than 1,000,000,000,000"),
    (("--balance", "0.001"), "more than two decimals"),
])
def test_hostile_accounts_are_refused_with_one_line(made, argv: tuple[str, str],
                                                    says: str) -> None:
    base = {"--name": "Piggy bank", "--type": "savings", "--currency": "EUR", "--balance": "1"}
    base[argv[0]] = argv[1]
    before = _state(made["lake"])
    code, out, err = _cli(made["home"], "manual", "account", "--user", USER, "--json",
                          *[x for kv in base.items() for x in kv])
    assert code == 2, out + err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert json.loads(out)["step"] == "error" and says in json.loads(out)["text"]
    assert _state(made["lake"]) == before


def test_an_unknown_type_is_refused_by_the_parser(tmp_path: Path) -> None:
    code, _, err = _cli(tmp_path, "manual", "account", "--user", USER, "--name", "Coins",
                        "--type", "bitcoin", "--currency", "USD")
    assert code == 2 and "invalid choice: 'bitcoin'" in err and err.count("\n") == 1


# --- finlake duplicate keep --json --actor dashboard ----------------------------------------

def test_duplicate_keep_speaks_json_and_names_its_actor(made, monkeypatch) -> None:
    from pipelines.corrections import duplicates

    kept: list[tuple[str, str, str]] = []

    def keep(spark: Any, lake: Lake, user_id: str, txn_id: str, source: str = "cli") -> dict:
        kept.append((user_id, txn_id, source))
        if txn_id.startswith("0"):
            raise duplicates.NotFlagged(f"transaction {txn_id} is not flagged as a probable "
                                        "duplicate (status live)")
        return {"user_id": user_id, "txn_id": txn_id, "month": "2024-10", "kept": True,
                "already_kept": False, "rows_changed": 1}

    monkeypatch.setattr(duplicates, "keep_transaction", keep)
    code, out, err = _cli(made["home"], "duplicate", "keep", "--user", USER, "--transaction",
                          "b" * 32, "--json", "--actor", "dashboard")
    assert code == 0, err
    steps = [json.loads(line) for line in out.splitlines()]
    assert [s["step"] for s in steps] == ["keeping", "kept"] and steps[1]["txn_id"] == "b" * 32
    assert kept == [(USER, "b" * 32, "dashboard")]
    assert [r["actor"] for r in read_rows(made["lake"], AUDIT_LOG)
            if r["action"] == "keep_duplicate"] == ["dashboard"]
    code, out, err = _cli(made["home"], "duplicate", "keep", "--user", USER, "--transaction",
                          "0" * 32, "--json", "--actor", "dashboard")
    assert code == 2 and json.loads(out.splitlines()[-1])["step"] == "error"
    assert "is not flagged" in err and err.count("\n") == 1
