"""The Plaid endpoints of the sandbox bank and its ground truth (a base of SandboxBank)."""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date

from connectors.sandbox_bank import changes as ch
from connectors.sandbox_bank import errors as er
from connectors.sandbox_bank.errors import BankError, invalid_field
from connectors.sandbox_bank.generator import Generator
from connectors.sandbox_bank.ids import plaid_id, short_hash, uuid4_from
from connectors.sandbox_bank.injector import Injection
from connectors.sandbox_bank.overlay import Overlay
from connectors.sandbox_bank.state import BankState
from connectors.sandbox_bank.world import Item, World

log = logging.getLogger(__name__)
Response = tuple[int, dict]
# how ``malformed_records`` breaks a record on the wire: how -> (field, broken value or None
# to drop the field)
BREAKS: dict[str, tuple[str, Callable[[dict], object] | None]] = {
    "amount_string": ("amount", lambda r: f"{r['amount']:.2f}"),
    "amount_nan": ("amount", lambda r: float("nan")),  # json.dumps writes the bare token NaN
    "unknown_currency": ("iso_currency_code", lambda r: "ZZZ"),
    "impossible_date": ("date", lambda r: "2026-02-30"),
    "no_transaction_id": ("transaction_id", None),
}
# what ``leaky_descriptions`` writes into a description: {account} a full account number,
# {short} a shorter one (after a keyword), {routing} a routing number (ABA checksum right),
# {card} a Luhn-valid card number as printed
LEAKS = (
    "ONLINE TRANSFER TO CHK {account} ROUTING {routing}",
    "ACH DEBIT ACCT# {short} ABA {routing}",
    "PAYMENT CARD {card}",
    "WIRE TRANSFER FROM {account} CARD {card}",
)
# the first two digits of US routing numbers: Federal Reserve districts, thrifts, electronic
ROUTING_PREFIXES = tuple(f"{n:02d}" for n in (*range(1, 13), *range(21, 33), *range(61, 73),
                                                80))


def _endpoint(fn: Callable[..., dict]) -> Callable[..., Response]:
    """Adds the request_id and turns :class:`BankError` into a Plaid error response."""

    @functools.wraps(fn)
    def wrapper(self: PlaidEndpoints, body: dict, **kw: object) -> Response:
        try:
            result = fn(self, body, **kw)
        except BankError as e:
            return e.status, e.body(self._request_id(fn.__name__, body, e.error_code))
        return 200, {**result, "request_id": self._request_id(fn.__name__, body, result)}

    return wrapper


class PlaidEndpoints:
    """Endpoints at Plaid's paths (each takes the JSON body, returns (status, JSON))."""

    _state: BankState
    _lock: threading.RLock
    seed: int
    history_start: date
    world: World
    gen: Generator
    overlay: Overlay
    _diffs: OrderedDict[tuple, list[ch.Change]]
    _balances: dict[tuple[str, date, int], dict]

    @property
    def clock(self) -> date:
        """The bank shows the world as of the end of this day."""
        return self._state.clock

    def _request_id(self, name: str, body: dict, result: object = None) -> str:
        """Deterministic: equal ids mean equal request, clock and response."""
        canon = json.dumps([body, result], sort_keys=True, default=str)
        return plaid_id(self.seed, self.clock, name, canon, length=15)

    def _item(self, body: dict) -> Item:
        token = body.get("access_token")
        item = self.world.items_by_token.get(token) if isinstance(token, str) else None
        if item is None or item.item_id in (self._state.get("removed_items") or []):
            log.info("rejected access token %s", short_hash(str(token)))
            raise er.invalid_access_token()
        return item

    @_endpoint
    def item_remove(self, body: dict) -> dict:
        """Revoke an item's access token (Plaid ``/item/remove``); linking it again restores
        access."""
        item = self._item(body)
        with self._lock:
            removed = set(self._state.get("removed_items") or [])
            self._state.put("removed_items", sorted(removed | {item.item_id}))
        return {}

    @_endpoint
    def public_token_create(self, body: dict) -> dict:
        ins_id = body.get("institution_id")
        if ins_id not in self.world.institutions_by_id:
            raise BankError(400, "INVALID_INPUT", "INVALID_INSTITUTION",
                            f"invalid institution_id {ins_id!r}")
        user_id = (body.get("options") or {}).get("override_username")
        item = self.world.item_for(str(user_id), str(ins_id))
        if item is None:
            raise BankError(400, "ITEM_ERROR", "INVALID_CREDENTIALS",
                            f"user {user_id!r} has no accounts at {ins_id}",
                            "The credentials you provided were incorrect.")
        token = self._state.issue_public_token(
            item.item_id,
            lambda n: "public-sandbox-" + uuid4_from(self.seed, "public", item.item_id, n))
        return {"public_token": token}

    @_endpoint
    def public_token_exchange(self, body: dict) -> dict:
        item_id = self._state.exchange_public_token(str(body.get("public_token")))
        if item_id is None:
            raise BankError(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN",
                            "provided public token is invalid, expired or already used")
        with self._lock:
            removed = self._state.get("removed_items") or []
            if item_id in removed:  # linked again after /item/remove
                self._state.put("removed_items", [i for i in removed if i != item_id] or None)
        item = self.world.items_by_id[item_id]
        return {"access_token": item.access_token, "item_id": item.item_id}

    @_endpoint
    def transactions_sync(self, body: dict, inj: Injection | None = None) -> dict:
        """``inj``: a ``mutation``, ``empty_results``, ``duplicate_ids``, ``reissued_ids``,
        ``malformed_records`` or ``leaky_descriptions`` fault to inject (others are carried
        out by the caller)."""
        item = self._item(body)
        count = body.get("count", 100)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 500:
            raise invalid_field("count must be an integer between 1 and 500")
        clock, text = self.clock, body.get("cursor") or None
        top = self.overlay.max_gen(item.item_id)
        if text is None:
            cur = ch.Cursor(None, clock, 0, top, 0, top)
        else:
            try:
                cur = ch.decode_cursor(item, str(text))
            except ValueError as e:
                raise invalid_field(f"cursor: {e}") from e
            if cur.offset is None:
                if cur.until > clock:
                    raise invalid_field("cursor: position is in the bank's future")
                top = max(top, cur.gen)
                cur = ch.Cursor(cur.until, clock, 0, top, cur.gen, top)
            elif cur.until != clock:
                raise er.mutation_during_pagination()
        kind = inj.fault.kind if inj else None
        if kind == "mutation":
            raise er.mutation_during_pagination()
        accounts = self._accounts(item, clock)
        if kind == "empty_results":
            return {"added": [], "modified": [], "removed": [], "next_cursor": text or "",
                    "has_more": False, "accounts": accounts,
                    "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE"}
        changes = self._changes(item, cur)
        offset = cur.offset or 0
        page, has_more = changes[offset:offset + count], offset + count < len(changes)
        added, seen = [p for k, p in page if k == "added"], cur.seen
        if inj and kind == "duplicate_ids" and cur.since is not None:
            again, seen = self.overlay.correct(
                self.gen, item, cur.since, cur.until, self.history_start,
                {p["transaction_id"] for _, p in changes}, int(inj.fault["count"]), inj.rng,
                cur.seen)
            added += again
            inj.details["transaction_ids"] = [p["transaction_id"] for p in again]
            if again:
                accounts = self._accounts(item, clock)
        if inj and kind == "reissued_ids" and cur.since is not None:
            copies, seen = self.overlay.reissue(
                self.gen, item, cur.since, cur.until, self.history_start,
                {p["transaction_id"] for _, p in changes}, int(inj.fault["count"]), inj.rng,
                cur.seen)
            added += copies
            inj.details["transaction_ids"] = [p["transaction_id"] for p in copies]
            inj.details["reissues"] = [
                {"transaction_id": e["transaction_id"], "reissue_of": e["reissue_of"]}
                for e in self.overlay.reissues(item.item_id, seen)[-len(copies):]
            ] if copies else []
        nxt = ch.Cursor(cur.since, cur.until, offset + count, cur.gen, cur.since_gen, seen) \
            if has_more else ch.Cursor(cur.until, cur.until, gen=seen)
        out = {"added": added,
               "modified": [p for k, p in page if k == "modified"],
               "removed": [p for k, p in page if k == "removed"],
               "next_cursor": ch.encode_cursor(item, nxt), "has_more": has_more,
               "accounts": accounts,
               "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE"}
        if inj and kind == "malformed_records":
            break_records(out, inj)
        if inj and kind == "leaky_descriptions":
            leak_numbers(out, inj)
        return out

    @_endpoint
    def accounts_get(self, body: dict) -> dict:
        item = self._item(body)
        return {"accounts": self._accounts(item, self.clock), "item": self._item_json(item)}

    @_endpoint
    def accounts_balance_get(self, body: dict) -> dict:
        item = self._item(body)
        return {"accounts": self._accounts(item, self.clock), "item": self._item_json(item)}

    @_endpoint
    def institutions_get_by_id(self, body: dict) -> dict:
        ins = self.world.institutions_by_id.get(str(body.get("institution_id")))
        if ins is None:
            raise BankError(400, "INVALID_INPUT", "INVALID_INSTITUTION",
                            f"invalid institution_id {body.get('institution_id')!r}")
        return {"institution": ch.institution_json(ins)}

    @_endpoint
    def item_get(self, body: dict) -> dict:
        return {"item": self._item_json(self._item(body))}

    def _item_json(self, item: Item) -> dict:
        return ch.item_json(item, self.world.institutions_by_id[item.institution_id])

    def _accounts(self, item: Item, day: date) -> list[dict]:
        ins = self.world.institutions_by_id[item.institution_id]
        gen = self.overlay.max_gen(item.item_id)
        out = []
        for acct in item.accounts:
            key = (acct.account_id, day, gen)
            if key not in self._balances:
                self._balances[key] = ch.balances(self.gen, acct, day, self.history_start,
                                                  self.overlay.amounts(item.item_id, gen))
            out.append(ch.account_json(acct, dict(self._balances[key]), ins))
        return out

    def _changes(self, item: Item, cur: ch.Cursor) -> list[ch.Change]:
        """The update of ``cur`` (a page cursor): plain diff, then bank-side corrections."""
        return self.overlay.apply_changes(self.gen, item, self._diff(item, cur.since, cur.until),
                                          cur.since, cur.since_gen, cur.until, cur.gen)

    def _diff(self, item: Item, since: date | None, until: date) -> list[ch.Change]:
        key = (item.item_id, since, until)
        with self._lock:
            if key in self._diffs:
                self._diffs.move_to_end(key)
                return self._diffs[key]
        result = ch.diff(self.gen, item, since, until, self.history_start)
        with self._lock:
            self._diffs[key] = result
            while len(self._diffs) > 128:
                self._diffs.popitem(last=False)
        return result

    # -- ground truth ---------------------------------------------------------------------
    def _completed(self, access_token: str, cursor: str | None
                   ) -> tuple[Item, ch.Cursor | None]:
        """(the item, its decoded cursor: None before anything was synced); the cursor must
        be a completed update's."""
        item = self._item({"access_token": access_token})
        if not cursor:
            return item, None
        try:
            cur = ch.decode_cursor(item, cursor)
        except ValueError as e:
            raise invalid_field(f"cursor: {e}") from e
        if cur.offset is not None:
            raise invalid_field("cursor: truth needs the cursor of a completed update "
                                "(the next_cursor of a page with has_more = false)")
        return item, cur

    def truth(self, access_token: str, cursor: str | None) -> list[dict]:
        """The live instances a perfect client holds after applying every update up to
        ``cursor`` (a completed update's ``next_cursor``; None/"" = nothing synced yet),
        with the true ``category_detailed`` and ``mcc`` (and bank-side corrections that
        position includes)."""
        item, cur = self._completed(access_token, cursor)
        if cur is None:
            return []
        rows = ch.live_at(self.gen, item, cur.until, self.history_start)
        return self.overlay.apply_rows(item.item_id, rows, cur.gen)

    def truth_reissues(self, access_token: str, cursor: str | None) -> list[dict]:
        """Which of :meth:`truth`'s ids re-issue which (the ``reissued_ids`` fault) as of
        ``cursor``: ``transaction_id``, ``account_id``, ``reissue_of``, ``seq``."""
        item, cur = self._completed(access_token, cursor)
        if cur is None:
            return []
        return self.overlay.reissues(item.item_id, cur.gen)

    def truth_for_user(self, user_id: str, cursors_by_item: Mapping[str, str | None]
                       ) -> list[dict]:
        """Truth over all of a user's items; items missing from the mapping count as unsynced."""
        out: list[dict] = []
        for item in self.world.items:
            if item.user_id == user_id:
                out.extend(self.truth(item.access_token, cursors_by_item.get(item.item_id)))
        return out


def break_records(page: dict, inj: Injection) -> None:
    """Give ``count`` records of the page's ``added``/``modified`` one wrong field each.

    Only the page's lists hold the broken copies: the bank's records (and its caches of
    them) stay as they were, so its truth is unchanged. What was broken, and how, goes to
    ``inj.details`` for the fault log."""
    spots = [(section, i) for section in ("added", "modified") for i in range(len(page[section]))]
    chosen = sorted(inj.rng.sample(spots, min(int(inj.fault["count"]), len(spots))))
    breaks = []
    for section, i in chosen:
        rec = dict(page[section][i])
        how = inj.rng.choice(sorted(BREAKS))
        name, broken = BREAKS[how]
        breaks.append({"transaction_id": rec["transaction_id"], "account_id": rec["account_id"],
                       "section": section, "field": name, "how": how})
        if broken is None:
            del rec[name]
        else:
            rec[name] = broken(rec)
        page[section][i] = rec
    inj.details.update(transaction_ids=[b["transaction_id"] for b in breaks], breaks=breaks)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _routing_number(rng: random.Random) -> str:
    """9 digits whose ABA checksum (weights 3, 7, 1) is right."""
    head = [int(c) for c in rng.choice(ROUTING_PREFIXES) + _digits(rng, 6)]
    partial = 3 * (head[0] + head[3] + head[6]) + 7 * (head[1] + head[4] + head[7]) \
        + head[2] + head[5]
    return "".join(map(str, head)) + str(-partial % 10)


def _card_number(rng: random.Random) -> tuple[str, str]:
    """A Luhn-valid card number (Visa, Mastercard or Amex): its digits, and as printed."""
    prefix, length = rng.choice((("4", 16), (str(rng.randint(51, 55)), 16),
                                 (rng.choice(("34", "37")), 15)))
    body = prefix + _digits(rng, length - len(prefix) - 1)
    total = sum(d * 2 - 9 * (d > 4) if i % 2 == 0 else d
                for i, d in enumerate(int(c) for c in reversed(body)))
    digits = body + str(-total % 10)
    sep = rng.choice((" ", "-", ""))
    groups = (4, 6, 5) if length == 15 else (4, 4, 4, 4)
    cuts = [sum(groups[:k]) for k in range(len(groups) + 1)]
    return digits, sep.join(digits[a:b] for a, b in zip(cuts, cuts[1:], strict=False))


def leak_numbers(page: dict, inj: Injection) -> None:
    """Write a full account, routing and/or card number into the ``original_description``
    (and, with ``in_name``, the ``name``) of ``count`` records of the page's
    ``added``/``modified``.

    Only the page's lists hold the leaky copies: the bank's truth is unchanged. Each leak
    (transaction id, the text, every number in it as digits) goes to ``inj.details``."""
    rng = inj.rng
    spots = [(section, i) for section in ("added", "modified") for i in range(len(page[section]))]
    chosen = sorted(rng.sample(spots, min(int(inj.fault["count"]), len(spots))))
    leaks = []
    for section, i in chosen:
        rec = dict(page[section][i])
        template = rng.choice(LEAKS)
        card, printed = _card_number(rng)
        numbers = {"account": _digits(rng, rng.randint(10, 14)), "short": _digits(rng, 8),
                   "routing": _routing_number(rng), "card": card}
        text = template.format(**{**numbers, "card": printed})
        rec["original_description"] = text
        if inj.fault["in_name"]:
            rec["name"] = text
        page[section][i] = rec
        leaks.append({"transaction_id": rec["transaction_id"], "account_id": rec["account_id"],
                      "section": section, "text": text,
                      "numbers": [v for k, v in numbers.items() if f"{{{k}}}" in template]})
    inj.details.update(transaction_ids=[x["transaction_id"] for x in leaks], leaks=leaks)
