"""Reference data: the category taxonomy and the seeded merchant rules."""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

from pipelines.categories.merchants import fold_words, normalise_key

REFERENCE_DIR = Path(__file__).parent / "reference"
KNOWLEDGE_DIR = REFERENCE_DIR / "merchants"  # the merchant knowledge base, one CSV per region
KB_HEADER = ("name", "aliases", "category", "country")
# The dev part of the statement corpus (bench/statements: the test part stays there): the
# check set every model report is scored on.
CHECK_SET = REFERENCE_DIR / "statements_dev.csv"
RULES_VERSION = 2

# Display names where the code alone reads badly.
_DISPLAY = {
    "FOOD_AND_DRINK": "Food & drink", "GENERAL_MERCHANDISE": "Shopping",
    "RENT_AND_UTILITIES": "Rent & utilities", "GOVERNMENT_AND_NON_PROFIT": "Government & charity",
    "LOAN_PAYMENTS": "Loan payments", "LOAN_DISBURSEMENTS": "Loan disbursements",
    "TRANSFER_IN": "Transfers in", "TRANSFER_OUT": "Transfers out", "BANK_FEES": "Bank fees",
    "HOME_IMPROVEMENT": "Home", "PERSONAL_CARE": "Personal care",
    "GENERAL_SERVICES": "Services", "UNCATEGORIZED": "Uncategorised",
}


def _pretty(code: str) -> str:
    return code.replace("_AND_", " & ").replace("_", " ").capitalize()


@cache
def categories() -> list[dict[str, str]]:
    """Taxonomy rows: category, category_primary, display_name, primary_display_name."""
    with open(REFERENCE_DIR / "pfc_v2_categories.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        primary, detailed = r["primary"], r["detailed"]
        short = detailed.removeprefix(primary + "_") or detailed
        out.append({
            "category": detailed,
            "category_primary": primary,
            "display_name": _pretty(short),
            "primary_display_name": _DISPLAY.get(primary, _pretty(primary)),
        })
    return out


def primary_of(code: str) -> str:
    """The primary of a detailed code (the longest taxonomy primary it starts with), or the
    code itself when none fits (a custom category, a primary)."""
    best = ""
    for c in categories():
        p = c["category_primary"]
        if (code == p or code.startswith(p + "_")) and len(p) > len(best):
            best = p
    return best or code


# A movement's category named for one direction, and its other direction: a rule or model
# that says "transfer to savings" for money coming in means "transfer from savings". Codes
# of purchases keep their category either way (a refund is still groceries).
_DIRECTIONS = (
    ("TRANSFER_OUT_ACCOUNT_TRANSFER", "TRANSFER_IN_ACCOUNT_TRANSFER"),
    ("TRANSFER_OUT_SAVINGS", "TRANSFER_IN_SAVINGS"),
    ("TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS",
     "TRANSFER_IN_INVESTMENT_AND_RETIREMENT_FUNDS"),
    ("TRANSFER_OUT_WIRE", "TRANSFER_IN_WIRE"),
    ("TRANSFER_OUT_OTHER_TRANSFER_OUT", "TRANSFER_IN_OTHER_TRANSFER_IN"),
    ("TRANSFER_OUT_WITHDRAWAL", "TRANSFER_IN_DEPOSIT"),
    ("LOAN_PAYMENTS_CAR_PAYMENT", "LOAN_DISBURSEMENTS_AUTO"),
    ("LOAN_PAYMENTS_MORTGAGE_PAYMENT", "LOAN_DISBURSEMENTS_MORTGAGE"),
    ("LOAN_PAYMENTS_PERSONAL_LOAN_PAYMENT", "LOAN_DISBURSEMENTS_PERSONAL"),
    ("LOAN_PAYMENTS_STUDENT_LOAN_PAYMENT", "LOAN_DISBURSEMENTS_STUDENT"),
    ("LOAN_PAYMENTS_CASH_ADVANCES", "LOAN_DISBURSEMENTS_CASH_ADVANCES"),
    ("LOAN_PAYMENTS_EWA", "LOAN_DISBURSEMENTS_EWA"),
    ("LOAN_PAYMENTS_OTHER_PAYMENT", "LOAN_DISBURSEMENTS_BNPL"),
    ("GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT", "INCOME_TAX_REFUND"),
    ("RENT_AND_UTILITIES_RENT", "INCOME_RENTAL"),
)
MONEY_IN = {out: in_ for out, in_ in _DIRECTIONS}  # category for a negative amount
MONEY_OUT = {in_: out for out, in_ in _DIRECTIONS}  # category for a positive amount


def directed(code: str | None, amount: float | None) -> str | None:
    """``code`` for a movement of ``amount`` (partner sign: positive leaves the account)."""
    if code is None or amount is None or amount == 0:
        return code
    return (MONEY_IN if amount < 0 else MONEY_OUT).get(code, code)


def display_name(code: str | None) -> str:
    if not code:
        return "Uncategorised"
    for c in categories():
        if c["category"] == code:
            return c["display_name"]
        if c["category_primary"] == code:
            return c["primary_display_name"]
    return _DISPLAY.get(code, _pretty(code))


def _seed_names() -> list[tuple[str, str, str]]:
    """(name, category, where) of the curated seed rules file."""
    valid = {c["category"] for c in categories()}
    out = []
    for n, line in enumerate((REFERENCE_DIR / "merchant_rules_seed.txt").read_text()
                             .splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        code, _, names = line.partition(":")
        code = code.strip()
        if code not in valid:
            raise ValueError(f"merchant_rules_seed.txt: {code} is not a PFC v2 detailed code")
        out += [(name.strip(), code, f"merchant_rules_seed.txt:{n}")
                for name in names.split(",") if name.strip()]
    return out


@cache
def knowledge_base() -> list[dict[str, str]]:
    """The merchant knowledge base: rows of ``name``, ``aliases`` (``|``-separated statement
    spellings), ``category`` (PFC v2 detailed), ``country`` and ``where`` (file:line).
    ValueError naming the file line of a bad row."""
    valid = {c["category"] for c in categories()}
    out: list[dict[str, str]] = []
    for path in sorted(KNOWLEDGE_DIR.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = tuple(next(reader, ()))
            if header != KB_HEADER:
                raise ValueError(f"{path.name}: line 1: header must be {','.join(KB_HEADER)}")
            for fields in reader:
                where = f"{path.name}:{reader.line_num}"
                if not fields or not "".join(fields).strip():
                    continue
                if len(fields) != len(KB_HEADER):
                    raise ValueError(f"{where}: expected {len(KB_HEADER)} fields")
                row = dict(zip(KB_HEADER, (f.strip() for f in fields), strict=True))
                if not row["name"] or row["category"] not in valid:
                    raise ValueError(f"{where}: needs a name and a PFC v2 detailed code, "
                                     f"got {row['name']!r} -> {row['category']!r}")
                out.append({**row, "where": where})
    return out


def rule_names() -> list[tuple[str, str, str]]:
    """Every (spelling, category, where) the seed rules come from: the curated seed file,
    then each knowledge-base name and alias."""
    names = _seed_names()
    for row in knowledge_base():
        for spelling in (row["name"], *row["aliases"].split("|")):
            if spelling.strip():
                names.append((spelling.strip(), row["category"], row["where"]))
    return names


# A spelling whose key is one character (E.ON: ON is read as Ontario; E*TRADE) names no
# merchant on its own; its other spellings still do.
MIN_KEY_LENGTH = 2


def rule_conflicts() -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Keys that two spellings give different categories: (key, [(spelling, category,
    where), ...]). Empty for consistent reference data (a test holds it there)."""
    by_key: dict[str, list[tuple[str, str, str]]] = {}
    for spelling, code, where in rule_names():
        key = normalise_key(spelling)
        if len(key) >= MIN_KEY_LENGTH:
            by_key.setdefault(key, []).append((spelling, code, where))
    return [(k, v) for k, v in sorted(by_key.items()) if len({c for _, c, _ in v}) > 1]


# Trailing words a brand's full name carries that statements often leave out (REGAL
# CINEMAS -> REGAL UA SHERIDAN, CVS PHARMACY -> CVS/PHARMACY): the brand alone is also a key.
_STEM_WORDS = ("cinemas cinema theatres pharmacy pharmacies coffee restaurants supermarket"
               " supermarkets stores foods uk ireland usa us america france deutschland"
               " germany espana spain italia italy nederland netherlands belgium europe")
STEM_WORDS = frozenset(_STEM_WORDS.split())


def _derived(key: str) -> list[str]:
    """Other keys statements give for ``key``: its words squashed (TRADERJOES552..) and
    its brand without a trailing trade / country word (``regal cinemas`` -> ``regal``)."""
    from pipelines.categories.merchants import prefix_ok

    words = key.split()
    out = []
    if len(words) > 1 and len(key) >= 7:
        out.append("".join(words))
    stem = list(words)
    while len(stem) > 1 and stem[-1] in STEM_WORDS:
        stem.pop()
    if len(stem) < len(words) and len(stem[0]) >= 4 and prefix_ok(" ".join(stem)) \
            and len(stem) == 1:
        out.append(stem[0])
    return out


@cache
def merchant_rules() -> list[dict[str, object]]:
    """Seed rules: merchant_key, category, source, version. A key two spellings disagree on
    keeps the first (the curated seed file, then the knowledge base in file order; a test
    keeps the reference data free of such keys). Keys derived from them (:func:`_derived`)
    come after, and one that two merchants of different categories derive is left out."""
    from pipelines.categories.merchants import is_generic

    rules: dict[str, str] = {}
    for spelling, code, _ in rule_names():
        key = normalise_key(spelling)
        if len(key) >= MIN_KEY_LENGTH and not is_generic(key):
            rules.setdefault(key, code)
    derived: dict[str, set[str]] = {}
    for key, code in rules.items():
        for d in _derived(key):
            if d not in rules and not is_generic(d):
                derived.setdefault(d, set()).add(code)
    rules.update({d: next(iter(c)) for d, c in derived.items() if len(c) == 1})
    return [{"merchant_key": k, "category": v, "source": "seed", "version": RULES_VERSION,
             "votes": None} for k, v in sorted(rules.items())]


@cache
def keyword_cues() -> dict[str, str]:
    """Trade words of the knowledge base (``keywords.csv``: keyword, category, language),
    folded like merchant keys: ``Bäckerei`` -> ``backerei``; both spellings are listed there
    when statements write ``BAECKEREI``."""
    valid = {c["category"] for c in categories()}
    out: dict[str, str] = {}
    with open(REFERENCE_DIR / "keywords.csv", newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), 2):
            if row["category"] not in valid:
                raise ValueError(f"keywords.csv:{n}: {row['category']!r} is not a PFC v2 "
                                 "detailed code")
            word = fold_words(row["keyword"])
            if word:
                out.setdefault(word, row["category"])
    return out


@cache
def currencies() -> list[str]:
    return sorted((REFERENCE_DIR / "iso4217.txt").read_text().split())


PATTERN_SCHEMA = "priority int, pattern string, category string, stage string"
PATTERN_STAGES = ("first", "after", "fallback")
_SECTIONS = {"[before merchant rules]": "first", "[after merchant rules]": "after",
             "[when nothing else decides]": "fallback"}


@cache
def pattern_rules() -> list[dict[str, object]]:
    """Seed pattern rules: priority, pattern (case-insensitive regex), category and
    ``stage``, the file's section: ``first`` decides before the merchant's rule (a salary
    paid by a supermarket), ``after`` when no merchant rule knows the key, ``fallback`` only
    when the model does not answer either (FPO J SMITH: a person, unless the name says
    more, as in FPO HARRIS SOLICITORS)."""
    valid = {c["category"] for c in categories()}
    out: list[dict[str, object]] = []
    stage = "after"
    for n, line in enumerate((REFERENCE_DIR / "pattern_rules.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.strip() in _SECTIONS:
            stage = _SECTIONS[line.strip()]
            continue
        code, _, pattern = line.partition(":")
        code, pattern = code.strip(), pattern.strip()
        if code not in valid:
            raise ValueError(f"pattern_rules.txt:{n}: {code} is not a PFC v2 detailed code")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern_rules.txt:{n}: bad pattern: {exc}") from None
        out.append({"priority": len(out), "pattern": f"(?i){pattern}", "category": code,
                    "stage": stage})
    return out


@cache
def budget_template() -> dict[str, float]:
    """Share of monthly income suggested per primary category for users without history."""
    with open(REFERENCE_DIR / "budget_template.csv", newline="") as fh:
        return {r["category_primary"]: float(r["share_of_income"]) for r in csv.DictReader(fh)}
