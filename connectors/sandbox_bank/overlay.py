"""Bank-side changes to already delivered transactions: corrections (the ``duplicate_ids``
fault) and re-issues (the ``reissued_ids`` fault).

When the bank re-sends a transaction with changed details, the changed version becomes the
truth for that id. When it re-issues one, it sends an exact copy under a NEW transaction id
and keeps the old id too: from then on the partner lists both (the truth holds both ids; the
overlay records which id re-issues which, :meth:`Overlay.reissues`). Each entry is numbered
per item (1, 2, ...); a sync position includes the entries up to its generation (see
:class:`changes.Cursor`), so the diffs between positions and the truth at a position stay
consistent. Entries live in the persisted state (``overlays``) and are never dropped.
"""

from __future__ import annotations

import math
import random
import threading
from datetime import date, timedelta

from connectors.sandbox_bank.changes import TRUTH_FIELDS, Change, to_plaid
from connectors.sandbox_bank.generator import Generator
from connectors.sandbox_bank.ids import plaid_id
from connectors.sandbox_bank.state import BankState
from connectors.sandbox_bank.stories import Story, content, live, spans
from connectors.sandbox_bank.world import Item

Entry = dict  # seq, transaction_id, account_id, auth_day, amount, name
# a re-issue: seq, transaction_id (the new id), account_id, auth_day, reissue_of (the id it
# copies), row (the copy's content, as ``stories.content`` gives it)
REISSUE_OF = "reissue_of"


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
        """transaction_id -> newest correction numbered <= ``gen``."""
        with self._lock:
            return {e["transaction_id"]: e for e in self._entries.get(item_id, ())
                    if e["seq"] <= gen and REISSUE_OF not in e}

    def _reissued(self, item_id: str, after: int, upto: int) -> list[Entry]:
        """The re-issues numbered in (``after``, ``upto``], oldest first."""
        with self._lock:
            return [e for e in self._entries.get(item_id, ())
                    if REISSUE_OF in e and after < e["seq"] <= upto]

    def reissues(self, item_id: str, gen: int) -> list[dict]:
        """Ground truth of the ``reissued_ids`` fault as of generation ``gen``: every
        re-issued id with the id it copies (``transaction_id``, ``account_id``,
        ``reissue_of``, ``seq``), oldest first. Both ids are live partner transactions; they
        are one real purchase."""
        return [{"transaction_id": e["transaction_id"], "account_id": e["account_id"],
                 REISSUE_OF: e[REISSUE_OF], "seq": e["seq"]}
                for e in self._reissued(item_id, 0, gen)]

    def reissued_ids(self, item_id: str) -> set[str]:
        """Every id a re-issue involves (copies and originals), whatever the generation."""
        return {i for e in self._reissued(item_id, 0, self.max_gen(item_id))
                for i in (e["transaction_id"], e[REISSUE_OF])}

    # -- reading through the overlay --------------------------------------------------------
    def amounts(self, item_id: str, gen: int) -> dict[str, float]:
        """transaction_id -> corrected amount as of generation ``gen``."""
        return {tid: e["amount"] for tid, e in self._latest(item_id, gen).items()}

    def apply_rows(self, item_id: str, rows: list[dict], gen: int) -> list[dict]:
        """Truth rows (``TRUTH_FIELDS`` dicts) as of generation ``gen``."""
        latest = self._latest(item_id, gen)
        copies = [{k: e["row"][k] for k in TRUTH_FIELDS} for e in self._reissued(item_id, 0, gen)]
        if not latest and not copies:
            return rows
        out = [_patch(r, latest[r["transaction_id"]]) if r["transaction_id"] in latest else r
               for r in rows] + copies
        out.sort(key=lambda r: (r["account_id"], r["authorized_date"], r["transaction_id"]))
        return out

    def apply_changes(self, gen: Generator, item: Item, changes: list[Change],
                      since: date | None, since_gen: int, until: date, until_gen: int
                      ) -> list[Change]:
        """The update (since, since_gen) -> (until, until_gen), from the plain ``changes``."""
        copies = self._reissued(item.item_id, since_gen if since is not None else 0, until_gen)
        at_until = self._latest(item.item_id, until_gen)
        if not at_until:
            return changes + [("added", to_plaid(e["row"])) for e in copies]
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
            # every live instance is already in "added"
            return out + [("added", to_plaid(e["row"])) for e in copies]
        for tid, e in sorted(at_until.items(), key=lambda kv: kv[1]["seq"]):
            if tid in listed or at_since.get(tid) is e:
                continue
            story = _story(gen, e)
            span = next(s for s in spans(story) if s[0] == tid)
            if live(span, since) and live(span, until):
                out.append(("modified", to_plaid(_patch(content(story, tid, until), e))))
        return out + [("added", to_plaid(e["row"])) for e in copies]

    # -- creating corrections ---------------------------------------------------------------
    def correct(self, gen: Generator, item: Item, since: date, until: date, history_start: date,
                exclude: set[str], count: int, r: random.Random, expect_gen: int
                ) -> tuple[list[dict], int]:
        """Re-issue up to ``count`` instances live at ``since`` and ``until`` that the update
        does not touch (ids not in ``exclude``) with changed amount and name; returns their
        Plaid payloads and the item's new generation. Nothing happens unless the item is still
        at generation ``expect_gen`` (else a correction the client never saw would slip into
        its position)."""
        exclude = exclude | self.reissued_ids(item.item_id)  # a re-issue stays an exact copy
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

    def reissue(self, gen: Generator, item: Item, since: date, until: date,
                history_start: date, exclude: set[str], count: int, r: random.Random,
                expect_gen: int) -> tuple[list[dict], int]:
        """Re-issue up to ``count`` posted instances already delivered (live at ``since``)
        under new ids, keeping the old ids: exact copies (account, amount, dates, name,
        merchant), except that the copy carries no pending link. Candidates are settled:
        live at ``since`` and ``until`` and never removed nor renamed after ``since`` (a copy
        stays a copy), not touched by the update (ids in ``exclude``), and neither copies nor
        originals of an earlier re-issue. Returns the copies' Plaid payloads and the item's
        new generation; nothing happens unless the item is still at ``expect_gen``."""
        involved = exclude | self.reissued_ids(item.item_id)
        candidates: list[tuple[Story, str]] = []
        for acct in item.accounts:
            day = history_start
            while day <= since:
                for story in gen.stories(acct.account_id, day):
                    span = next((s for s in spans(story) if s[0] == story.posted_id), None)
                    if (span is not None and span[2] is None and live(span, since)
                            and (story.modified_day is None or story.modified_day <= since)
                            and span[0] not in involved):
                        candidates.append((story, span[0]))
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
                now += 1
                copy = {**row, "transaction_id": plaid_id("reissue", item.item_id, tid, now),
                        "pending_transaction_id": None}
                new.append({"seq": now, "transaction_id": copy["transaction_id"],
                            "account_id": story.account_id,
                            "auth_day": story.auth_day.isoformat(), REISSUE_OF: tid,
                            "row": copy})
                payloads.append(to_plaid(copy))
            self._entries.setdefault(item.item_id, []).extend(new)
            self._state.put("overlays", self._entries)
            return payloads, now


def _patch(row: dict, e: Entry) -> dict:
    return {**row, "amount": e["amount"], "name": e["name"]}


def _story(gen: Generator, e: Entry) -> Story:
    tid = e["transaction_id"]
    return next(s for s in gen.stories(e["account_id"], date.fromisoformat(e["auth_day"]))
                if tid in (s.pending_id, s.posted_id))
