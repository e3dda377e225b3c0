"""Generates transaction stories (see :mod:`stories`) for every account of a world.

The stories of an (account, authorization day) come from an RNG seeded with
(seed, account_id, day), so any day can be generated alone, in any order, with identical
results.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import date, timedelta

from connectors.sandbox_bank import merchants as mc
from connectors.sandbox_bank.ids import plaid_id, rng
from connectors.sandbox_bank.stories import Draft, Story
from connectors.sandbox_bank.world import (
    PEOPLE,
    VARIABLE_GROUPS,
    Account,
    Profile,
    World,
)

MAX_SPAN = 14  # every lifecycle event of a story happens before auth_day + MAX_SPAN
PAYDAY_EPOCH = date(2024, 1, 5)  # a Friday
_FLOW_SEQ = 50  # flow stories are numbered from here, base stories from 0


class Generator:
    """Generates (and caches) the stories of every account of a :class:`World`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seed = world.seed
        self._base: dict[tuple[str, date], list[Story]] = {}  # may not read other accounts
        self._all: dict[tuple[str, date], list[Story]] = {}  # base + cross-account flows
        self._lock = threading.Lock()

    def stories(self, account_id: str, day: date) -> list[Story]:
        """All stories authorised on ``day`` for the account."""
        key = (account_id, day)
        got = self._all.get(key)
        if got is None:
            acct = self.world.accounts[account_id]
            flows = self._flow_drafts(acct, self.world.profiles[acct.user_id], day)
            got = self._base_stories(acct, day) + [
                self._finish(acct, day, _FLOW_SEQ + i, d) for i, d in enumerate(flows)]
            with self._lock:
                if len(self._all) > 400_000:
                    self._all.clear()
                self._all[key] = got
        return got

    def _base_stories(self, acct: Account, day: date) -> list[Story]:
        key = (acct.account_id, day)
        got = self._base.get(key)
        if got is None:
            drafts = self._base_drafts(acct, self.world.profiles[acct.user_id], day)
            got = [self._finish(acct, day, i, d) for i, d in enumerate(drafts)]
            with self._lock:
                if len(self._base) > 400_000:
                    self._base.clear()
                self._base[key] = got
        return got

    def statement(self, account_id: str, year: int, month: int) -> float:
        """Net spending of an account's calendar month, excluding cross-account flows: what
        the next card payment (or top-up of a secondary checking account) covers."""
        acct = self.world.accounts[account_id]
        day, total = date(year, month, 1), 0.0
        while day.month == month:
            total += sum(s.amount for s in self._base_stories(acct, day) if s.posted_id)
            day += timedelta(days=1)
        return round(max(total, 0.0), 2)

    # -- drafting -------------------------------------------------------------------------
    def _draft(self, r: random.Random, day: date, p: Profile, kind: str, amount: float,
               extra: dict[str, str] | None = None, merchant_name: str | None = None) -> Draft:
        flow = mc.FLOWS[kind]
        name = mc.render(r.choice(flow.templates), r, day, city=p.city, state=p.state,
                         extra=extra)
        return Draft(kind, name, merchant_name or flow.merchant_name, round(amount, 2),
                     flow.category, flow.mcc, flow.channel)

    def _merchant_draft(self, r: random.Random, day: date, p: Profile, m: mc.Merchant,
                        amount: float, kind: str = "purchase") -> Draft:
        name = mc.render(r.choice(m.templates), r, day, city=p.city, state=p.state,
                         token=m.token)
        if kind == "refund":
            name = r.choice(("RETURN {}", "REFUND {}", "{} CREDIT")).format(name)
        return Draft(kind, name, m.name, round(amount, 2), m.category, m.mcc, m.channel,
                     card=kind != "refund", tip=m.group == "restaurant")

    def _base_drafts(self, acct: Account, p: Profile, day: date) -> list[Draft]:
        r = rng(self.seed, "day", acct.account_id, day)
        bank = self.world.institutions_by_id[acct.institution_id].short
        out: list[Draft] = []
        month_end = (day + timedelta(days=1)).day == 1
        if acct.kind in ("checking", "credit"):
            if acct.kind == "credit":  # the first card is the everyday one
                weights = (20, 35, 30, 15) if acct.account_id == p.cards[0] else (70, 25, 5, 0)
            else:
                weights = (50, 32, 13, 5) if p.cards else (15, 35, 30, 20)
            for _ in range(r.choices((0, 1, 2, 3), weights=weights)[0]):
                m = mc.pick_spend(r)
                amount = mc.pick_amount(*m.amount_range, r) * p.spend_scale
                out.append(self._merchant_draft(r, day, p, m, amount))
            if r.random() < 0.012:
                m = mc.pick_spend(r)
                out.append(self._merchant_draft(r, day, p, m, -mc.pick_amount(*m.amount_range, r),
                                                "refund"))
            for b in p.bills:
                if b.account_id == acct.account_id and b.dom == day.day:
                    price = b.price
                    if b.merchant.group in VARIABLE_GROUPS:
                        price = b.price * rng(self.seed, "bill", b.merchant.name, day).uniform(
                            0.75, 1.3)
                    d = self._merchant_draft(r, day, p, b.merchant, price, "bill")
                    out.append(replace(d, card=acct.kind == "credit"))
        if acct.kind == "checking":
            if r.random() < 0.03:
                out.append(self._draft(r, day, p, "atm", r.choice((20, 40, 60, 80, 100, 200)),
                                       {"BANK": bank}))
                if r.random() < 0.4:
                    out.append(self._draft(r, day, p, "atm_fee", r.choice((2.5, 3.0, 3.5)),
                                           {"BANK": bank}))
            if r.random() < 0.03:
                out.append(self._draft(r, day, p, "venmo_out", r.uniform(5, 150),
                                       {"PERSON": r.choice(PEOPLE)}))
            if r.random() < 0.02:
                out.append(self._draft(r, day, p, "zelle_in", -r.uniform(10, 300),
                                       {"PERSON": r.choice(PEOPLE)}))
            if day.day == 28 and rng(self.seed, "fee", acct.account_id).random() < 0.25:
                out.append(self._draft(r, day, p, "maintenance_fee", r.choice((12.0, 15.0))))
            if r.random() < 0.002:
                out.append(self._draft(r, day, p, "overdraft_fee", 35.0))
        elif acct.kind == "credit":
            if r.random() < 0.004:
                out.append(self._draft(r, day, p, "foreign_fee", r.uniform(0.5, 6)))
            if p.revolver and day.day == 25:
                out.append(self._draft(r, day, p, "interest_charge", r.uniform(5, 80)))
            if r.random() < 0.001:
                out.append(self._draft(r, day, p, "late_fee", r.choice((29.0, 40.0))))
        elif acct.kind == "savings":
            if month_end:
                out.append(self._draft(r, day, p, "interest", -r.uniform(0.5, 45)))
            if r.random() < 0.005:
                out.append(self._draft(r, day, p, "savings_withdraw", r.uniform(100, 1500)))
        elif acct.kind == "brokerage":
            for ticker, m3, dom in acct.extras:
                if day.month % 3 == m3 and day.day == dom:
                    out.append(self._draft(r, day, p, "dividend", -r.uniform(2, 180),
                                           {"TICKER": ticker}))
            if month_end:
                out.append(self._draft(r, day, p, "interest", -r.uniform(0.01, 12)))
        return out

    def _flow_drafts(self, acct: Account, p: Profile, day: date) -> list[Draft]:
        """User-level flows that touch two accounts (each side drafted on its own)."""
        r = rng(self.seed, "flow", acct.account_id, day)
        accounts = self.world.accounts
        payday = (day - PAYDAY_EPOCH).days % 14 == p.payday_offset
        prev = (day.replace(day=1) - timedelta(days=1))
        out: list[Draft] = []

        def short(account_id: str) -> str:
            return self.world.institutions_by_id[accounts[account_id].institution_id].short

        if acct.account_id == p.checking:
            if payday:
                out.append(self._draft(r, day, p, "payroll", -p.paycheck, {"EMP": p.employer},
                                       p.employer.title()))
            if p.landlord and day.day == 1:
                out.append(self._draft(r, day, p, "rent", p.rent,
                                       {"LANDLORD": p.landlord.upper()}, p.landlord))
            for card in p.cards if day.day == p.card_due_dom else ():
                due = self.statement(card, prev.year, prev.month)
                if due > 0:
                    out.append(self._draft(r, day, p, "card_pay_out", due,
                                           {"BANK": short(card), "MASK": accounts[card].mask}))
            for loan in p.loans:
                if day.day == 15:
                    kind = "mortgage_out" if accounts[loan].kind == "mortgage" else "student_out"
                    out.append(self._draft(r, day, p, kind, accounts[loan].monthly,
                                           {"BANK": short(loan)}))
            for other in p.secondary if day.day == 3 else ():
                due = self.statement(other, prev.year, prev.month)
                if due > 0:
                    out.append(self._draft(r, day, p, "xfer_out", due, {
                        "BANK": short(other), "MASK": accounts[other].mask}))
            if p.savings and payday:
                out.append(self._draft(r, day, p, "savings_out", p.savings_transfer,
                                       {"BANK": short(p.savings),
                                        "MASK": accounts[p.savings].mask}))
            if p.brokerage and day.day == 5:
                out.append(self._draft(r, day, p, "invest_out", p.invest_contribution,
                                       {"BANK": short(p.brokerage)}))
            if p.tax_refund and (day.month, day.day) == p.tax_refund[:2]:
                out.append(self._draft(r, day, p, "tax_refund", -p.tax_refund[2]))
        elif acct.kind == "credit" and day.day == p.card_due_dom:
            due = self.statement(acct.account_id, prev.year, prev.month)
            if due > 0:
                out.append(self._draft(r, day, p, "card_pay_in", -due))
        elif acct.account_id in p.secondary and day.day == 3:
            due = self.statement(acct.account_id, prev.year, prev.month)
            if due > 0:
                out.append(self._draft(r, day, p, "xfer_in", -due, {
                    "BANK": short(p.checking), "MASK": accounts[p.checking].mask}))
        elif acct.account_id == p.savings and payday:
            out.append(self._draft(r, day, p, "savings_in", -p.savings_transfer,
                                   {"BANK": short(p.checking), "MASK": accounts[p.checking].mask}))
        elif acct.kind in ("student", "mortgage") and day.day == 15:
            out.append(self._draft(r, day, p, "loan_in", -acct.monthly))
        elif acct.account_id == p.brokerage and day.day == 5:
            out.append(self._draft(r, day, p, "invest_in", -p.invest_contribution))
        return out

    # -- lifecycle ------------------------------------------------------------------------
    def _finish(self, acct: Account, day: date, seq: int, d: Draft) -> Story:
        r = rng(self.seed, "life", acct.account_id, day, seq)
        sends_pending = self.world.institutions_by_id[acct.institution_id].sends_pending
        has_pending = d.card and sends_pending and r.random() < 0.85
        lag = r.choice((0, 1, 1, 1, 2, 2, 3)) if d.card else r.choice((0, 0, 0, 1, 1, 2))
        if has_pending:
            lag = max(lag, 1)
        void = has_pending and r.random() < 0.02
        linked = r.random() < 0.90
        amount = d.amount
        if d.tip and has_pending and r.random() < 0.20:
            amount = round(d.amount * r.uniform(1.15, 1.25), 2)
        merchant = d.merchant_name if r.random() >= 0.08 else None
        post_day = day + timedelta(days=lag)
        modified = removed = None
        clean_name = clean_merchant = None
        if not void and r.random() < 0.05:
            clean_name, clean_merchant = mc.clean_description(d.name), d.merchant_name
            merchant = None  # not yet enriched when it first posts
            if clean_name != d.name or clean_merchant is not None:
                modified = post_day + timedelta(days=r.randint(1, 4))
        if not void and r.random() < 0.005:
            removed = post_day + timedelta(days=r.randint(1, 10))
            if modified and modified >= removed:
                modified = None
        base = (self.seed, "txn", acct.account_id, day.isoformat(), seq)
        return Story(
            account_id=acct.account_id, auth_day=day, kind=d.kind,
            pending_id=plaid_id(*base, "pending") if has_pending else None,
            posted_id=None if void else plaid_id(*base, "posted"), post_day=post_day,
            void_day=day + timedelta(days=r.randint(1, 4)) if void else None, linked=linked,
            pending_amount=d.amount, amount=amount, name=d.name, merchant_name=merchant,
            clean_name=clean_name, clean_merchant=clean_merchant, modified_day=modified,
            removed_day=removed, channel=d.channel, category=d.category, mcc=d.mcc)
