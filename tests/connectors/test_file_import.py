"""``finlake import``: a bank's OFX/QFX or CSV file into a person's manual account.

Reading (no lake): every fixture under ``files/`` (a US checking OFX 1.x with SGML headers, an
XML OFX 2.x card statement, a QFX, a US bank, a card, a debit/credit, a UK and a German CSV)
comes out in the partner's sign (positive = money out) with the right days; malformed and
hostile files are refused with one line. Importing (one lake for the module, through the
CLI): the raw contract, the MERGE and gold take the rows like a partner's; the same OFX
twice adds nothing; an overlapping CSV adds only its new lines; two identical purchases on
one day both stay; a refused file writes nothing; forget-user removes all of it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from connectors.files.importing import ManualAccount, transaction_ids
from connectors.files.reading import ReadOptions, read_statement
from connectors.files.statement import MAX_FILE_BYTES, FileRefused
from lake.lake import Lake
from lake.raw import RAW_PREFIX
from lake.small_tables import read_rows
from lake.tables import ACCOUNTS, AUDIT_LOG, QUARANTINE, TRANSACTIONS
from tests.support.lake_fixtures import txn, write_table

FILES = Path(__file__).parent / "files"
USER = "user_0042"


def _read(name: str, **options: str) -> list[tuple[date, D, str]]:
    st = read_statement((FILES / name).read_bytes(), ReadOptions(**options))
    return [(ln.posted, ln.amount, ln.description) for ln in st.lines]


def _refused(body: bytes, **options: str) -> str:
    with pytest.raises(FileRefused) as err:
        read_statement(body, ReadOptions(**options))
    return str(err.value)


# --- reading -------------------------------------------------------------------------------

def test_an_ofx_1_checking_statement_reads_in_the_partners_sign() -> None:
    st = read_statement((FILES / "checking_ofx1.ofx").read_bytes(), ReadOptions())
    assert (st.kind, st.currency, st.account_type, st.account_subtype, st.mask, st.balance) == (
        "OFX 1.x (SGML)", "USD", "depository", "checking", "5678", D("2411.03"))
    lines = [(ln.posted, ln.amount, ln.fitid) for ln in st.lines]
    assert lines[0] == (date(2024, 10, 2), D("5.75"), "202410020")  # a debit: money out
    assert lines[2] == (date(2024, 10, 15), D("-3250.00"), "202410150")  # payroll: money in
    assert st.lines[3].description == "CHECK 1042"


def test_an_ofx_2_card_statement_keeps_the_banks_day_and_never_the_card_number() -> None:
    st = read_statement((FILES / "card_ofx2.ofx").read_bytes(), ReadOptions())
    assert (st.kind, st.account_type, st.mask, st.balance) == (
        "OFX 2.x (XML)", "credit", "1111", D("1287.45"))  # a card's balance is what is owed
    first = st.lines[0]
    # 2024-11-04 00:00 PST is 08:00 UTC: still the 4th; DTUSER is the authorisation day
    assert (first.posted, first.authorized, first.amount) == (
        date(2024, 11, 4), date(2024, 11, 2), D("42.10"))
    assert first.description == "TRADER JOE'S #123 GROCERY STORES"
    assert [ln.amount for ln in st.lines][-2:] == [D("-500.00"), D("-19.99")]  # payment, refund


def test_a_qfx_reads_as_ofx_and_skips_intuits_tags() -> None:
    st = read_statement((FILES / "savings.qfx").read_bytes(), ReadOptions())
    assert (st.kind, st.account_subtype) == ("QFX 1.x (SGML)", "savings")
    assert [(ln.posted, ln.amount) for ln in st.lines] == [
        (date(2024, 11, 30), D("-8.12")), (date(2024, 11, 5), D("-250.00"))]


@pytest.mark.parametrize(("name", "expected"), [
    ("us_bank.csv", (date(2024, 10, 3), D("-3250.00"), "ACH DEPOSIT ACME CORP PAYROLL PPD")),
    ("card_chase.csv", (date(2024, 11, 4), D("42.10"), "TRADER JOE S #123")),  # post date
    ("debit_credit.csv", (date(2024, 11, 18), D("-350.00"), "CAPITAL ONE MOBILE PYMT")),
    ("uk_bank.csv", (date(2024, 11, 8), D("-2310.00"), "SALARY NORTHWIND LTD")),
    ("german.csv", (date(2024, 11, 1), D("1150.00"),
                    "Miete November Wohnung Berliner Str. 12")),
    ("german_later.csv", (date(2024, 12, 2), D("18.36"), "Rundfunk ARD, ZDF, DRadio")),
])
def test_common_csv_layouts_are_recognised(name: str, expected: tuple) -> None:
    assert expected in _read(name)


def test_a_uk_export_says_its_currency_by_its_pound_signs() -> None:
    st = read_statement((FILES / "uk_bank.csv").read_bytes(), ReadOptions())
    assert (st.currency, st.lines[2].amount) == ("GBP", D("-2310.00"))
    assert "dates read as dd/mm/yyyy" in " ".join(st.notes)  # 05/11 could be May 11


def test_a_german_export_reads_decimal_commas_day_first_dates_and_windows_1252() -> None:
    st = read_statement((FILES / "german.csv").read_bytes(), ReadOptions())
    assert st.currency_guess == "EUR" and "decimal comma" in " ".join(st.notes)
    assert [(ln.posted, ln.amount) for ln in st.lines][-3:] == [
        (date(2024, 11, 15), D("-3412.55")), (date(2024, 11, 20), D("4.80")),
        (date(2024, 11, 20), D("4.80"))]
    assert st.lines[-1].description == "Bäckerei Müller Brötchen"


def test_given_columns_formats_and_sign_override_the_inference() -> None:
    body = b"Booked|Text|Value\n2024-03-02|KAFFEE HAUS|4,50\n2024-03-09|REFUND|-1.204,10\n"
    st = read_statement(body, ReadOptions(csv_columns="date=Booked,description=Text,amount=3",
                                          decimal=",", sign="out-positive"))
    assert [(ln.posted, ln.amount) for ln in st.lines] == [
        (date(2024, 3, 2), D("4.50")), (date(2024, 3, 9), D("-1204.10"))]
    us = b"Date,Description,Amount\n03/04/2024,A,-1.00\n"
    assert _read_body(us, date_format="dd/mm/yyyy") == date(2024, 4, 3)
    assert _read_body(us) == date(2024, 3, 4)
    australian = b"Date,Description,Amount\n03/04/2024,A,-1.00\n25/04/2024,B,-2.00\n"
    assert _read_body(australian) == date(2024, 4, 3)  # 25/04 is no month-first date


def _read_body(body: bytes, **options: str) -> date:
    return read_statement(body, ReadOptions(**options)).lines[0].posted


def test_two_identical_lines_get_two_ids_and_the_same_ids_on_every_read() -> None:
    st = read_statement((FILES / "us_bank.csv").read_bytes(), ReadOptions())
    account = ManualAccount(USER, "Joint Checking")
    ids = transaction_ids(account, st.lines)
    assert len(set(ids)) == len(ids) == 6  # the two 5.75 coffees of Oct 1 are two
    later = read_statement((FILES / "us_bank_later.csv").read_bytes(), ReadOptions())
    overlap = set(ids) & set(transaction_ids(account, later.lines))
    assert len(overlap) == 2  # Comcast and Venmo, in both exports
    other = transaction_ids(ManualAccount("user_0043", "Joint Checking"), st.lines)
    assert not set(other) & set(ids)  # namespaced by person and account


def _two_statements() -> bytes:
    body = (FILES / "checking_ofx1.ofx").read_bytes()
    start, end = body.index(b"<STMTTRNRS>"), body.index(b"</STMTTRNRS>") + len(b"</STMTTRNRS>")
    return body[:end] + b"\n" + body[start:end] + body[end:]


@pytest.mark.parametrize(("body", "says"), [
    (b"", "the file is empty"),
    (b"   \r\n\r\n", "the file is empty"),
    (bytes(range(256)) * 40, "binary"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
    ((FILES / "checking_ofx1.ofx").read_bytes()[:900], "the OFX file is cut short"),
    ((FILES / "card_ofx2.ofx").read_bytes().replace(b"<TRNAMT>-42.10", b"<TRNAMT>-42,1O"),
     "OFX file cannot be read (an amount or balance is not a number)"),
    ((FILES / "checking_ofx1.ofx").read_bytes().replace(b"<FITID>202410180\n", b""),
     "Value is required"),
    (b"Date,Details,Sum\n01/02/2024,COFFEE,-3.00\n", "no header line"),
    (b"Date,Description,Amount\n01/02/2024,COFFEE,-3.00\n01/03/2024,TEA\n", "line 3: 2 fields"),
    (b"Date,Description,Amount\n01/02/2024,COFFEE,-3.00\n31/31/2024,TEA,-2.00\n",
     "line 3: cannot read the date '31/31/2024'"),
    (b"Date,Description,Amount\n01/02/2024,COFFEE,-3.00\n01/03/2024,TEA,three\n",
     "line 3: cannot read the amount 'three'"),
    (b"Date,Description,Amount\n", "no transactions"),
    (b'Date,Description,Amount\n01/02/2024,COFFEE,-3.00\n01/03/2024,"TEA', "line 3: 2 fields"),
    (b"Date,Description,Amount\n01/02/2024,COFFEE,-3.00\n01/03/2024,TEA,", "amount is empty"),
    (b"Date,Description,Amount\n01/02/2024,COFFEE,-3.00\n01/03/2024,TEA,-2,50\n",
     "line 3: 4 fields"),
    (b"Date;Description;Amount\n01/02/2024;COFFEE;-3,00\n01/03/2024;TEA;-2.50\n",
     "mix decimal commas and decimal points"),
    (_two_statements(), "holds 2 accounts' statements (...5678, ...5678)"),
])
def test_malformed_files_are_refused_with_one_line(body: bytes, says: str) -> None:
    message = _refused(body)
    assert says in message and "\n" not in message


def test_options_that_do_not_fit_the_file_are_refused() -> None:
    body = (FILES / "us_bank.csv").read_bytes()
    assert "with the columns Datum, Betrag" in _refused(body,
                                                        csv_columns="date=Datum,amount=Betrag")
    assert "--csv-columns 'when=Date': use ROLE=COLUMN" in _refused(body, csv_columns="when=Date")
    assert "it is not dd.mm.yyyy" in _refused(body, date_format="dd.mm.yyyy")
    assert "--date-format 'someday'" in _refused(body, date_format="someday")
    assert "are for CSV files" in _refused((FILES / "savings.qfx").read_bytes(), decimal=",")
    assert "money out and money in in two columns" in _refused(
        (FILES / "uk_bank.csv").read_bytes(), sign="out-positive")


@pytest.mark.parametrize("name", ["checking_ofx1.ofx", "card_ofx2.ofx", "savings.qfx"])
def test_an_ofx_cut_anywhere_is_refused_not_read_in_part(name: str) -> None:
    """SGML closes elements implicitly: a file cut in its closing part would still parse,
    with a balance of "2411" for "2411.03"; every cut short of </OFX> is refused."""
    body = (FILES / name).read_bytes()
    end = body.rstrip().rfind(b"</OFX>")
    read = []
    for cut in range(0, end, 3):
        with contextlib.suppress(FileRefused):
            read.append(read_statement(body[:cut], ReadOptions()))
    assert read == []
    assert read_statement(body.rstrip(), ReadOptions()).lines


def test_a_file_larger_than_a_statement_is_refused_before_it_is_read_whole(tmp_path) -> None:
    from connectors.files.reading import file_bytes

    huge = tmp_path / "huge.csv"
    with huge.open("wb") as fh:
        fh.write(b"Date,Description,Amount\n")
        fh.truncate(MAX_FILE_BYTES + 10)
    with pytest.raises(FileRefused, match="larger than 20 MB"):
        file_bytes(str(huge))
    with pytest.raises(FileRefused, match="is a folder"):
        file_bytes(str(tmp_path))


@pytest.mark.parametrize(("name", "secret"), [("card_ofx2.ofx", b"4111111111111111"),
                                               ("savings.qfx", b"jdoe1984"),
                                               ("savings.qfx", b"7700001234")])
def test_what_lands_holds_no_account_number_nor_the_banks_user_id(tmp_path, name: str,
                                                                  secret: bytes) -> None:
    from datetime import UTC, datetime

    from connectors.files.importing import (
        ImportPlan,
        account_record,
        land_import,
        transaction_record,
    )
    from lake.raw import complete_pages, load_cursor

    st = read_statement((FILES / name).read_bytes(), ReadOptions())
    account = ManualAccount(USER, "Travel Card")
    plan = ImportPlan(added=[transaction_record(account, i, ln, "USD") for i, ln in
                             zip(transaction_ids(account, st.lines), st.lines, strict=True)])
    lake = Lake(str(tmp_path / "lake"))
    day = date(2024, 12, 1)
    keys = land_import(lake.store, account, plan, account_record(account, st, "USD", st.balance,
                                                                  st.mask), day,
                       datetime(2024, 12, 1, 9, tzinfo=UTC))
    assert complete_pages(lake.store, day, USER) == keys  # the manifest is written
    assert load_cursor(lake.store, account.item_id)[1] == 1
    landed = [lake.store.get(k) for k in lake.store.list("")]
    assert landed and not any(secret in body for body in landed)
    page = json.loads(lake.store.get(keys[0]))
    assert page["meta"]["institution_id"] == "manual"
    assert page["response"]["accounts"][0]["mask"] == st.mask


# --- importing through the CLI -------------------------------------------------------------

def _cli(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    from finlake.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        for name, value in {"FINLAKE_HOME": str(home), **(env or {})}.items():
            mp.setenv(name, value)
        mp.delenv("FINLAKE_PARTNER_HOST", raising=False)
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _import(home: Path, name: str, account: str, *more: str) -> tuple[int, str, str]:
    return _cli(home, "import", str(FILES / name), "--user", USER, "--account", account, *more)


def _state(lake: Lake) -> dict:
    """What an import may change: silver rows, accounts, raw objects, table versions."""
    return {"rows": len(read_rows(lake, TRANSACTIONS)), "accounts": len(read_rows(lake, ACCOUNTS)),
            "raw": sorted(lake.store.list(RAW_PREFIX + "/")),
            "versions": {t.name: lake.delta(t).version() for t in (TRANSACTIONS, ACCOUNTS)
                         if lake.delta(t) is not None}}


def _mine(lake: Lake, account: str) -> list[dict]:
    acct = ManualAccount(USER, account).account_id
    return sorted(read_rows(lake, TRANSACTIONS, ds.field("account_id") == acct),
                  key=lambda r: (r["posted_date"], r["amount"]))


@pytest.fixture(scope="module")
def imported(spark, tmp_path_factory) -> dict:  # noqa: ANN001 - spark: the session's engine
    """One home: the person exists (a partner row), then their files are imported. Gold's
    refresh runs for the first import only (it is checked there; tests/pipelines check it
    at length): three imports through gold would take most of a minute on their own."""
    home = tmp_path_factory.mktemp("file_import") / "home"
    lake = Lake(str(home / "lake"))
    write_table(lake, TRANSACTIONS, [txn(USER, 1, date(2024, 10, 3), "12.00", "LYFT RIDE",
                                         "TRANSPORTATION_TAXIS_AND_RIDE_SHARES")])
    runs = {"ofx": _import(home, "checking_ofx1.ofx", "Credit Union Checking")}
    runs["ofx_state"] = _state(lake)
    runs["ofx_again"] = _import(home, "checking_ofx1.ofx", "Credit Union Checking",
                                "--actor", "dashboard")  # as the dashboard's upload runs it
    runs["ofx_again_state"] = _state(lake)
    with pytest.MonkeyPatch.context() as mp:
        from pipelines.gold import refresh

        mp.setattr(refresh, "refresh_gold", lambda *_a, **_k: refresh.GoldResult())
        runs["german"] = _import(home, "german.csv", "Girokonto")
        runs["german_later"] = _import(home, "german_later.csv", "Girokonto")
        runs["german_later_state"] = _state(lake)
        runs["german_later_again"] = _import(home, "german_later.csv", "Girokonto")
        runs["german_later_again_state"] = _state(lake)
    return {"home": home, "lake": lake, **runs}


def test_an_ofx_lands_in_raw_and_merges_into_a_new_manual_account(imported) -> None:
    code, out, err = imported["ofx"]
    assert code == 0, err
    assert "plan: 6 new, 0 changed, 0 already imported" in out
    lake = imported["lake"]
    [acct] = [a for a in read_rows(lake, ACCOUNTS) if a["name"] == "Credit Union Checking"]
    assert (acct["institution_id"], acct["user_id"], acct["type"], acct["mask"],
            acct["balance_current"], acct["currency"]) == (
        "manual", USER, "depository", "5678", D("2411.03"), "USD")
    rows = _mine(lake, "Credit Union Checking")
    assert [r["amount"] for r in rows] == [D("5.75"), D("5.75"), D("-3250.00"), D("1850.00"),
                                           D("84.17"), D("60.00")]
    assert {r["status"] for r in rows} == {"live"}
    assert all(r["raw_ref"].startswith(f"{RAW_PREFIX}/") and f"/user={USER}/" in r["raw_ref"]
               for r in rows)
    salary = next(r for r in rows if r["amount"] == D("-3250.00"))
    assert salary["category"] == "INCOME_SALARY"  # categorised like a partner row
    spend = read_rows(lake, _table("monthly_spend"), ds.field("user_id") == USER)
    assert any(r["month"] == "2024-10" for r in spend)  # gold refreshed
    imports = [r for r in sorted(read_rows(lake, AUDIT_LOG), key=lambda r: r["occurred_at"])
               if r["action"] == "import_file"]
    assert imports[0]["actor"].startswith("cli:") and imports[1]["actor"] == "dashboard"
    audits = [json.loads(r["detail"]) for r in imports]
    assert {"added": 6, "unchanged": 0, "account_created": True}.items() <= audits[0].items()
    assert {"added": 0, "unchanged": 6, "account_created": False}.items() <= audits[1].items()
    assert USER not in json.dumps(audits)


def _table(name: str):  # noqa: ANN202
    from lake.tables import table

    return table(name)


def test_the_same_ofx_imported_twice_adds_nothing(imported) -> None:
    code, out, err = imported["ofx_again"]
    assert code == 0, err
    assert "plan: 0 new, 0 changed, 6 already imported" in out
    assert imported["ofx_again_state"] == imported["ofx_state"]  # no object, no table version


def test_a_european_csv_lands_with_decimal_commas_and_two_identical_purchases(
        imported) -> None:
    code, out, err = imported["german"]
    assert code == 0, err
    assert "plan: 6 new" in out and "EUR from a guess from the file's layout" in out
    rows = _mine(imported["lake"], "Girokonto")
    assert [(r["posted_date"], r["amount"], r["currency"]) for r in rows][:4] == [
        (date(2024, 11, 1), D("1150.00"), "EUR"), (date(2024, 11, 4), D("23.47"), "EUR"),
        (date(2024, 11, 5), D("61.09"), "EUR"), (date(2024, 11, 15), D("-3412.55"), "EUR")]
    rolls = [r for r in rows if r["posted_date"] == date(2024, 11, 20)]
    assert [r["amount"] for r in rolls] == [D("4.80"), D("4.80")]  # both bakery visits
    assert rolls[0]["description"] == "Bäckerei Müller Brötchen"


def test_an_overlapping_csv_adds_only_its_new_lines(imported) -> None:
    code, out, err = imported["german_later"]
    assert code == 0, err
    assert ("plan: 4 new, 0 changed, 3 already imported; the raw contract will hold back 1: "
            "date implausible") in out
    assert "1 quarantined" in out
    rows = _mine(imported["lake"], "Girokonto")
    assert len(rows) == 9 and len({r["partner_txn_id"] for r in rows}) == 9
    assert [r["amount"] for r in rows if r["posted_date"] == date(2024, 11, 20)] == [
        D("4.80"), D("4.80")]  # the overlap's two identical lines matched, not added again
    assert [r["amount"] for r in rows][-3:] == [D("89.90"), D("18.36"), D("72.00")]
    [held] = read_rows(imported["lake"], QUARANTINE)  # the 1985 line, with its reason
    assert (held["reason"], held["user_id"], held["status"]) == (
        "date implausible", USER, "quarantined")
    assert "Kontoführungsgebühr" in held["record"]


def test_the_overlapping_csv_again_adds_nothing_not_even_to_quarantine(imported) -> None:
    code, out, err = imported["german_later_again"]
    assert code == 0, err
    assert "plan: 0 new, 0 changed, 6 already imported, 1 already in quarantine" in out
    assert imported["german_later_again_state"] == imported["german_later_state"]
    assert len(read_rows(imported["lake"], QUARANTINE)) == 1


def test_a_refused_file_writes_nothing(imported, tmp_path) -> None:
    lake = imported["lake"]
    before = _state(lake)
    truncated = tmp_path / "truncated.ofx"
    truncated.write_bytes((FILES / "card_ofx2.ofx").read_bytes()[:1800])
    code, _, err = _cli(imported["home"], "import", str(truncated), "--user", USER,
                        "--account", "Travel Card")
    assert code == 2 and err.count("\n") == 1 and "nothing was imported" in err
    assert "Traceback" not in err
    # a good file into an account of another currency, or with a currency the file denies
    code, _, err = _import(imported["home"], "card_ofx2.ofx", "Girokonto")
    assert code == 2 and "holds EUR amounts and this file's are in USD" in err
    code, _, err = _import(imported["home"], "uk_bank.csv", "Credit Union Checking")
    assert code == 2 and "holds USD amounts and this file's are in GBP" in err  # its £ says so
    code, _, err = _import(imported["home"], "card_ofx2.ofx", "Credit Union Checking")
    assert code == 2 and "the account ending 1111, but 'Credit Union Checking' holds the one " \
        "ending 5678" in err
    code, _, err = _import(imported["home"], "card_ofx2.ofx", "Card", "--currency", "EUR")
    assert code == 2 and "in USD, but --currency says EUR" in err
    code, _, err = _cli(imported["home"], "import", str(FILES / "us_bank.csv"), "--user",
                        "nobody", "--account", "X")
    assert code == 2 and "no user 'nobody'" in err
    assert _state(lake) == before


def test_an_import_waits_for_the_writer_lease_and_writes_nothing_without_it(imported) -> None:
    from tests.support.lease_helpers import writer_elsewhere

    home, lake = imported["home"], imported["lake"]
    before = _state(lake)
    with writer_elsewhere(home / "locks", lake.root, job="nightly"):
        code, out, err = _cli(home, "import", str(FILES / "savings.qfx"), "--user", USER,
                              "--account", "Savings", env={"FINLAKE_WRITER_WAIT": "0"})
    assert code != 0 and "a nightly run (0123456789ab" in err and "raw:" not in out
    assert _state(lake) == before


def test_forget_user_removes_the_imported_rows_accounts_and_raw_objects(imported,
                                                                        tmp_path) -> None:
    from lake.forget import forget, verify_deletion

    copy = tmp_path / "lake"
    shutil.copytree(imported["lake"].root, copy)
    lake = Lake(str(copy))
    manual = {ManualAccount(USER, n).account_id for n in ("Credit Union Checking", "Girokonto")}
    assert manual <= {a["account_id"] for a in read_rows(lake, ACCOUNTS)}
    assert any(f"/user={USER}/item=manual-item-" in k for k in lake.store.list(RAW_PREFIX + "/"))
    deletion = forget(lake, USER, revoke=None, say=lambda _line: None)
    verify_deletion(lake, deletion, say=lambda _line: None)  # raises on any trace left
    assert manual <= deletion.identifiers.accounts
    assert not [a for a in read_rows(lake, ACCOUNTS) if a["user_id"] == USER]
    assert not [r for r in read_rows(lake, TRANSACTIONS) if r["user_id"] == USER]
    assert not [k for k in lake.store.list("") if USER in k or "manual-item-" in k]
    for root, _, names in os.walk(copy):  # no file anywhere names the person's accounts
        for name in names:
            data = (Path(root) / name).read_bytes()
            assert not any(a.encode() in data for a in manual), Path(root) / name
