"""Seeded generator of hostile partner pages (``/transactions/sync`` envelopes) for fuzz tests.

Every record is either good (valid under the raw contract, often hostile: unicode, SQL and
HTML text, boundary lengths, dates and amounts) or carries exactly one named mutation that
breaks one rule. A few pages are broken as a whole and a few have a section that is not a list.
Good amounts never sit on a half cent, and their rounded cents are odd for pending records and
even for posted ones, so no pending row can be matched to a posted one by amount.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

ACCOUNTS = ("acc_1", "acc_ü_2", "acc_" + "9" * 124)  # the last is exactly 128 characters
SECTIONS = ("added", "modified", "removed")
LOWER = date(1990, 1, 1)

NAMES = (
    "STARBUCKS #123", "Café ☕ — naïve Cafe\u0301", "مقهى القدس", "קפה גן", "\u202eRTL override",
    "東京ラーメン 一蘭", "🍕🍺 Pizza & Beer 👨\u200d👩\u200d👧", "'; DROP TABLE x;--",
    "<script>alert(1)</script>", 'He said "hi" \\ back\\slash\nnew line\ttab\r',
    "Z̤͔ͅa̲l̝g͎o combining", "%s %d {0} ${x} \\u0041", "line\u2028sep\u2029", "NUL\x00inside",
    "  padded  ", "", "Amazon Mktp US*2K3", "UBER   *TRIP", "x" * 1000, "東" * 1000,
    "🍕a" * 500,
)
CHANNELS = ("online", "in store", "other", None, "", "c" * 64)
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP", "JPY", "CHF", "KWD")
EXTRAS = (
    ("category", ["Food and Drink", "Restaurants"]),
    ("location", {"city": "Zürich", "lat": None, "nested": {"deep": [1, [2, [3]]]}}),
    ("personal_finance_category", {"primary": "FOOD_AND_DRINK", "confidence": "HIGH"}),
    ("x_unknown_🙂", ["'; DROP TABLE y;--", None, True, 1.5]),
    ("logo_url", None),
)
PAGE_MUTATIONS = ("truncated", "empty", "binary_garbage", "json_array", "response_null",
                  "response_string", "meta_missing", "meta_not_object")
SECTION_MUTATIONS = ("section_string", "section_number", "section_object")
_BIG = "@@1e400@@"  # replaced by the bare token 1e400 after dumping
_DROP = object()


def _with(rec: Any, key: str, value: Any = _DROP) -> dict:
    out = dict(rec)
    if value is _DROP:
        out.pop(key, None)
    else:
        out[key] = value
    return out


def _id_mutations() -> dict[str, Callable[[dict, Any], Any]]:
    out: dict[str, Callable[[dict, Any], Any]] = {}
    for f in ("transaction_id", "account_id"):
        out.update({
            f"{f}_missing": lambda r, g, f=f: _with(r, f),
            f"{f}_empty": lambda r, g, f=f: _with(r, f, ""),
            f"{f}_null": lambda r, g, f=f: _with(r, f, None),
            f"{f}_number": lambda r, g, f=f: _with(r, f, 12345),
            f"{f}_too_long": lambda r, g, f=f: _with(r, f, (r[f] + "x" * 129)[:129]),
            f"{f}_lone_surrogate": lambda r, g, f=f: _with(r, f, r[f] + "\ud800"),
        })
    out.update({"record_number": lambda r, g: 42, "record_string": lambda r, g: "added",
                "record_null": lambda r, g: None, "record_list": lambda r, g: [r]})
    return out


REMOVED_MUTATIONS = _id_mutations()
UPSERT_MUTATIONS: dict[str, Callable[[dict, Any], Any]] = {
    **REMOVED_MUTATIONS,
    "amount_string": lambda r, g: _with(r, "amount", "12.50"),
    "amount_bool": lambda r, g: _with(r, "amount", True),
    "amount_null": lambda r, g: _with(r, "amount", None),
    "amount_missing": lambda r, g: _with(r, "amount"),
    "amount_nan": lambda r, g: _with(r, "amount", float("nan")),
    "amount_infinity": lambda r, g: _with(r, "amount", float("inf")),
    "amount_neg_infinity": lambda r, g: _with(r, "amount", float("-inf")),
    "amount_1e400": lambda r, g: _with(r, "amount", _BIG),
    "amount_too_big": lambda r, g: _with(r, "amount", g.rng.choice([1e9, -1e9, 1e12, 10**10])),
    "amount_object": lambda r, g: _with(r, "amount", {"value": 12.5, "currency": "USD"}),
    "amount_list": lambda r, g: _with(r, "amount", [12.5]),
    "currency_unknown": lambda r, g: _with(r, "iso_currency_code",
                                           g.rng.choice(["XXX", "ZZZ", "BTC", "US", "DOLLAR"])),
    "currency_null": lambda r, g: _with(r, "iso_currency_code", None),
    "currency_lowercase": lambda r, g: _with(r, "iso_currency_code", "usd"),
    "currency_missing": lambda r, g: _with(r, "iso_currency_code"),
    "date_missing": lambda r, g: _with(r, "date"),
    "date_null": lambda r, g: _with(r, "date", None),
    "date_feb30": lambda r, g: _with(r, "date", "2026-02-30"),
    "date_slashes": lambda r, g: _with(r, "date", "2026/01/05"),
    "date_compact": lambda r, g: _with(r, "date", "20260105"),
    "date_number": lambda r, g: _with(r, "date", 20260105),
    "date_far_future": lambda r, g: _with(r, "date", (g.sync + timedelta(3653)).isoformat()),
    "date_after_bound": lambda r, g: _with(r, "date", (g.upper + timedelta(1)).isoformat()),
    "date_1899": lambda r, g: _with(r, "date", "1899-12-31"),
    "date_before_bound": lambda r, g: _with(r, "date", "1989-12-31"),
    "authorized_date_malformed": lambda r, g: _with(r, "authorized_date", g.rng.choice(
        ["2026-13-01", "2026-02-30", "05/01/2026", "", "yesterday"])),
    "authorized_date_number": lambda r, g: _with(r, "authorized_date", 20260105),
    "name_too_long": lambda r, g: _with(r, "name", g.rng.choice(["n", "東", "é"]) * 1001),
    "name_1mb": lambda r, g: _with(r, "name", "x" * (1 << 20)),
    "name_number": lambda r, g: _with(r, "name", 123),
    "name_lone_surrogate": lambda r, g: _with(r, "name", "Caf\ud800é"),
    "merchant_name_object": lambda r, g: _with(r, "merchant_name", {"name": "Starbucks"}),
    "merchant_name_too_long": lambda r, g: _with(r, "merchant_name", "m" * 1001),
    "pending_string": lambda r, g: _with(r, "pending", "yes"),
    "pending_int": lambda r, g: _with(r, "pending", 0),
    "pending_null": lambda r, g: _with(r, "pending", None),
    "pending_missing": lambda r, g: _with(r, "pending"),
    "pending_transaction_id_empty": lambda r, g: _with(r, "pending_transaction_id", ""),
    "pending_transaction_id_too_long": lambda r, g: _with(r, "pending_transaction_id", "p" * 500),
    "payment_channel_too_long": lambda r, g: _with(r, "payment_channel", "c" * 65),
}
_RARE = {"name_1mb": 0.1}  # relative weight; every other mutation weighs 1


@dataclass(frozen=True)
class Expected:
    section: str  # "added" | "modified" | "removed"
    index: int  # position in that section's list
    good: bool
    mutation: str  # "" for good records, else the mutation's name
    txn: dict | None  # the record as sent (parsed back); None when it is not an object


@dataclass(frozen=True)
class FuzzPage:
    body: bytes  # the whole landed envelope
    page_level_bad: str  # "" or the page mutation's name
    bad_sections: tuple[str, ...]  # sections present but not lists
    records: tuple[Expected, ...]  # every record of the list sections (empty if page_level_bad)
    section_mutations: tuple[str, ...] = ()  # mutation name of each of bad_sections


class _Generator:
    def __init__(self, seed: int, sync_date: str, bad_fraction: float) -> None:
        self.rng, self.seed, self.bad_fraction = random.Random(seed), seed, bad_fraction
        self.sync = date.fromisoformat(sync_date)
        self.upper = self.sync + timedelta(31)
        self.live: dict[str, tuple[str, bool]] = {}  # good added ids: (account, pending)
        self.minted = 0

    def new_id(self, prefix: str = "fz") -> str:
        self.minted += 1
        base = f"{prefix}{self.seed}-{self.minted:07d}"
        return self.rng.choice([base, base, base.ljust(128, "x"), f"tx'\"\\| 🙂{base}"])

    def amount(self, pending: bool) -> float | int:
        rng = self.rng
        if pending:  # odd cents, never on a half cent
            return (rng.randrange(-50_000, 50_000) * 2 + 1) / 100
        cents = rng.randrange(-500_000, 500_000) * 2
        kind = rng.choice(["cents", "cents", "zero", "neg_zero", "int", "many", "tiny", "max"])
        return {"cents": cents / 100, "zero": 0, "neg_zero": -0.0,
                "int": rng.randrange(-2_500, 2_500) * 2,
                "many": (cents * 100 + rng.choice([-1, 1]) * rng.randint(1, 49)) / 10_000,
                "tiny": 1e-7, "max": rng.choice([999_999_999.98, -999_999_999.98])}[kind]

    def day(self) -> str:
        r = self.rng.random()
        if r < 0.05:
            return LOWER.isoformat()
        if r < 0.10:
            return self.upper.isoformat()
        if r < 0.13:
            return self.rng.choice([d for d in ("2000-02-29", "2024-02-29")
                                    if d <= self.upper.isoformat()])
        return max(LOWER, self.upper - timedelta(self.rng.randrange(800))).isoformat()

    def upsert(self, tid: str, account: str, pending: bool) -> dict:
        rng, day = self.rng, self.day()
        auth = rng.choice([None, day, (date.fromisoformat(day) - timedelta(2)).isoformat()])
        ghost = None if pending or rng.random() < 0.6 else self.new_id("ghost")
        rec = {"transaction_id": tid, "account_id": account, "amount": self.amount(pending),
               "iso_currency_code": rng.choice(CURRENCIES), "date": day,
               "authorized_date": auth, "name": rng.choice(NAMES + (None,)),
               "merchant_name": rng.choice([None, None, rng.choice(NAMES)]), "pending": pending,
               "pending_transaction_id": ghost, "payment_channel": rng.choice(CHANNELS)}
        if rng.random() < 0.3:
            rec.update(rng.sample(EXTRAS, rng.randint(1, 2)))
        items = list(rec.items())
        rng.shuffle(items)
        return dict(items)

    def record(self, section: str, index: int, page: int, ref: tuple[str, str, bool] | None,
               counted: dict[str, Any]) -> tuple[str, Expected]:
        rng, bad = self.rng, self.rng.random() < self.bad_fraction
        tid, account, pending = ref or (self.new_id(), rng.choice(ACCOUNTS), rng.random() < 0.15)
        if section == "removed":
            rec: Any = {"transaction_id": tid, "account_id": account}
            if rng.random() < 0.2:  # other fields of a removal are ignored, whatever they hold
                rec.update(amount="garbage", date="2026-02-30", pending="yes")
        else:
            rec = self.upsert(tid, account, pending)
        mutation = ""
        if bad:
            table = REMOVED_MUTATIONS if section == "removed" else UPSERT_MUTATIONS
            names = list(table)
            mutation = rng.choices(names, [_RARE.get(n, 1.0) for n in names])[0]
            rec = table[mutation](_with(rec, "fuzz_marker", f"{page}:{section}:{index}"), self)
        elif section == "removed":
            counted["removed"].append(tid)
        else:
            counted["live"][tid] = (account, pending)
        surrogate = "surrogate" in mutation
        text = json.dumps(rec, ensure_ascii=surrogate or rng.random() < 0.2,
                          separators=rng.choice([(",", ":"), (", ", ": ")]))
        text = text.replace(f'"{_BIG}"', "1e400")
        parsed = json.loads(text)
        return text, Expected(section, index, not bad, mutation,
                              parsed if isinstance(parsed, dict) else None)

    def page(self, page: int, n: int, meta: dict, pages: int, page_fault: float,
             section_fault: float) -> FuzzPage:
        rng = self.rng
        page_bad = rng.choice(PAGE_MUTATIONS) if rng.random() < page_fault else ""
        bad_section = rng.choice(SECTIONS) if not page_bad and rng.random() < section_fault else ""
        pool = list(self.live)
        n_mod = 0 if bad_section == "modified" else min(len(pool), rng.randint(0, n // 4))
        n_rem = 0 if bad_section == "removed" else min(len(pool) - n_mod, rng.randint(0, n // 8))
        n_add = 0 if bad_section == "added" else n - n_mod - n_rem
        refs = [(t, *self.live[t]) for t in rng.sample(pool, n_mod + n_rem)]
        counted: dict[str, Any] = {"live": {}, "removed": []}
        texts: dict[str, list[str]] = {s: [] for s in SECTIONS}
        expected: list[Expected] = []
        for section, count, section_refs in (("added", n_add, [None] * n_add),
                                             ("modified", n_mod, refs[:n_mod]),
                                             ("removed", n_rem, refs[n_mod:])):
            for i in range(count):
                text, exp = self.record(section, i, page, section_refs[i], counted)
                texts[section].append(text)
                expected.append(exp)
        parts = {s: "[" + ",".join(t) + "]" for s, t in texts.items()
                 if t or s == "added" or rng.random() < 0.7}  # an absent empty section is fine
        section_mutation = ""
        if bad_section:
            section_mutation = rng.choice(SECTION_MUTATIONS)
            parts[bad_section] = json.dumps({"section_string": "not a list", "section_number": 42,
                                             "section_object": {"0": {"transaction_id": "t"}}}
                                            [section_mutation])
        parts["accounts"] = json.dumps([
            {"account_id": a, "name": "Checking ✓", "mask": "0000", "type": "depository",
             "subtype": "checking", "balances": {"current": 100.0, "available": None,
                                                 "iso_currency_code": "USD"}} for a in ACCOUNTS],
            ensure_ascii=False)
        parts["next_cursor"] = json.dumps(f"cursor-{self.seed}-{page}")
        parts["has_more"] = json.dumps(page < pages)
        response = "{" + ", ".join(f'"{k}": {v}' for k, v in parts.items()) + "}"
        meta_text = json.dumps(meta, ensure_ascii=False)
        body = f'{{"meta": {meta_text}, "response": {response}}}'.encode()
        if page_bad:
            return FuzzPage(self.broken(page_bad, body, meta_text, response), page_bad, (), ())
        self.live.update(counted["live"])
        for tid in counted["removed"]:
            del self.live[tid]
        return FuzzPage(body, "", (bad_section,) if bad_section else (), tuple(expected),
                        (section_mutation,) if bad_section else ())

    def broken(self, mutation: str, body: bytes, meta: str, response: str) -> bytes:
        return {
            "truncated": lambda: body[: self.rng.randrange(1, len(body))],
            "empty": lambda: b"",
            "binary_garbage": lambda: b"\x80\xfe" + self.rng.randbytes(self.rng.randint(8, 512)),
            "json_array": lambda: b"[" + body + b"]",
            "response_null": lambda: f'{{"meta": {meta}, "response": null}}'.encode(),
            "response_string": lambda: f'{{"meta": {meta}, "response": "oops"}}'.encode(),
            "meta_missing": lambda: f'{{"response": {response}}}'.encode(),
            "meta_not_object": lambda: f'{{"meta": "meta", "response": {response}}}'.encode(),
        }[mutation]()


def generate_pages(seed: int, *, pages: int, records_per_page: int, bad_fraction: float,
                   sync_date: str, meta_for: Callable[[int], dict], page_fault: float = 0.03,
                   section_fault: float = 0.03) -> list[FuzzPage]:
    """Pages 1..``pages`` in stream order; ``meta_for(n)`` is embedded as page n's meta."""
    gen = _Generator(seed, sync_date, bad_fraction)
    return [gen.page(n, records_per_page, meta_for(n), pages, page_fault, section_fault)
            for n in range(1, pages + 1)]


def summary(pages: list[FuzzPage]) -> dict[str, Any]:
    """Counts of good and bad records, bad pages and sections, and of each mutation."""
    records = [r for p in pages for r in p.records]
    by_mutation = Counter(r.mutation for r in records if not r.good)
    by_mutation.update(p.page_level_bad for p in pages if p.page_level_bad)
    by_mutation.update(m for p in pages for m in p.section_mutations)
    return {"pages": len(pages), "good": sum(r.good for r in records),
            "bad": sum(not r.good for r in records),
            "bad_pages": sum(bool(p.page_level_bad) for p in pages),
            "bad_sections": sum(len(p.bad_sections) for p in pages),
            "by_mutation": dict(sorted(by_mutation.items()))}


def expected_final(pages: list[FuzzPage]) -> dict[tuple[str, str], dict | None]:
    """(account_id, transaction_id) -> the last good upsert, or None once removed."""
    state: dict[tuple[str, str], dict | None] = {}
    for p in pages:
        for r in p.records:  # already in stream order: added, modified, removed
            if r.good and r.txn is not None:
                key = (r.txn["account_id"], r.txn["transaction_id"])
                state[key] = None if r.section == "removed" else r.txn
    return state
