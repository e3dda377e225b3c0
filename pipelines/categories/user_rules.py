"""A person's own rules: conditions on their transactions -> actions, checked in their order.

Conditions (all must hold): the description or the merchant *contains*, *starts with* or
*matches* a text (case-insensitive); the amount's size is within a range; the account is one
of the person's; money comes in or goes out. Actions: set a category (a taxonomy code or one of
the person's own), mark as a transfer (the account-transfer category of the direction), show
the merchant under another name, hide from budgets. The first matching rule decides each
action; a later rule can still decide an action no earlier matching rule has.

Patterns are no regular expressions: *matches* takes wildcards only (``*`` any run of
characters, ``?`` one character, the whole text must match), at most :data:`MAX_STARS` ``*``
and :data:`MAX_TEXT` characters, and a text with regular-expression syntax in it is refused
with a message (:mod:`pipelines.categories.rule_checks`). *Contains* and *starts with* are
plain string tests; a pattern becomes a SQL ``LIKE`` (``%`` and ``_``, the user's own ``%``,
``_`` and ``\\`` escaped), which runs in time linear in the text on Sail and whose few
wildcards keep the backtracking of Apache Spark's ``LIKE`` small.

The layer runs as a join: the rows of people who have rules, once per distinct (user,
account, description, merchant, amount), against their rules (a small, broadcast table), and
is looked up by the rows null-safe (:func:`pipelines.categories.distinct.attach`). A lake
without rules skips it.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

TEXT_FIELDS = ("description", "merchant")
TEXT_OPS = ("contains", "starts_with", "matches")
DIRECTIONS = ("in", "out")
MAX_TEXT = 100  # characters of a pattern or a merchant's new name
MAX_STARS = 3  # "*" wildcards in one pattern
MAX_RULES = 200  # live rules per person
MAX_AMOUNT = Decimal("999999999999.99")
REGEX_SYNTAX = frozenset("()[]{}+^$|\\")
TRANSFER_OUT = "TRANSFER_OUT_ACCOUNT_TRANSFER"
TRANSFER_IN = "TRANSFER_IN_ACCOUNT_TRANSFER"
# What the layer adds to a row: the category (set or transfer), the merchant's name to show
# and whether to hide it from budgets; only the category is stored in silver so far.
LAYER_COLUMNS = ("_u_category", "_u_merchant", "_u_hidden")
# ``_u_desc``/``_u_merch``: the lower-case text to look for (contains, starts_with) or the
# ``LIKE`` pattern (matches), the test in ``_u_desc_op``/``_u_merch_op``.
COMPILED = ("_u_user string, _u_pos int, _u_desc string, _u_merch string, "
            "_u_min decimal(18,2), _u_max decimal(18,2), _u_account string, _u_dir string, "
            "_u_category string, _u_transfer boolean, _u_name string, _u_hide boolean, "
            "_u_desc_op string, _u_merch_op string")
ON = ("user_id", "account_id", "description", "merchant", "merchant_key", "amount")


def like_pattern(op: str, value: str) -> str:
    """The SQL ``LIKE`` pattern (lower case, ``\\`` escapes) of a text test."""
    text = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if op == "matches":
        return re.sub(r"\*+", "%", text).replace("?", "_")
    return f"%{text}%" if op == "contains" else f"{text}%"


def compiled_rows(rules: list[dict[str, Any]]) -> list[tuple]:
    """Live stored rules (``user_rules`` rows) as rows of :data:`COMPILED`, one per rule,
    numbered per person in their order (position, then rule id)."""
    out = []
    ordered = sorted((r for r in rules if not r.get("deleted")),
                     key=lambda r: (r["user_id"], r["position"], r["rule_id"]))
    n, user = 0, None
    for r in ordered:
        n = n + 1 if r["user_id"] == user else 1
        user = r["user_id"]
        cond, act = json.loads(r["conditions"]), json.loads(r["actions"])
        ops = {f: cond[f]["op"] if f in cond else None for f in TEXT_FIELDS}
        pats = {f: None if f not in cond else like_pattern(ops[f], cond[f]["value"])
                if ops[f] == "matches" else cond[f]["value"].lower() for f in TEXT_FIELDS}
        amounts = [Decimal(cond[k]) if k in cond else None for k in ("amount_min", "amount_max")]
        out.append((user, n, pats["description"], pats["merchant"], *amounts,
                    cond.get("account_id"), cond.get("direction"), act.get("category"),
                    bool(act.get("transfer")), act.get("merchant_name"),
                    bool(act.get("hide_from_budgets")), ops["description"], ops["merchant"]))
    return out


def _text_test(text: str, op: str, value: str) -> str:
    """SQL: ``text`` passes a rule's text test. Contains and starts with are plain string
    functions; only a wildcard pattern is a ``LIKE``, whose pattern (a column, not a literal)
    is compiled for each row it meets: about 20 us each on Sail, ~70x a plain ``instr``."""
    return (f"CASE WHEN {op} IS NULL THEN true "
            f"WHEN {op} = 'contains' THEN instr({text}, {value}) > 0 "
            f"WHEN {op} = 'starts_with' THEN substring({text}, 1, length({value})) = {value} "
            f"ELSE {text} LIKE {value} END")


def _matches(amount: Column) -> Column:
    """Whether a row (``ON``'s columns) meets a rule's (``COMPILED``'s) every condition."""
    size = F.abs(amount)
    tests = [
        F.expr(_text_test("lower(coalesce(description, ''))", "_u_desc_op", "_u_desc")),
        F.expr(_text_test("lower(coalesce(merchant, merchant_key, ''))", "_u_merch_op",
                          "_u_merch")),
        F.col("_u_min").isNull() | (size >= F.col("_u_min")),
        F.col("_u_max").isNull() | (size <= F.col("_u_max")),
        F.col("_u_account").isNull() | (F.col("account_id") == F.col("_u_account")),
        F.col("_u_dir").isNull() | ((F.col("_u_dir") == "out") & (amount > 0))
        | ((F.col("_u_dir") == "in") & (amount < 0)),
    ]
    cond = tests[0]
    for t in tests[1:]:
        cond = cond & t
    return cond


def rule_matches(rows: DataFrame, compiled: DataFrame) -> DataFrame:
    """Per distinct :data:`ON` of ``rows`` whose person has rules in ``compiled``
    (:data:`COMPILED`): :data:`LAYER_COLUMNS`, each from the first matching rule that has
    that action (null when none)."""
    present = [c for c in ON if c in rows.columns]
    people = compiled.select(F.col("_u_user").alias("user_id")).distinct()
    d = rows.select(*present).join(F.broadcast(people), "user_id", "left_semi").distinct()
    for c in ON:
        if c not in present:
            d = d.withColumn(c, F.lit(None).cast("decimal(18,2)" if c == "amount" else "string"))
    amount = F.col("amount").cast("decimal(18,2)")
    j = d.join(F.broadcast(compiled), F.col("user_id") == F.col("_u_user")).filter(
        _matches(amount))
    category = F.when(F.col("_u_transfer"), F.when(amount < 0, F.lit(TRANSFER_IN))
                      .otherwise(F.lit(TRANSFER_OUT))).otherwise(F.col("_u_category"))

    def first(value: Column, name: str) -> Column:  # the lowest position that has it
        return F.min(F.when(value.isNotNull(), F.struct(F.col("_u_pos"), value.alias("v")))
                     ).getField("v").alias(name)

    hidden = F.when(F.col("_u_hide"), F.lit(True))
    return j.groupBy(*present).agg(first(category, "_u_category"),
                                   first(F.col("_u_name"), "_u_merchant"),
                                   first(hidden, "_u_hidden"))


def attach_rules(rows: DataFrame, compiled: DataFrame | None) -> DataFrame:
    """``rows`` with :data:`LAYER_COLUMNS` (null where no rule matches); ``compiled`` None
    (no person has rules) adds nothing."""
    from pipelines.categories.distinct import attach

    if compiled is None:
        return rows
    on = [c for c in ON if c in rows.columns]
    return attach(rows, rule_matches(rows, compiled), on)



# --- the same decisions in plain Python: the dashboard's preview (no Spark there) -----------

def _segments(pattern: str) -> list[list[str | None]]:
    """A ``LIKE`` pattern split at its ``%``: each part a list of characters, None for ``_``."""
    parts: list[list[str | None]] = [[]]
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            parts[-1].append(next(chars, "\\"))
        elif c == "%":
            parts.append([])
        else:
            parts[-1].append(None if c == "_" else c)
    return parts


def _fits(text: str, at: int, seg: list[str | None]) -> bool:
    return at + len(seg) <= len(text) and all(
        c is None or text[at + i] == c for i, c in enumerate(seg))


def like(text: str, pattern: str) -> bool:
    """SQL ``LIKE`` (``\\`` escapes) without backtracking: the first and last parts anchored,
    each part between them at its leftmost place after the one before (which is right for
    ``%`` wildcards); time about text x pattern."""
    first, *middle = _segments(pattern)
    if not middle:
        return len(text) == len(first) and _fits(text, 0, first)
    last = middle.pop()
    end = len(text) - len(last)
    if end < len(first) or not (_fits(text, 0, first) and _fits(text, end, last)):
        return False
    at = len(first)
    for seg in middle:
        while at + len(seg) <= end and not _fits(text, at, seg):
            at += 1
        if at + len(seg) > end:
            return False
        at += len(seg)
    return True


def _passes(text: str, op: str | None, value: str | None) -> bool:
    if op is None or value is None:
        return True
    if op == "contains":
        return value in text
    return text.startswith(value) if op == "starts_with" else like(text, value)


def _meets(rule: tuple, row: dict[str, Any]) -> bool:
    (_, _, desc, merch, low, high, account, direction) = rule[:8]
    amount = row.get("amount")
    size = None if amount is None else abs(Decimal(str(amount)))
    merchant = row.get("merchant") or row.get("merchant_key") or ""
    return (_passes((row.get("description") or "").lower(), rule[12], desc)
            and _passes(merchant.lower(), rule[13], merch)
            and (low is None or (size is not None and size >= low))
            and (high is None or (size is not None and size <= high))
            and (account is None or row.get("account_id") == account)
            and (direction is None or (amount is not None and (
                (direction == "out" and amount > 0) or (direction == "in" and amount < 0)))))


def decided(rules: list[tuple], row: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """(category, merchant name, hidden) a person's rules (:func:`compiled_rows`, in order)
    say for one transaction (a dict of :data:`ON`), as :func:`rule_matches` does."""
    category = name = None
    hidden = False
    for rule in rules:
        if not _meets(rule, row):
            continue
        cat, transfer, new_name, hide = rule[8:12]
        if category is None and (cat or transfer):
            category = cat if not transfer else (
                TRANSFER_IN if row["amount"] is not None and row["amount"] < 0 else TRANSFER_OUT)
        name = name if name is not None else new_name
        hidden = hidden or bool(hide)
    return category, name, hidden


def preview(rows: list[dict[str, Any]], now: list[tuple], then: list[tuple],
            overridden: set[str]) -> list[dict[str, Any]]:
    """Each of a person's transactions whose rules say something else with ``then`` than
    with ``now`` (compiled rules): the row with ``category_after`` (None: the automatic
    layers decide again), ``merchant_after`` and ``hidden_after``. A merchant key in
    ``overridden`` (the person's own merchant category) keeps its category."""
    out = []
    for row in rows:
        was, will = decided(now, row), decided(then, row)
        if was == will:
            continue
        category_after = row.get("category") if row.get("merchant_key") in overridden \
            else will[0]
        if category_after == row.get("category") and was[1:] == will[1:] \
                and row.get("merchant_key") in overridden:
            continue
        out.append({**row, "category_after": category_after, "merchant_after": will[1],
                    "hidden_after": will[2]})
    return out
