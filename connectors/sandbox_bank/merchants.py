"""Merchant catalog, special money flows and raw statement description rendering."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import date

from connectors.sandbox_bank.catalog import GROUPS

# Default raw-description templates per merchant style (see :func:`render` for placeholders).
STYLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pos": ("{TOK} #{n4} {CITY} {ST}", "POS DEBIT {n4} {TOK} {CITY} {ST}",
            "CHECKCARD {MMDD} {TOK} {CITY} {ST}",
            "PURCHASE AUTHORIZED ON {MMDD} {TOK} {CITY} {ST} S{n15} CARD {n4}"),
    "sq": ("SQ *{TOK} {CITY} {ST}", "SQ *{TOK} {n4}", "CHECKCARD {MMDD} SQ *{TOK} {CITY} {ST}",
           "{TOK} {CITY} {ST}"),
    "tst": ("TST* {TOK} {CITY} {ST}", "TST* {TOK} - {CITY}", "POS DEBIT {n4} TST* {TOK}",
            "{TOK} {CITY} {ST}"),
    "web": ("{TOK}.COM {PHONE} {ST}", "{TOK}*{a6}", "PAYPAL *{TOKNS} {n10} {ST}",
            "CHECKCARD {MMDD} {TOK}.COM {ST}"),
    "bill": ("{TOK} {PHONE} {ST}", "{TOK} AUTOPAY {MMDD}", "ACH DEBIT {TOK} BILLPAY {n10}",
             "{TOK} ONLINE PMT {n8}"),
    "gas": ("{TOK} {n8} {CITY} {ST}", "POS DEBIT {n4} {TOK} {n2}", "{TOK} #{n5} {CITY} {ST}"),
    "svc": ("{TOK} {CITY} {ST}", "CHECKCARD {MMDD} {TOK} {CITY} {ST}", "{TOK} {PHONE} {ST}"),
    "gov": ("{TOK} PAYMENT {n10}", "{TOK} {PHONE} {ST}"),
}
WEB_STYLES = frozenset({"web", "bill"})
LOCALITIES = ("MAIN ST", "DOWNTOWN", "UNION SQ", "MIDTOWN", "WESTFIELD", "HARBOR", "NORTH",
              "MARKET", "CENTRAL", "EASTGATE", "HILLCREST", "RIVERSIDE", "AIRPORT", "VALLEY")


@dataclass(frozen=True)
class Merchant:
    """One merchant of the catalog; ``category`` is the true PFC v2 detailed code."""

    name: str
    templates: tuple[str, ...]
    category: str
    mcc: str
    amount_range: tuple[float, float]
    weight: float
    group: str
    channel: str  # "in store" | "online"
    recurring: bool

    @property
    def token(self) -> str:
        return statement_token(self.name)


@dataclass(frozen=True)
class Flow:
    """A special money flow (payroll, transfers, fees...): not a catalog merchant."""

    key: str
    category: str
    templates: tuple[str, ...]
    merchant_name: str | None = None
    mcc: str | None = None
    channel: str = "other"


def statement_token(name: str) -> str:
    """Upper-case, punctuation-light, truncated name as banks print it."""
    tok = re.sub(r"[^A-Z0-9&*\- ]", "", name.upper().replace("'", ""))
    return " ".join(tok.split())[:22].strip()


def _expand(spec: tuple) -> list[Merchant]:
    group, category, mcc, lo, hi, weight, style, recurring, entries = spec
    out: list[Merchant] = []
    for i, raw in enumerate(e.strip() for e in entries.split(";") if e.strip()):
        head, *templates = raw.split("|")
        name, _, own_mcc = head.partition("@")
        out.append(Merchant(
            name=name.strip(), templates=tuple(templates) or STYLE_TEMPLATES[style],
            category=category, mcc=own_mcc or mcc, amount_range=(lo, hi),
            weight=round(weight / (1.0 + 0.25 * i), 4), group=group,
            channel="online" if style in WEB_STYLES else "in store", recurring=recurring))
    return out


MERCHANTS: tuple[Merchant, ...] = tuple(m for g in GROUPS for m in _expand(g))
SPEND: tuple[Merchant, ...] = tuple(m for m in MERCHANTS if not m.recurring)
_SPEND_CUM: list[float] = []
for _m in SPEND:
    _SPEND_CUM.append((_SPEND_CUM[-1] if _SPEND_CUM else 0.0) + _m.weight)
RESTAURANT_GROUPS = frozenset({"restaurant", "delivery"})
_RESTAURANT_TOKENS = tuple(m.token for m in MERCHANTS if m.group in {"restaurant", "fast_food"})


def by_group(group: str) -> tuple[Merchant, ...]:
    """Merchants of one catalog group, in catalog order."""
    return tuple(m for m in MERCHANTS if m.group == group)


def pick_spend(rng: random.Random) -> Merchant:
    """Draw a purchase merchant according to frequency weights."""
    return rng.choices(SPEND, cum_weights=_SPEND_CUM)[0]


def pick_amount(lo: float, hi: float, rng: random.Random) -> float:
    """Log-uniform amount in [lo, hi], 2 decimals."""
    return round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 2)


def subscription_price(lo: float, hi: float, rng: random.Random) -> float:
    """A fixed "x.99"-style monthly price."""
    return max(round(lo, 2), round(math.floor(rng.uniform(lo, hi)) + 0.99, 2))


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_DOW = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def render(template: str, rng: random.Random, day: date, *, city: str, state: str,
           token: str = "", extra: dict[str, str] | None = None) -> str:
    """Fill a description template.

    Placeholders: ``{nK}`` K random digits, ``{aK}`` K random upper-case alphanumerics,
    ``{MMDD}`` the authorization day, ``{DOW}`` its weekday, ``{CITY}``/``{ST}`` the
    location, ``{TOK}`` the merchant's statement token (``{TOKNS}`` without spaces),
    ``{TOK2}`` a secondary token (store locality, or restaurant for delivery apps),
    ``{PHONE}`` a customer-service number, plus any key of ``extra``.
    """
    extra = extra or {}

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in extra:
            return extra[key]
        if key[0] == "n" and key[1:].isdigit():
            return "".join(rng.choice("0123456789") for _ in range(int(key[1:])))
        if key[0] == "a" and key[1:].isdigit():
            return "".join(rng.choice(_ALNUM) for _ in range(int(key[1:])))
        values = {
            "MMDD": f"{day.month:02d}{day.day:02d}", "DOW": _DOW[day.weekday()],
            "CITY": city[:13], "ST": state, "TOK": token, "TOKNS": token.replace(" ", ""),
        }
        if key in values:
            return values[key]
        if key == "TOK2":
            pool = _RESTAURANT_TOKENS if "DASH" in template or "GRUB" in template else LOCALITIES
            return rng.choice(pool)[:14]
        if key == "PHONE":
            return f"{rng.choice(('800', '855', '866', '877', '888'))}-{rng.randint(200, 999)}-" \
                   f"{rng.randint(1000, 9999)}"
        raise KeyError(f"unknown placeholder {{{key}}} in template {template!r}")

    return " ".join(_PLACEHOLDER.sub(fill, template).split())


def clean_description(raw: str) -> str:
    """What an enrichment pass would make of a raw description (used for modifications)."""
    text = re.sub(r"^(POS DEBIT \d+|CHECKCARD \d{4}|PURCHASE AUTHORIZED ON \d{4})\s+", "", raw)
    text = re.sub(r"\s*(#\s?\d+|\bS\d{6,}|\bCARD \d{4}|\d{3}-\d{3}-\d{4}|\b\d{4,}\b)", "", text)
    return " ".join(text.split()) or raw


FLOWS: dict[str, Flow] = {f.key: f for f in (
    Flow("payroll", "INCOME_SALARY", ("{EMP} PAYROLL PPD ID: {n10}", "DIRECT DEP {EMP} DIR DEP",
         "ACH CREDIT {EMP} PAYROLL {n6}")),
    Flow("rent", "RENT_AND_UTILITIES_RENT", ("{LANDLORD} RENT WEB PMT {n8}",
         "ONLINE PMT {LANDLORD} RENT {n6}", "ZELLE PAYMENT TO {LANDLORD} {n10}")),
    Flow("mortgage_out", "LOAN_PAYMENTS_MORTGAGE_PAYMENT", ("{BANK} MORTGAGE PMT {n6}",
         "ACH DEBIT {BANK} MTG PAYMENT {n10}")),
    Flow("student_out", "LOAN_PAYMENTS_STUDENT_LOAN_PAYMENT", ("{BANK} STUDENT LN PMT {n8}",
         "ACH DEBIT {BANK} LOAN PAYMT {n10}")),
    Flow("loan_in", "TRANSFER_IN_ACCOUNT_TRANSFER", ("PAYMENT RECEIVED - THANK YOU",
         "LOAN PAYMENT {n6}")),
    Flow("card_pay_out", "TRANSFER_OUT_ACCOUNT_TRANSFER", ("{BANK} CREDIT CRD EPAY {n10}",
         "ONLINE TRANSFER TO CARD ...{MASK} CONF# {a8}", "AUTOPAY {BANK} CARD {MASK}")),
    Flow("card_pay_in", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", ("PAYMENT THANK YOU",
         "AUTOPAY PAYMENT - THANK YOU", "ONLINE PAYMENT, THANK YOU")),
    Flow("savings_out", "TRANSFER_OUT_SAVINGS", ("ONLINE TRANSFER TO SAV ...{MASK}",
         "RECURRING TRANSFER TO {BANK} SAVINGS {MASK}")),
    Flow("savings_in", "TRANSFER_IN_SAVINGS", ("ONLINE TRANSFER FROM CHK ...{MASK}",
         "RECURRING TRANSFER FROM {BANK} CHK {MASK}")),
    Flow("xfer_out", "TRANSFER_OUT_ACCOUNT_TRANSFER", ("ONLINE TRANSFER TO {BANK} CHK {MASK}",
         "EXTERNAL TRANSFER TO {BANK} XXXXXX{MASK}")),
    Flow("xfer_in", "TRANSFER_IN_ACCOUNT_TRANSFER", ("ONLINE TRANSFER FROM {BANK} CHK {MASK}",
         "EXTERNAL TRANSFER FROM {BANK} XXXXXX{MASK}")),
    Flow("savings_withdraw", "TRANSFER_OUT_ACCOUNT_TRANSFER", ("ONLINE TRANSFER TO CHK"
         " CONF# {a8}",)),
    Flow("interest", "INCOME_INTEREST_EARNED", ("INTEREST PAYMENT", "INTEREST EARNED",
         "INTEREST PAID")),
    Flow("invest_out", "TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS",
         ("{BANK} DES:MONEYLINE ID:{n10}", "ACH DEBIT {BANK} BROKERAGE {n8}")),
    Flow("invest_in", "TRANSFER_IN_INVESTMENT_AND_RETIREMENT_FUNDS",
         ("ELECTRONIC FUNDS TRANSFER RECEIVED", "ACH DEPOSIT {n8}")),
    Flow("dividend", "INCOME_DIVIDENDS", ("DIVIDEND RECEIVED {TICKER}",
         "QUALIFIED DIVIDEND {TICKER}", "CASH DIV ON {n3} SHS {TICKER}")),
    Flow("atm", "TRANSFER_OUT_WITHDRAWAL", ("ATM WITHDRAWAL {n6} {n4} {TOK2} {CITY} {ST}",
         "NON-{BANK} ATM WITHDRAWAL {CITY} {ST}")),
    Flow("atm_fee", "BANK_FEES_ATM_FEES", ("NON-{BANK} ATM FEE", "ATM FEE-WITHDRAWAL")),
    Flow("maintenance_fee", "BANK_FEES_OTHER_BANK_FEES", ("MONTHLY MAINTENANCE FEE",
         "SERVICE CHARGE")),
    Flow("overdraft_fee", "BANK_FEES_OVERDRAFT_FEES", ("OVERDRAFT ITEM FEE {n6}",
         "OVERDRAFT FEE FOR A TRANSACTION")),
    Flow("foreign_fee", "BANK_FEES_FOREIGN_TRANSACTION_FEES", ("FOREIGN TRANSACTION FEE",
         "INTL TRANSACTION FEE")),
    Flow("interest_charge", "BANK_FEES_INTEREST_CHARGE", ("INTEREST CHARGE ON PURCHASES",
         "PURCHASE INTEREST CHARGE")),
    Flow("late_fee", "BANK_FEES_LATE_FEES", ("LATE FEE", "LATE PAYMENT FEE")),
    Flow("venmo_out", "TRANSFER_OUT_ACCOUNT_TRANSFER", ("VENMO PAYMENT {n10}",
         "ZELLE PAYMENT TO {PERSON} {a9}"), merchant_name="Venmo"),
    Flow("zelle_in", "TRANSFER_IN_ACCOUNT_TRANSFER", ("ZELLE FROM {PERSON} ON {MMDD} REF #"
         " {a9}", "VENMO CASHOUT {n10}")),
    Flow("tax_refund", "INCOME_TAX_REFUND", ("IRS TREAS 310 TAX REF {n6}",
         "US TREASURY 310 TAX REF")),
)}
FLOW_CATEGORIES = frozenset(f.category for f in FLOWS.values())
