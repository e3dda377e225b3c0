"""Split labelled statement lines into the dev and test parts, by merchant.

Usage: ``python -m bench.statements.split PART.csv [PART.csv ...]`` (files with header
``merchant,description,amount,category``) writes the dev part to
``pipelines/categories/reference/statements_dev.csv`` (the check set model reports use) and
the test part to ``bench/statements/test.csv`` (header
``description,amount,category,merchant``, what ``finlake
categorise-eval`` reads).

Every line of one merchant lands on the same side (a seeded hash of the merchant decides,
:data:`TEST_SHARE` of merchants go to test), so nothing learnt from a dev line can name a
test line's merchant. Lines that name no merchant (``generic-*`` groups, labelled
UNCATEGORISED) are split line by line instead. Exact duplicate descriptions are kept once.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).parent
OUT = {"dev": HERE.parents[1] / "pipelines" / "categories" / "reference" / "statements_dev.csv",
       "test": HERE / "test.csv"}
TEST_SHARE = 0.4
SALT = "finlake-statements-1"
OUT_HEADER = ("description", "amount", "category", "merchant")


def side(group: str) -> str:
    h = hashlib.blake2b(f"{SALT}\x00{group}".encode(), digest_size=8).digest()
    return "test" if int.from_bytes(h, "big") / 2.0**64 < TEST_SHARE else "dev"


def split(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {"dev": [], "test": []}
    seen: set[str] = set()
    for r in rows:
        desc = r["description"].strip()
        if not desc or desc in seen:
            continue
        seen.add(desc)
        merchant = " ".join(r["merchant"].lower().split())
        group = desc if merchant.startswith("generic") else merchant
        out[side(group)].append({**r, "description": desc, "merchant": merchant})
    return out


def main(paths: list[str]) -> int:
    rows: list[dict[str, str]] = []
    for p in paths:
        with open(p, newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    parts = split(rows)
    for name, part in parts.items():
        with open(OUT[name], "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(OUT_HEADER)
            for r in sorted(part, key=lambda r: (r["category"], r["merchant"],
                                                 r["description"])):
                w.writerow([r[c] for c in OUT_HEADER])
        print(f"{name}: {len(part)} lines, {len({r['merchant'] for r in part})} merchants")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
