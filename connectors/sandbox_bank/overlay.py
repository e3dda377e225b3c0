"""Bank-side corrections of already delivered transactions (the ``duplicate_ids`` fault).

When the bank re-sends a transaction with changed details, the changed version becomes the
truth for that id. Each correction is an overlay entry numbered per item (1, 2, ...); a sync
position includes the entries up to its generation (see :class:`changes.Cursor`), so the
diffs between positions and the truth at a position stay consistent. Entries live in the
persisted state (``overlays``) and are never dropped.
"""

from __future__ import annotations

import math
import random
import threading
from datetime import date, timedelta

from connectors.sandbox_bank.changes import Change, to_plaid
from connectors.sandbox_bank.generator import Generator
from connectors.sandbox_bank.state import BankState
from connectors.sandbox_bank.stories import Story, content, live, spans
from connectors.sandbox_bank.world import Item

Entry = dict  # seq, transaction_id, account_id, auth_day, amount, name


class Overlay:
    def __init__(self, state: BankState) -> None:
        self._state = state
        self._lock = threading.RLock()
        raw = state.get("overlays", {})
        self._entries: dict[str, list[Entry]] = raw if isinstance(raw, dict) else {}

    def max_gen(self, item_id: str) -> int:
        with self._lock:
            entries = self._entries.get(item_id)
            return entries[-1]["seq"] if entries else 0

    def entries(self, item_id: str) -> list[Entry]:
        with self._lock:
            return [dict(e) for e in self._entries.get(item_id, ())]

    def _latest(self, item_id: str, gen: int) -> dict[str, Entry]:
        """transaction_id -> newest entry numbered <= ``gen``."""
        with self._lock:
            return {e["transaction_id"]: e for e in self._entries.get(item_id, ())
                    if e["seq"] <= gen}

    # -- reading through the overlay --------------------------------------------------------
    def amounts(self, item_id: str, gen: int) -> dict[str, float]:
        """transaction_id -> corrected amount as of generation ``gen``."""
        return {tid: e["amount"] for tid, e in self._latest(item_id, gen).items()}

    def apply_rows(self, item_id: str, rows: list[dict], gen: int) -> list[dict]:
        """Truth rows (``TRUTH_FIELDS`` dicts) as of generation ``gen``."""
        latest = self._latest(item_id, gen)
        if not latest:
            return rows
        return [_patch(r, latest[r["transaction_id"]]) if r["transaction_id"] in latest else r
                for r in rows]

    def apply_changes(self, gen: Generator, item: Item, changes: list[Change],
                      since: date | None, since_gen: int, until: date, until_gen: int
                      ) -> list[Change]:
        """The update (since, since_gen) -> (until, until_gen), from the plain ``changes``."""
        at_until = self._latest(item.item_id, until_gen)
        if not at_until:
            return changes
        at_since = self._latest(item.item_id, since_gen) if since is not None else {}
        out: list[Change] = []
        listed = set()
        for kind, payload in changes:
            tid = payload["transaction_id"]
            listed.add(tid)
            if kind != "removed" and tid in at_until:
                payload = _patch(payload, at_until[tid])
            out.append((kind, payload))
        if since is None:
            return out  # every live instance is already in "added"
        for tid, e in sorted(at_until.items(), key=lambda kv: kv[1]["seq"]):
            if tid in listed or at_since.get(tid) is e:
                continue
            story = _story(gen, e)
            span = next(s for s in spans(story) if s[0] == tid)
            if live(span, since) and live(span, until):
                out.append(("modified", to_plaid(_patch(content(story, tid, until), e))))
        return out

    # -- creating corrections ---------------------------------------------------------------
    def correct(self, gen: Generator, item: Item, since: date, until: date, history_start: date,
                exclude: set[str], count: int, r: random.Random, expect_gen: int
                ) -> tuple[list[dict], int]:
        """Re-issue up to ``count`` instances live at ``since`` and ``until`` that the update
        does not touch (ids not in ``exclude``) with changed amount and name; returns their
        Plaid payloads and the item's new generation. Nothing happens unless the item is still
        at generation ``expect_gen`` (else a correction the client never saw would slip into
        its position)."""
        candidates: list[tuple[Story, str]] = []
        for acct in item.accounts:
            day = history_start
            while day <= since:
                for story in gen.stories(acct.account_id, day):
                    candidates.extend((story, s[0]) for s in spans(story)
                                      if live(s, since) and live(s, until)
                                      and s[0] not in exclude)
                day += timedelta(days=1)
        with self._lock:
            now = self.max_gen(item.item_id)
            if now != expect_gen or not candidates:
                return [], now
            latest = self._latest(item.item_id, now)
            payloads, new = [], []
            for story, tid in r.sample(candidates, min(count, len(candidates))):
                row = content(story, tid, until)
                if tid in latest:
                    row = _patch(row, latest[tid])
                amount = row["amount"]
                delta = max(0.01, round(abs(amount) * r.uniform(0.01, 0.06), 2))
                changed = round(amount + (delta if r.random() < 0.5 else -delta), 2)
                if changed == 0 or (changed > 0) != (amount > 0):
                    changed = round(amount + math.copysign(delta, amount or 1.0), 2)
                now += 1
                e = {"seq": now, "transaction_id": tid, "account_id": story.account_id,
                     "auth_day": story.auth_day.isoformat(), "amount": changed,
                     "name": f"{row['name']} *{r.randint(1000, 9999)}"}
                new.append(e)
                payloads.append(to_plaid(_patch(row, e)))
            self._entries.setdefault(item.item_id, []).extend(new)
            self._state.put("overlays", self._entries)
            return payloads, now


def _patch(row: dict, e: Entry) -> dict:
    return {**row, "amount": e["amount"], "name": e["name"]}


def _story(gen: Generator, e: Entry) -> Story:
    tid = e["transaction_id"]
    return next(s for s in gen.stories(e["account_id"], date.fromisoformat(e["auth_day"]))
                if tid in (s.pending_id, s.posted_id))
