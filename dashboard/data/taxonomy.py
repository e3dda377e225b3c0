"""Categories as a person sees them: the display name of each code (the taxonomy's, its
primaries' and the person's own), the categories they may pick, and the primaries that are
not spending."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from dashboard.auth import Principal
from dashboard.data.queries import frame
from pipelines.categories.reference import categories, display_name
from pipelines.gold.flows import NOT_SPEND_PRIMARY

if TYPE_CHECKING:
    from lake.lake import Lake

# Gold spend tables already leave NOT_SPEND_PRIMARY out (pipelines/gold/flows.py); a guard.
# As named parameters, and the SQL list of them: ``... NOT IN ({NOT_SPEND_IN})``.
NOT_SPEND = {f"not_spend{i}": c for i, c in enumerate(NOT_SPEND_PRIMARY)}
NOT_SPEND_IN = ", ".join(f"${n}" for n in NOT_SPEND)


def category_names(lake: Lake, who: Principal) -> dict[str, str]:
    """Display name per category code (taxonomy, its primaries, and the person's own)."""
    names = {c["category"]: c["display_name"] for c in categories()}
    names.update({c["category_primary"]: c["primary_display_name"] for c in categories()})
    own = frame(lake, who, "SELECT category, display_name FROM custom_categories "
                           "WHERE user_id = $user")
    names.update(dict(zip(own["category"], own["display_name"], strict=True)))
    return names


def category_choices(lake: Lake, who: Principal) -> list[tuple[str, str]]:
    """(code, "Primary › Detailed") for every category a person may pick, sorted by label."""
    own = frame(lake, who, "SELECT category, category_primary, display_name "
                           "FROM custom_categories WHERE user_id = $user")
    rows = [(c["category"], f"{c['primary_display_name']} › {c['display_name']}")
            for c in categories()]
    rows += [(code, f"{display_name(p)} › {name}") for code, p, name in
             zip(own["category"], own["category_primary"], own["display_name"], strict=True)]
    return sorted(rows, key=lambda r: r[1])


def add_names(df: pd.DataFrame, names: dict[str, str], column: str, to: str) -> None:
    """Column ``to``: the name of each code in ``column`` (from ``names``, else the
    taxonomy's), in place."""
    df[to] = [names.get(c) or display_name(c) for c in df[column]]


# Every public function here that reads one person's data (takes the Principal second).
PER_USER_FUNCTIONS = (category_names, category_choices)
