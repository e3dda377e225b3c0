"""The static layout of the synthetic world: institutions, users, items, accounts, profiles.

Everything is a pure function of ``seed`` (and of the user's id): user ``user_0003`` has the
same accounts and habits whatever the number of users in the world.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.sandbox_bank import merchants as mc
from connectors.sandbox_bank.ids import digest, plaid_id, rng, uuid4_from
from connectors.sandbox_bank.institutions import (
    INSTITUTIONS,
    INSTITUTIONS_BY_ID,
    Institution,
    institutions_for,
)

# kind -> (Plaid type, Plaid subtype, account name)
KINDS: dict[str, tuple[str, str, str]] = {
    "checking": ("depository", "checking", "Everyday Checking"),
    "savings": ("depository", "savings", "High-Yield Savings"),
    "credit": ("credit", "credit card", "Rewards Credit Card"),
    "student": ("loan", "student", "Student Loan"),
    "mortgage": ("loan", "mortgage", "30-Year Fixed Mortgage"),
    "brokerage": ("investment", "brokerage", "Individual Brokerage"),
}

CITIES = (("SAN FRANCISCO", "CA"), ("OAKLAND", "CA"), ("LOS ANGELES", "CA"), ("NEW YORK", "NY"),
          ("BROOKLYN", "NY"), ("CHICAGO", "IL"), ("AUSTIN", "TX"), ("HOUSTON", "TX"),
          ("SEATTLE", "WA"), ("DENVER", "CO"), ("BOSTON", "MA"), ("ATLANTA", "GA"),
          ("MIAMI", "FL"), ("PORTLAND", "OR"), ("PHOENIX", "AZ"), ("PHILADELPHIA", "PA"))
EMPLOYERS = ("ACME CORP", "INITECH INC", "GLOBEX CORPORATION", "HOOLI INC", "STARK INDUSTRIES",
             "WAYNE ENTERPRISES", "VANDELAY INDUSTRIES", "PIED PIPER INC", "DUNDER MIFFLIN",
             "MASSIVE DYNAMIC", "WONKA INDUSTRIES", "OCEANIC AIRLINES", "UMBRELLA HEALTH",
             "SOYLENT FOODS", "NAKATOMI TRADING", "CYBERDYNE SYSTEMS")
LANDLORDS = ("Greystar", "Equity Residential", "AvalonBay Communities", "Essex Property Trust",
             "Bozzuto", "Lincoln Property Company", "Camden Property Trust", "UDR Inc")
PEOPLE = ("JOHN SMITH", "MARIA GARCIA", "WEI CHEN", "PRIYA PATEL", "JAMES JOHNSON",
          "FATIMA KHAN", "DAVID KIM", "SARAH MILLER", "CARLOS LOPEZ", "EMMA WILSON")
TICKERS = ("VTI", "VXUS", "SCHD", "AAPL", "MSFT", "JNJ", "KO", "PG", "VZ", "O", "BND", "VYM")
SUBSCRIPTION_GROUPS = frozenset({"streaming", "music", "software", "gyms"})
VARIABLE_GROUPS = frozenset({"electricity", "water", "waste"})


@dataclass(frozen=True)
class Account:
    account_id: str
    item_id: str
    user_id: str
    institution_id: str
    kind: str
    mask: str  # last 4 digits only; full account numbers never exist here
    opening: float  # balance before history (owed amount for credit and loans)
    limit: float | None
    monthly: float  # loan instalment (loans only)
    extras: tuple[tuple[str, int, int], ...] = ()  # brokerage dividends: (ticker, month%3, dom)

    @property
    def type(self) -> str:
        return KINDS[self.kind][0]

    @property
    def subtype(self) -> str:
        return KINDS[self.kind][1]


@dataclass(frozen=True)
class Item:
    item_id: str
    user_id: str
    institution_id: str
    access_token: str
    accounts: tuple[Account, ...]


@dataclass(frozen=True)
class Bill:
    merchant: mc.Merchant
    price: float
    dom: int
    account_id: str


@dataclass(frozen=True)
class Profile:
    user_id: str
    city: str
    state: str
    employer: str
    paycheck: float
    payday_offset: int  # 0 or 7: biweekly Fridays
    landlord: str | None  # None: pays a mortgage instead of rent
    rent: float
    bills: tuple[Bill, ...]
    card_due_dom: int
    savings_transfer: float
    invest_contribution: float
    tax_refund: tuple[int, int, float] | None  # (month, day, amount)
    revolver: bool  # carries a card balance -> monthly interest charges
    spend_scale: float  # multiplies purchase amounts (richer users spend more)
    checking: str  # primary checking account id (payroll lands here)
    secondary: tuple[str, ...]  # other checking accounts, topped up monthly from the primary
    savings: str | None
    brokerage: str | None
    cards: tuple[str, ...]
    loans: tuple[str, ...]


def _layout(seed: int, user_id: str, institutions: tuple[Institution, ...] = INSTITUTIONS
            ) -> list[tuple[Institution, list[str]]]:
    if user_id == "user_0001":  # guarantees every account type exists in any world
        by_id = INSTITUTIONS_BY_ID
        return [(by_id["ins_1"], ["checking", "savings", "credit"]),
                (by_id["ins_4"], ["student"]), (by_id["ins_6"], ["brokerage"])]
    if len(institutions) > len(INSTITUTIONS):
        return _layout_many(seed, user_id, institutions)
    r = rng(seed, "layout", user_id)
    banks = [i for i in INSTITUTIONS if "checking" in i.products]
    primary = r.choice(banks)
    out = [(primary, ["checking"] + [k for k in primary.products[1:] if r.random() < 0.55])]
    others = [i for i in INSTITUTIONS if i is not primary]
    for ins in r.sample(others, r.choices((0, 1, 2), weights=(3, 4, 3))[0]):
        kinds = [k for k in ins.products if k != "checking" and r.random() < 0.6]
        out.append((ins, kinds or [r.choice(ins.products)]))
    return out


def _layout_many(seed: int, user_id: str, institutions: tuple[Institution, ...]
                 ) -> list[tuple[Institution, list[str]]]:
    """Layout in a world of more than seven institutions: user number k always has an item
    at institution ``k mod n``, so every institution has users once there are n users."""
    r = rng(seed, "layout", user_id, len(institutions))
    anchor = institutions[(int(user_id.rsplit("_", 1)[1]) - 1) % len(institutions)]
    banks = [i for i in institutions if "checking" in i.products]
    primary = anchor if anchor in banks else r.choice(banks)
    out = [(primary, ["checking"] + [k for k in primary.products
                                     if k != "checking" and r.random() < 0.55])]
    forced = [] if anchor is primary else [anchor]
    others = [i for i in institutions if i is not primary and i is not anchor]
    extra = max(0, r.choices((0, 1, 2), weights=(3, 4, 3))[0] - len(forced))
    for ins in forced + r.sample(others, extra):
        kinds = [k for k in ins.products if k != "checking" and r.random() < 0.6]
        out.append((ins, kinds or [r.choice(ins.products)]))
    return out


def _account(seed: int, item_id: str, user_id: str, ins: Institution, kind: str) -> Account:
    account_id = plaid_id(seed, "account", item_id, kind)
    r = rng(seed, "opening", account_id)
    mask = f"{int.from_bytes(digest(seed, 'mask', account_id)[:4], 'big') % 10000:04d}"
    limit, monthly = None, 0.0
    extras: tuple[tuple[str, int, int], ...] = ()
    if kind == "checking":
        opening = round(r.uniform(1500, 9000), 2)
    elif kind == "savings":
        opening = round(r.uniform(3000, 45000), 2)
    elif kind == "credit":
        opening, limit = round(r.uniform(150, 2500), 2), float(r.randrange(3000, 25001, 500))
    elif kind == "student":
        opening, monthly = round(r.uniform(12000, 60000), 2), round(r.uniform(150, 450), 2)
    elif kind == "mortgage":
        opening, monthly = round(r.uniform(180000, 520000), 2), round(r.uniform(1300, 2600), 2)
    else:
        opening = round(r.uniform(8000, 160000), 2)
        extras = tuple((t, r.randrange(3), r.randint(1, 28))
                       for t in r.sample(TICKERS, r.randint(2, 4)))
    return Account(account_id, item_id, user_id, ins.institution_id, kind, mask, opening, limit,
                   monthly, extras)


def _profile(seed: int, user_id: str, accounts: list[Account]) -> Profile:
    r = rng(seed, "profile", user_id)
    by_kind = {k: [a.account_id for a in accounts if a.kind == k] for k in KINDS}
    checking = by_kind["checking"][0]
    cards = tuple(by_kind["credit"])
    loans = tuple(by_kind["student"] + by_kind["mortgage"])
    city, state = r.choice(CITIES)
    bills: list[Bill] = []
    wanted = [("electricity", 1.0), ("internet", 0.95), ("phone", 1.0), ("water", 0.5),
              ("waste", 0.3), ("insurance", 0.7), ("security", 0.15), ("streaming", 0.9),
              ("streaming", 0.5), ("streaming", 0.3), ("music", 0.6), ("software", 0.5),
              ("software", 0.3), ("gyms", 0.4)]
    for group, p in wanted:
        if r.random() >= p:
            continue
        options = [m for m in mc.by_group(group) if m not in {b.merchant for b in bills}]
        m = r.choices(options, weights=[o.weight for o in options])[0]
        lo, hi = m.amount_range
        price = round(r.uniform(lo, hi), 2) if group in VARIABLE_GROUPS \
            else mc.subscription_price(lo, hi, r)
        use_card = cards and (group in SUBSCRIPTION_GROUPS or r.random() < 0.3) \
            and r.random() < 0.8
        bills.append(Bill(m, price, r.randint(1, 28), r.choice(cards) if use_card else checking))
    mortgage = bool(by_kind["mortgage"])
    paycheck = round(r.uniform(80000, 240000) * 0.72 / 26, 2)
    monthly_net = paycheck * 26 / 12
    refund = (r.randint(2, 5), r.randint(1, 28), round(r.uniform(150, 3500), 2)) \
        if r.random() < 0.6 else None
    return Profile(
        user_id=user_id, city=city, state=state, employer=r.choice(EMPLOYERS),
        paycheck=paycheck, payday_offset=r.choice((0, 7)),
        landlord=None if mortgage else r.choice(LANDLORDS),
        rent=0.0 if mortgage else round(monthly_net * r.uniform(0.22, 0.33) / 25) * 25.0,
        bills=tuple(bills), card_due_dom=r.randint(15, 25),
        savings_transfer=round(paycheck * r.uniform(0.03, 0.1) / 25) * 25.0,
        invest_contribution=round(monthly_net * r.uniform(0.03, 0.1) / 50) * 50.0,
        tax_refund=refund, spend_scale=round(min(1.5, max(0.6, monthly_net / 8000)), 2),
        revolver=r.random() < 0.3, checking=checking, secondary=tuple(by_kind["checking"][1:]),
        savings=next(iter(by_kind["savings"]), None),
        brokerage=next(iter(by_kind["brokerage"]), None),
        cards=cards, loans=loans)


class World:
    """Institutions, users, items, accounts and user profiles of one seed."""

    def __init__(self, seed: int, n_users: int, n_institutions: int = len(INSTITUTIONS)) -> None:
        if n_users < 1:
            raise ValueError(f"users must be >= 1, got {n_users}")
        self.seed = seed
        self.institutions = institutions_for(seed, n_institutions)
        self.institutions_by_id = {i.institution_id: i for i in self.institutions}
        self.users = [f"user_{i:04d}" for i in range(1, n_users + 1)]
        self.items: list[Item] = []
        self.accounts: dict[str, Account] = {}
        self.profiles: dict[str, Profile] = {}
        for user_id in self.users:
            user_accounts: list[Account] = []
            for ins, kinds in _layout(seed, user_id, self.institutions):
                item_id = plaid_id(seed, "item", user_id, ins.institution_id)
                accounts = tuple(_account(seed, item_id, user_id, ins, k) for k in kinds)
                token = "access-sandbox-" + uuid4_from(seed, "access", item_id)
                self.items.append(Item(item_id, user_id, ins.institution_id, token, accounts))
                user_accounts.extend(accounts)
            self.accounts.update((a.account_id, a) for a in user_accounts)
            self.profiles[user_id] = _profile(seed, user_id, user_accounts)
        self.items_by_token = {i.access_token: i for i in self.items}
        self.items_by_id = {i.item_id: i for i in self.items}

    def item_for(self, user_id: str, institution_id: str) -> Item | None:
        return next((i for i in self.items
                     if i.user_id == user_id and i.institution_id == institution_id), None)
