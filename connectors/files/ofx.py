"""OFX and QFX (OFX 1.x SGML with Intuit's tags, OFX 2.x XML) through ``ofxtools``.

``ofxtools`` checks the document against the OFX specification and types every value; a
file it cannot read whole (truncated, broken tags, not OFX) is refused. A posting date is
the bank's calendar day as written (``DTPOSTED``'s first 8 digits), not the instant moved to
UTC, which could land on the next day. OFX amounts are negative for money out; lines come
out in the partner's convention (positive = money out), or as the file says with
``sign="out-positive"`` for a bank that writes them the other way round.

Only the last 4 digits of the account number are kept (``mask``): a full account or card
number is never written anywhere.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.files.statement import FileRefused, Statement, StatementLine, clean_text

# OFX ACCTTYPE -> (Plaid type, Plaid subtype)
BANK_TYPES = {"CHECKING": ("depository", "checking"), "SAVINGS": ("depository", "savings"),
              "MONEYMRKT": ("depository", "money market"), "CD": ("depository", "cd"),
              "CREDITLINE": ("credit", "line of credit")}
HOW_TO = "export the statement again from the bank (OFX/QFX, or CSV)"


def read_ofx(body: bytes, sign: str | None = None) -> Statement:
    """The one bank or card statement an OFX/QFX file holds, or FileRefused."""
    from ofxtools.Parser import OFXTree

    if not body.rstrip(b" \t\r\n\x00\x1a").upper().endswith(b"</OFX>"):
        # SGML closes data elements implicitly: a file cut in its closing part still parses,
        # with a balance cut short ("2411" of "2411.03"); a whole file ends with </OFX>.
        raise FileRefused("the OFX file is cut short (it does not end with </OFX>); " + HOW_TO)
    tree = OFXTree()
    try:
        with warnings.catch_warnings():  # names over 32 characters, Intuit's private tags
            warnings.simplefilter("ignore")
            tree.parse(io.BytesIO(body))
            ofx = tree.convert()
    except Exception as exc:  # noqa: BLE001 - whatever ofxtools finds wrong, one line says it
        raise FileRefused(f"the OFX file cannot be read ({_why(exc)}): it is damaged or not "
                          f"OFX; {HOW_TO}") from None
    statements = [s for s in _statements(ofx) if type(s).__name__ in ("STMTRS", "CCSTMTRS")]
    if not statements:
        raise FileRefused("the OFX file holds no bank or card statement (an investment or "
                          "sign-on only file?); " + HOW_TO)
    if len(statements) > 1:
        masks = ", ".join(f"...{_mask(s) or '?'}" for s in statements)
        raise FileRefused(f"the OFX file holds {len(statements)} accounts' statements ({masks}); "
                          "export one account per file and import each into its own account")
    stmt = statements[0]
    raw = _raw_transactions(tree)
    trns = list(stmt.banktranlist or [])
    if len(raw) != len(trns):
        raise FileRefused("the OFX file's transaction list cannot be read consistently; " + HOW_TO)
    credit = type(stmt).__name__ == "CCSTMTRS"
    kind, subtype = ("credit", "credit card") if credit else BANK_TYPES.get(
        str(getattr(stmt.account, "accttype", "") or ""), ("depository", None))
    flip = Decimal(1) if sign == "out-positive" else Decimal(-1)
    out = Statement(kind=_kind(tree, body), currency=str(stmt.curdef or "") or None,
                    account_type=kind, account_subtype=subtype, mask=_mask(stmt))
    ledger = getattr(stmt, "ledgerbal", None)
    if ledger is not None and ledger.balamt is not None:
        # Plaid's balance of a card or credit line is what is owed (positive).
        out.balance = -ledger.balamt if kind == "credit" else ledger.balamt
    seen: Counter[str] = Counter()
    for i, (trn, el) in enumerate(zip(trns, raw, strict=True), 1):
        where = f"transaction {i} (FITID {str(trn.fitid)[:40]})"
        fitid = str(trn.fitid)
        seen[fitid] += 1
        if seen[fitid] > 1:  # a bank that re-uses an id within one file: keep every line
            fitid = f"{fitid}#{seen[fitid]}"
        out.lines.append(StatementLine(
            posted=_day(el.findtext("DTPOSTED"), where),
            amount=flip * trn.trnamt,
            description=_description(trn, where),
            fitid=fitid,
            authorized=_day(el.findtext("DTUSER"), where) if el.findtext("DTUSER") else None,
            currency=_line_currency(trn),
            where=where))
    if any(n > 1 for n in seen.values()):
        out.notes.append("the bank re-used some transaction ids (FITID) within the file; "
                         "each line was kept")
    return out


def _why(exc: BaseException) -> str:
    from decimal import InvalidOperation

    if isinstance(exc, InvalidOperation):
        return "an amount or balance is not a number"
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _statements(ofx: Any) -> list[Any]:
    try:
        return list(ofx.statements)
    except Exception:  # noqa: BLE001 - no statement messages at all
        return []


def _raw_transactions(tree: Any) -> list[Any]:
    root = tree.getroot()
    return [] if root is None else list(root.iter("STMTTRN"))


def _kind(tree: Any, body: bytes) -> str:
    version = "2.x (XML)" if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml") \
        else "1.x (SGML)"
    intuit = b"<INTU." in body.upper()
    return f"{'QFX' if intuit else 'OFX'} {version}"


def _mask(stmt: Any) -> str | None:
    acctid = str(getattr(stmt.account, "acctid", "") or "")
    digits = "".join(ch for ch in acctid if ch.isalnum())
    return digits[-4:] if len(digits) >= 4 else None


def _day(text: str | None, where: str) -> date:
    """The calendar day a DTPOSTED/DTUSER names, as written (YYYYMMDD...)."""
    s = (text or "").strip()
    try:
        return date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
    except (ValueError, IndexError):
        raise FileRefused(f"{where}: the date {s[:30]!r} is not an OFX date (YYYYMMDD); "
                          + HOW_TO) from None


def _description(trn: Any, where: str) -> str:
    name = clean_text(trn.name or (trn.payee.name if getattr(trn, "payee", None) else ""))
    memo = clean_text(trn.memo)
    if memo and memo.casefold() not in name.casefold():
        name = f"{name} {memo}".strip()
    if not name:
        checknum = clean_text(getattr(trn, "checknum", None))
        name = f"CHECK {checknum}" if checknum else clean_text(trn.trntype)
    return name


def _line_currency(trn: Any) -> str | None:
    currency = getattr(trn, "currency", None)  # the amount is in this currency (not CURDEF)
    return str(currency.cursym) if currency is not None and currency.cursym else None
