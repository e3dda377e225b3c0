"""Institution health from the day's sync attempts (pure; sync_jobs rows in, rows out).

Per institution and day, each item counts once by its best outcome: succeeded if any
attempt succeeded. Re-running a day adds attempts but no new outcome, so health is stable.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

SUCCESS_TARGET = 0.95
SILENT_MIN_ITEMS = 3  # an institution with this many items all empty for a day is suspicious


def institution_health(jobs: Iterable[dict[str, Any]], sync_date: date) -> list[dict[str, Any]]:
    per_item: dict[tuple[str, str], dict[str, Any]] = {}
    for j in jobs:
        if j["status"] == "skipped":
            continue
        item = per_item.setdefault((j["institution_id"], j["item_id"]),
                                   {"ok": False, "changes": 0, "errors": set()})
        if j["status"] == "success":
            item["ok"] = True
            item["changes"] += sum(int(j.get(c) or 0)
                                   for c in ("txns_added", "txns_modified", "txns_removed"))
        elif j.get("error_class"):
            item["errors"].add(j["error_class"])
    by_inst: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (inst, _), item in per_item.items():
        by_inst[inst].append(item)
    rows = []
    for inst, items in sorted(by_inst.items()):
        ok = [i for i in items if i["ok"]]
        empty = [i for i in ok if i["changes"] == 0]
        rate = len(ok) / len(items)
        failed_errors = sorted({e for i in items if not i["ok"] for e in i["errors"]})
        if not ok:
            status = "down"
        elif rate < SUCCESS_TARGET:
            status = "degraded"
        elif len(empty) == len(ok) and len(ok) >= SILENT_MIN_ITEMS:
            status = "silent"
        else:
            status = "healthy"
        rows.append({"institution_id": inst, "sync_date": sync_date, "items": len(items),
                     "items_succeeded": len(ok), "items_empty": len(empty),
                     "success_rate": round(rate, 4), "error_classes": ",".join(failed_errors),
                     "status": status})
    return rows


def alert_key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def health_alerts(health: list[dict[str, Any]], created_at: datetime) -> list[dict[str, Any]]:
    """One alert per unhealthy institution and day (idempotent by ``alert_key``)."""
    out = []
    for h in health:
        if h["status"] == "healthy":
            continue
        detail = (f"{h['institution_id']} {h['status']} on {h['sync_date']}: "
                  f"{h['items_succeeded']}/{h['items']} items synced "
                  f"({h['success_rate']:.0%}, target {SUCCESS_TARGET:.0%})"
                  + (f"; errors {h['error_classes']}" if h["error_classes"] else "")
                  + ("; every sync returned no changes" if h["status"] == "silent" else ""))
        out.append({"alert_key": alert_key("institution_health", h["institution_id"],
                                           h["sync_date"], h["status"]),
                    "kind": "institution_health", "user_id": None,
                    "subject": h["institution_id"], "detail": detail,
                    "period": str(h["sync_date"]), "created_at": created_at, "sent_at": None})
    return out
