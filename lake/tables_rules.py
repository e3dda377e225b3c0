"""A person's categorisation rules (conditions -> actions, in their order). Registered in
lake/tables.py.

Each change writes the rule's row again with ``version`` one higher; a removed rule stays as a
row with ``deleted`` set, and the table's Delta history keeps every earlier version, so the
re-categorisation can tell which people's rules changed since it last ran.
"""

from __future__ import annotations

from lake.table import Table

USER_RULES = Table(
    name="user_rules",
    layer="silver",
    description="A user's own categorisation rules, in order: conditions (description, "
                "merchant, amount, account, direction) -> actions (category, merchant shown, "
                "transfer, hidden from budgets).",
    columns=(
        ("user_id", "string"),
        ("rule_id", "string"),
        ("position", "int"),  # 1 = checked first; the first matching rule wins per action
        ("conditions", "string"),  # JSON, see pipelines/categories/user_rules.py
        ("actions", "string"),  # JSON
        ("version", "int"),  # 1 when added, +1 per change (move, edit, removal)
        ("source", "string"),  # dashboard | cli
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
        ("deleted", "boolean"),
    ),
    keys=("user_id", "rule_id"),
)

# Free text a person typed (patterns, a merchant's new name, account ids): withheld from the
# analysts' de-identified tables like descriptions are.
RULE_TEXT_COLUMNS = frozenset({"conditions", "actions"})
