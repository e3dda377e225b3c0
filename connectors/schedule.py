"""Per-item sync schedule: refresh cadence, back-off after failures, suspension.

Kept as one small JSON object per item under ``state/schedule/`` (separate from the cursor,
which only the sync loop writes).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime

from lake.objectstore import ObjectNotFound, ObjectStore

PREFIX = "state/schedule"


@dataclass
class ItemSchedule:
    item_id: str
    last_success_date: str | None = None
    next_attempt_at: str | None = None  # ISO time; None = no back-off in force
    down_streak: int = 0
    credential_failures: int = 0
    first_failure_at: str | None = None

    def due(self, sync_date: date, refresh_every_days: int, now: datetime,
            on_demand: bool = False) -> tuple[bool, str]:
        """Whether the item should be synced now, and why not if it should not."""
        if on_demand:
            return True, "on demand"
        if self.next_attempt_at and datetime.fromisoformat(self.next_attempt_at) > now:
            return False, f"backing off until {self.next_attempt_at}"
        if self.last_success_date:
            age = (sync_date - date.fromisoformat(self.last_success_date)).days
            if age < 0:  # a sync now would land today's changes under a past day
                return False, (f"already synced for {self.last_success_date}, after this "
                               "day; re-merge a past day with --replay")
            if age < refresh_every_days:
                return False, f"refreshed {age} day(s) ago; refresh every {refresh_every_days}"
        return True, "due"


def _key(item_id: str) -> str:
    return f"{PREFIX}/item={item_id}.json"


def load_schedule(store: ObjectStore, item_id: str) -> ItemSchedule:
    try:
        return ItemSchedule(**json.loads(store.get(_key(item_id))))
    except ObjectNotFound:
        return ItemSchedule(item_id)


def save_schedule(store: ObjectStore, schedule: ItemSchedule) -> None:
    store.put(_key(schedule.item_id), json.dumps(asdict(schedule), sort_keys=True).encode())
