"""Freshness service level of the nightly sweep (pure: rows in, rows out).

The service level: every due item is synced by ``FINLAKE_SLA_DEADLINE`` (08:00) local time
in ``FINLAKE_SLA_TIMEZONE``.

**Deadline of a sync date.** Partitions are UTC days (assets/partitions.py) and the nightly
schedule runs partition D at 02:00 UTC on D+1 (jobs/nightly.py). The deadline of D is the
first deadline time-of-day, local, at or after D's partition ends (00:00 UTC on D+1). From
UTC-12 to UTC+8 that is exactly "08:00 local on the day after the sync date" (UTC: 08:00
UTC on D+1, six hours after the run starts; New York: 12:00 or 13:00 UTC on D+1). East of
UTC+8, 08:00 local on D+1 comes before the UTC day D has even ended, so the deadline is
the next local morning. This is also the rule Dagster's
``build_time_partition_freshness_checks(deadline_cron, timezone)`` applies (after a cron
tick it expects the last partition completed by that tick), so the per-asset freshness
checks and this SLA agree on which morning a partition is due. Caveat: with the nightly
tick at 02:00 UTC, local offsets of about +5:30 to +8 put the deadline less than ~2.5 h
after the partition ends (at or before the run starts at +6 to +8): the SLA cannot be met
there without moving the nightly hour or the deadline.

**Due items.** An item is due on D when the nightly sweep attempted it for D (any
``sync_jobs`` row with trigger ``nightly``, including "skipped: circuit open"), or when its
credentials are active, it was linked before D ended and its refresh cadence says so
(``ItemSchedule.due``, from the last success before D). An item in back-off after earlier
failures is still due: its data is as old as if it had failed tonight. Items whose
credentials need re-linking are not due (the sweep cannot sync them); they are counted in
``items_relink``. An item refreshed every 3 days and synced yesterday is not due.

**Synced / stale.** A due item is synced when one of its attempts on D succeeded and
finished at or before the deadline; every other due item is stale: failed, deferred,
skipped, not attempted, or synced after the deadline. Before the deadline has passed a stale
item is "at risk" rather than "missed" (``deadline_passed`` says which); ``sla_met`` is
true when an institution has no stale item.

**Lag.** ``lag_hours`` = the deadline minus the oldest last successful sync (finished at or
before the deadline) among the institution's due items. Measuring at the deadline rather
than "now" makes the figure a property of the sync date: re-materialising a partition a week
later gives the same number, and it is how old the data was at 08:00, when people look. An
item with no success finished by the deadline counts from its link time (and is listed in
``never_synced``); successes and links after the deadline do not count; with
no due items, or none synced or linked by the deadline, the lag is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from connectors.schedule import ItemSchedule

# Same default as connectors.ingest.DEFAULT_INSTITUTION (not imported: it pulls in the client).
DEFAULT_REFRESH_EVERY_DAYS = 1


@dataclass(frozen=True)
class LastSuccess:
    """An item's successful syncs before the sync date being judged: the newest sync date (for
    the refresh cadence) and the newest finish at or before the deadline (for the lag; None
    when every earlier success finished after it, as in a late backfill)."""

    sync_date: date
    finished_at: datetime | None


def sla_deadline(sync_date: date, at: time, tz: tzinfo) -> datetime:
    """First ``at`` (local time in ``tz``) at or after the UTC day ``sync_date`` ends."""
    end = datetime.combine(sync_date + timedelta(days=1), time(0), UTC)
    local_day = end.astimezone(tz).date()
    deadline = datetime.combine(local_day, at, tzinfo=tz)
    if deadline.astimezone(UTC) < end:
        deadline = datetime.combine(local_day + timedelta(days=1), at, tzinfo=tz)
    return deadline


def latest_sync_date_due(now: datetime, at: time, tz: tzinfo) -> date:
    """The newest sync date whose deadline has passed at ``now``."""
    day = now.astimezone(UTC).date()
    while sla_deadline(day, at, tz) > now:
        day -= timedelta(days=1)
    return day


def _utc(t: datetime) -> datetime:
    """Lake timestamps are UTC; naive ones (hand-built rows) are taken as UTC too."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _stale_reason(attempts: list[Mapping[str, Any]], deadline: datetime) -> str:
    if not attempts:
        return "no sync attempt for the day (backing off, or the sweep did not run)"
    late = [a for a in attempts if a["status"] == "success"]
    if late:
        first = min(_utc(a["finished_at"]) for a in late)
        return f"synced {first:%Y-%m-%d %H:%M} UTC, after the deadline"
    last = max(attempts, key=lambda a: (_utc(a["started_at"]), a.get("attempt") or 0))
    error = last.get("error_class")
    return last["status"] + (f" {error}" if error else "") + (
        f": {last['detail']}" if last.get("detail") else "")


def _due(tried: list[Mapping[str, Any]], cred: Mapping[str, Any] | None,
         prev: LastSuccess | None, sync_date: date, every: int, as_of: datetime) -> bool:
    """Attempted by the nightly sweep, or linked before the day ended and due by cadence."""
    if any(a.get("trigger") == "nightly" for a in tried):
        return True
    if cred is None:  # unlinked since; only on-demand attempts left a trace
        return False
    created = cred.get("created_at")
    day_end = datetime.combine(sync_date + timedelta(days=1), time(0), UTC)
    if created is not None and _utc(created) >= day_end:
        return False
    schedule = ItemSchedule(cred["item_id"],
                            last_success_date=prev.sync_date.isoformat() if prev else None)
    return schedule.due(sync_date, every, now=as_of)[0]


def freshness(
    jobs: Iterable[Mapping[str, Any]],
    items: Iterable[Mapping[str, Any]],
    institutions: Mapping[str, Mapping[str, Any]],
    last_success: Mapping[str, LastSuccess],
    sync_date: date,
    deadline: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """Per institution: due, synced by the deadline, stale, lag, SLA met (see module doc).

    ``jobs``: the ``sync_jobs`` rows of ``sync_date``; ``items``: linked items (``credentials``
    rows: item_id, institution_id, status, created_at); ``institutions``: by id, with
    ``refresh_every_days``; ``last_success``: per item, before ``sync_date``.
    """
    as_of = min(_utc(now), deadline.astimezone(UTC))
    attempts: dict[str, list[Mapping[str, Any]]] = {}
    for j in jobs:
        if j["sync_date"] == sync_date:
            attempts.setdefault(j["item_id"], []).append(j)
    linked = {i["item_id"]: i for i in items}
    inst_of = {item: rows[0]["institution_id"] for item, rows in attempts.items()}
    inst_of.update({item: i["institution_id"] for item, i in linked.items()})

    per_inst: dict[str, dict[str, Any]] = {}
    for item, inst in sorted(inst_of.items()):
        row = per_inst.setdefault(inst, {"due": [], "synced": [], "stale": {}, "relink": 0,
                                         "oldest": None, "never": []})
        tried, cred = attempts.get(item, []), linked.get(item)
        if cred is not None and cred.get("status") != "active" \
                and not any(a.get("trigger") == "nightly" for a in tried):
            row["relink"] += 1
            continue
        every = int(institutions.get(inst, {}).get("refresh_every_days")
                    or DEFAULT_REFRESH_EVERY_DAYS)
        if not _due(tried, cred, last_success.get(item), sync_date, every, as_of):
            continue
        row["due"].append(item)
        ok = [_utc(a["finished_at"]) for a in tried
              if a["status"] == "success" and a.get("finished_at") is not None
              and _utc(a["finished_at"]) <= as_of]
        if ok:
            row["synced"].append(item)
        else:
            row["stale"][item] = _stale_reason(tried, deadline)
        prev = last_success.get(item)
        newest = max(ok) if ok else (prev.finished_at if prev else None)
        if newest is None or _utc(newest) > as_of:
            row["never"].append(item)
            created = cred.get("created_at") if cred else None
            # Linked after the measuring point: no age to count (still listed).
            newest = _utc(created) if created is not None and _utc(created) <= as_of else None
        if newest is not None and (row["oldest"] is None or newest < row["oldest"]):
            row["oldest"] = _utc(newest)

    out = []
    for inst, r in sorted(per_inst.items()):
        if not r["due"] and not r["relink"]:
            continue
        lag = None if r["oldest"] is None else round(
            (deadline - r["oldest"]).total_seconds() / 3600, 2)
        out.append({
            "institution_id": inst, "sync_date": sync_date, "deadline": deadline,
            "deadline_passed": _utc(now) >= deadline.astimezone(UTC), "items_due": len(r["due"]),
            "items_synced": len(r["synced"]), "items_stale": len(r["stale"]),
            "stale_items": dict(sorted(r["stale"].items())), "never_synced": r["never"],
            "items_relink": r["relink"], "lag_hours": lag, "sla_met": not r["stale"],
        })
        out[-1]["summary"] = _institution_summary(out[-1])
    return out


def _institution_summary(r: Mapping[str, Any]) -> str:
    text = (f"{r['institution_id']}: {r['items_synced']}/{r['items_due']} due items synced by "
            f"{r['deadline']:%Y-%m-%d %H:%M %Z}")
    if r["items_stale"]:
        text += f", {r['items_stale']} stale ({'missed' if r['deadline_passed'] else 'at risk'})"
    if r["lag_hours"] is not None:
        text += f", lag {r['lag_hours']:.1f} h"
    if r["items_relink"]:
        text += f", {r['items_relink']} need re-linking"
    return text


def freshness_summary(rows: list[Mapping[str, Any]], deadline: datetime, now: datetime) -> str:
    """One line for people: met / missed / at risk, how many items, the worst lag."""
    due = sum(r["items_due"] for r in rows)
    stale = {r["institution_id"]: r["items_stale"] for r in rows if r["items_stale"]}
    lags = [(r["lag_hours"], r["institution_id"]) for r in rows if r["lag_hours"] is not None]
    worst = f"; max lag {max(lags)[0]:.1f} h ({max(lags)[1]})" if lags else ""
    when = f"{deadline:%Y-%m-%d %H:%M %Z}"
    if not stale:
        return (f"SLA met: {due}/{due} due items synced by {when} across "
                f"{sum(1 for r in rows if r['items_due'])} institution(s){worst}")
    verdict = "missed" if _utc(now) >= deadline.astimezone(UTC) else "at risk"
    where = ", ".join(f"{inst} ({n})" for inst, n in sorted(stale.items()))
    return (f"SLA {verdict}: {sum(stale.values())} of {due} due items not synced by {when}: "
            f"{where}{worst}")


def health_with_freshness(health: list[Mapping[str, Any]], fresh: list[Mapping[str, Any]]
                          ) -> list[dict[str, Any]]:
    """``institution_health`` rows with the freshness columns; an institution with due items
    but no attempt at all gets a row too (status ``no_attempts``)."""
    by_inst = {f["institution_id"]: f for f in fresh}
    out = []
    for h in health:
        f = by_inst.pop(h["institution_id"], None)
        out.append({**h, "items_due": f["items_due"] if f else 0,
                    "items_stale": f["items_stale"] if f else 0,
                    "lag_hours": f["lag_hours"] if f else None,
                    "sla_met": f["sla_met"] if f else True})
    for inst, f in sorted(by_inst.items()):
        if not f["items_due"]:
            continue
        out.append({"institution_id": inst, "sync_date": f["sync_date"], "items": 0,
                    "items_succeeded": 0, "items_empty": 0, "success_rate": None,
                    "error_classes": "", "status": "no_attempts", "items_due": f["items_due"],
                    "items_stale": f["items_stale"], "lag_hours": f["lag_hours"],
                    "sla_met": f["sla_met"]})
    return out
