"""A person's rule checked before it is stored, and put in words.

What a rule may say is in :mod:`pipelines.categories.user_rules`; here every way to get it
wrong (a regular expression where wildcards go, a 10 kB pattern, a category nobody has,
another person's account, a minimum above the maximum) gets one line saying what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from pipelines.categories.user_rules import (
    DIRECTIONS,
    MAX_AMOUNT,
    MAX_STARS,
    MAX_TEXT,
    REGEX_SYNTAX,
    TEXT_FIELDS,
    TEXT_OPS,
)


class RuleError(ValueError):
    """A rule that cannot be stored; the message says what is wrong and what to do."""


def _text(field: str, op: str, value: Any) -> dict[str, str]:
    if op not in TEXT_OPS:
        raise RuleError(f"{field}: unknown test {op!r}; use one of {', '.join(TEXT_OPS)}")
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{field} {op}: give some text to look for")
    if len(value) > MAX_TEXT:
        raise RuleError(f"{field} {op}: the text is {len(value):,} characters long; at most "
                        f"{MAX_TEXT}")
    if op == "matches":
        syntax = sorted(REGEX_SYNTAX & set(value))
        if syntax:
            raise RuleError(f"{field} matches: {''.join(syntax)!r} looks like a regular "
                            "expression; patterns take wildcards only: * for any run of "
                            "characters, ? for one (e.g. \"UBER *TRIP*\")")
        if value.count("*") > MAX_STARS:
            raise RuleError(f"{field} matches: at most {MAX_STARS} * wildcards in a pattern "
                            f"(it has {value.count('*')})")
    return {"op": op, "value": value.strip() if op != "matches" else value}


def _amount(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise RuleError(f"{name}: {str(value)[:40]!r} is no amount; give a number such as "
                        "12.50") from None
    if not d.is_finite() or d < 0 or d > MAX_AMOUNT:
        raise RuleError(f"{name}: give an amount from 0 to {MAX_AMOUNT:,} (the size of the "
                        "amount, whichever way the money goes; use the direction for that)")
    return str(d.quantize(Decimal("0.01")))


def checked_rule(conditions: dict[str, Any], actions: dict[str, Any], *,
                 categories: set[str], accounts: set[str]) -> tuple[dict, dict]:
    """The rule's conditions and actions as stored, or :class:`RuleError`. ``categories``:
    the codes the person may use; ``accounts``: the person's account ids."""
    cond: dict[str, Any] = {}
    for field in TEXT_FIELDS:
        test = conditions.get(field)
        if test:
            cond[field] = _text(field, test.get("op"), test.get("value"))
    low = _amount("amount min", conditions.get("amount_min"))
    high = _amount("amount max", conditions.get("amount_max"))
    if low is not None and high is not None and Decimal(low) > Decimal(high):
        raise RuleError(f"amount range: the minimum {low} is above the maximum {high}; give "
                        "the smaller amount as the minimum")
    cond.update({k: v for k, v in (("amount_min", low), ("amount_max", high)) if v is not None})
    account = conditions.get("account_id")
    if account:
        if account not in accounts:
            raise RuleError("account: not one of this person's accounts; list theirs with "
                            "`finlake sql \"SELECT account_id, name FROM accounts WHERE "
                            "user_id = '...'\"`")
        cond["account_id"] = account
    direction = conditions.get("direction")
    if direction:
        if direction not in DIRECTIONS:
            raise RuleError(f"direction: {str(direction)[:20]!r}; use in (money coming in) or "
                            "out (money going out)")
        cond["direction"] = direction
    if not cond:
        raise RuleError("a rule needs at least one condition (description, merchant, amount "
                        "range, account or direction)")
    return cond, _actions(actions, categories)


def _actions(actions: dict[str, Any], categories: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    category = actions.get("category")
    if category:
        if category not in categories:
            raise RuleError(f"category: unknown code {str(category)[:60]!r}; use a PFC v2 "
                            "detailed code (`finlake sql \"SELECT category FROM categories\"`) "
                            "or one of the person's own (`finlake category add`)")
        out["category"] = category
    if actions.get("transfer"):
        if category:
            raise RuleError("a rule either sets a category or marks a transfer, not both")
        out["transfer"] = True
    name = actions.get("merchant_name")
    if name is not None and str(name).strip():
        if len(str(name)) > MAX_TEXT:
            raise RuleError(f"merchant name: {len(str(name)):,} characters; at most {MAX_TEXT}")
        out["merchant_name"] = str(name).strip()
    if actions.get("hide_from_budgets"):
        out["hide_from_budgets"] = True
    if not out:
        raise RuleError("a rule needs an action: a category, transfer, a merchant name or "
                        "hide from budgets")
    return out


def phrases(conditions: dict[str, Any], actions: dict[str, Any], *,
            money: Callable[[Any], str] = str, category: Callable[[str], str] = str,
            account: Callable[[str], str] = str) -> tuple[list[str], list[str]]:
    """A rule in words: (what it looks for, what it does), e.g. ``['description contains
    "uber"', 'money out']`` and ``['category X']``; ``money``, ``category`` and ``account``
    say an amount, a category code and an account id as the reader should see them."""
    said = []
    for field in TEXT_FIELDS:
        if field in conditions:
            test = conditions[field]
            said.append(f'{field} {test["op"].replace("_", " ")} "{test["value"]}"')
    low, high = conditions.get("amount_min"), conditions.get("amount_max")
    if low is not None or high is not None:
        said.append(f"amount {money(low)} to {money(high)}" if low is not None
                    and high is not None else f"amount at least {money(low)}"
                    if low is not None else f"amount at most {money(high)}")
    if "account_id" in conditions:
        said.append(f"account {account(conditions['account_id'])}")
    if "direction" in conditions:
        said.append("money in" if conditions["direction"] == "in" else "money out")
    does = []
    if "category" in actions:
        does.append(f"category {category(actions['category'])}")
    if actions.get("transfer"):
        does.append("mark as transfer")
    if "merchant_name" in actions:
        does.append(f'show merchant as "{actions["merchant_name"]}"')
    if actions.get("hide_from_budgets"):
        does.append("hide from budgets")
    return said, does


def describe(conditions: dict[str, Any], actions: dict[str, Any]) -> str:
    """A rule in words: ``description contains "uber" and money out -> category X``."""
    said, does = phrases(conditions, actions)
    return f"{' and '.join(said)} -> {', '.join(does)}"
