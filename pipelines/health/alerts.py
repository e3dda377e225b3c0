"""Deliver the alert outbox: each unsent alert goes to the sink, then is marked sent.

``sent_at`` is set once, by a MERGE that only touches rows still unsent, so re-runs never
deliver a marked alert again. A crash between sending and marking re-sends on the next run
with the same ``alert_key`` as the webhook's ``Idempotency-Key`` header, so a receiver can
drop the repeat.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow.compute as pc

from lake.lake import Lake
from lake.small_tables import read_rows
from lake.tables import ALERTS

log = logging.getLogger("finlake.alerts")
Sender = Callable[[dict[str, Any]], None]


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def log_sink(alert: dict[str, Any]) -> None:
    # No user id: logs never name a person (see lake/forget.py); the key finds the row.
    log.info("alert %s [%s]: %s", alert["alert_key"], alert["kind"], alert["detail"])


def webhook_sink(url: str, timeout: float = 10.0) -> Sender:
    def send(alert: dict[str, Any]) -> None:
        body = json.dumps({k: (v.isoformat() if isinstance(v, datetime) else v)
                           for k, v in alert.items() if k not in ("sent_at", "sent_to")})
        req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": alert["alert_key"]})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if resp.status >= 300:
                raise OSError(f"webhook answered {resp.status}")

    return send


def sink_for(spec: str) -> tuple[str, Sender]:
    """``log`` or an http(s) URL -> (name recorded in ``sent_to``, sender)."""
    if spec == "log":
        return "log", log_sink
    return "webhook", webhook_sink(spec)


def unsent(lake: Lake) -> list[dict[str, Any]]:
    rows = read_rows(lake, ALERTS, pc.field("sent_at").is_null())
    return sorted(rows, key=lambda r: (r["created_at"], r["alert_key"]))


def deliver(lake: Lake, spec: str = "log", now: datetime | None = None) -> Delivery:
    """Send every unsent alert once; mark the ones the sink took."""
    import pyarrow as pa

    from lake.arrow import arrow_schema

    name, send = sink_for(spec)
    out = Delivery()
    for alert in unsent(lake):
        try:
            send(alert)
        except OSError as exc:  # the sink is down: keep the alert for the next run
            out.failed[alert["alert_key"]] = str(exc)
            continue
        out.sent.append(alert["alert_key"])
    if out.sent:
        at = now or datetime.now(UTC)
        schema = arrow_schema(ALERTS)
        marks = pa.table({"alert_key": pa.array(out.sent, schema.field("alert_key").type),
                          "sent_at": pa.array([at] * len(out.sent),
                                              schema.field("sent_at").type),
                          "sent_to": pa.array([name] * len(out.sent), pa.string())})
        dt = lake.delta(ALERTS)
        assert dt is not None
        (dt.merge(marks, predicate="t.alert_key = s.alert_key", source_alias="s",
                  target_alias="t")
         .when_matched_update({"sent_at": "s.sent_at", "sent_to": "s.sent_to"},
                              predicate="t.sent_at IS NULL")
         .execute())
    if out.failed:
        log.warning("%d alerts not delivered (kept for the next run): %s", len(out.failed),
                    next(iter(out.failed.values())))
    return out
