"""Reference data: the category taxonomy and the seeded merchant rules."""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

from pipelines.categories.merchants import normalise_key

REFERENCE_DIR = Path(__file__).parent / "reference"
RULES_VERSION = 1

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


def display_name(code: str | None) -> str:
    if not code:
        return "Uncategorised"
    for c in categories():
        if c["category"] == code:
            return c["display_name"]
        if c["category_primary"] == code:
            return c["primary_display_name"]
    return _DISPLAY.get(code, _pretty(code))


@cache
def merchant_rules() -> list[dict[str, object]]:
    """Seed rules: merchant_key, category, source, version."""
    valid = {c["category"] for c in categories()}
    rules: dict[str, str] = {}
    for line in (REFERENCE_DIR / "merchant_rules_seed.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, _, names = line.partition(":")
        code = code.strip()
        if code not in valid:
            raise ValueError(f"merchant_rules_seed.txt: {code} is not a PFC v2 detailed code")
        for name in names.split(","):
            key = normalise_key(name.strip())
            if key:
                rules.setdefault(key, code)
    return [{"merchant_key": k, "category": v, "source": "seed", "version": RULES_VERSION,
             "votes": None} for k, v in sorted(rules.items())]


@cache
def currencies() -> list[str]:
    return sorted((REFERENCE_DIR / "iso4217.txt").read_text().split())


@cache
def pattern_rules() -> list[dict[str, object]]:
    """Seed pattern rules: priority, pattern (case-insensitive regex), category."""
    valid = {c["category"] for c in categories()}
    out: list[dict[str, object]] = []
    for line in (REFERENCE_DIR / "pattern_rules.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, _, pattern = line.partition(":")
        code, pattern = code.strip(), pattern.strip()
        if code not in valid:
            raise ValueError(f"pattern_rules.txt: {code} is not a PFC v2 detailed code")
        re.compile(pattern)  # a bad pattern fails here, with its line
        out.append({"priority": len(out), "pattern": f"(?i){pattern}", "category": code})
    return out


@cache
def budget_template() -> dict[str, float]:
    """Share of monthly income suggested per primary category for users without history."""
    with open(REFERENCE_DIR / "budget_template.csv", newline="") as fh:
        return {r["category_primary"]: float(r["share_of_income"]) for r in csv.DictReader(fh)}
