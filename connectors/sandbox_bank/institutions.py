"""Institutions of the synthetic world: the seven fixed ones and seeded extra ones.

A world with ``n`` institutions holds ``ins_1..ins_n``: the first seven are always
:data:`INSTITUTIONS`; ``ins_8`` onwards are drawn from the seed, each from its own RNG, so
``ins_12`` is the same in every world of that seed that has at least 12 institutions.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.sandbox_bank.ids import rng

BASE_COUNT = 7
QPS_CHOICES = (5, 10, 25, 50, 100)


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    rate_limit_qps: int
    refresh_every_days: int
    sends_pending: bool
    products: tuple[str, ...]  # account kinds offered; "checking" first when offered
    short: str  # how statements of other banks name it

    def public(self) -> dict:
        return {"institution_id": self.institution_id, "name": self.name,
                "rate_limit_qps": self.rate_limit_qps,
                "refresh_every_days": self.refresh_every_days,
                "sends_pending": self.sends_pending}


def _ins(n: int, name: str, qps: int, pending: bool, products: str, short: str) -> Institution:
    return Institution(f"ins_{n}", name, qps, 3 if qps <= 10 else 1, pending,
                       tuple(products.split()), short)


INSTITUTIONS: tuple[Institution, ...] = (
    _ins(1, "First Platypus Bank", 100, True, "checking savings credit", "PLATYPUS"),
    _ins(2, "Tartan Bank", 100, True, "checking savings credit", "TARTAN BANK"),
    _ins(3, "Houndstooth Bank", 50, True, "checking credit mortgage", "HOUNDSTOOTH"),
    _ins(4, "Tattersall Federal Credit Union", 10, False, "checking savings student",
         "TATTERSALL FCU"),
    _ins(5, "First Gingham Credit Union", 10, True, "checking savings credit", "GINGHAM CU"),
    _ins(6, "Paisley Investments", 100, False, "brokerage", "PAISLEY INVEST"),
    _ins(7, "Argyle Card Services", 25, True, "credit", "ARGYLE CARD"),
)
INSTITUTIONS_BY_ID = {i.institution_id: i for i in INSTITUTIONS}

_FABRICS = ("Chevron", "Herringbone", "Seersucker", "Madras", "Chambray", "Damask", "Jacquard",
            "Tweed", "Corduroy", "Poplin", "Twill", "Calico", "Chintz", "Muslin", "Batik", "Ikat",
            "Toile", "Flannel", "Velvet", "Denim", "Oxford", "Pinstripe", "Gabardine", "Organza",
            "Brocade", "Taffeta", "Cashmere", "Boucle", "Moleskin", "Shantung", "Pique",
            "Dobby")
# (products, name suffix, short suffix): together they offer every account kind
_PROFILES = (
    ("checking savings credit", "Bank", "BANK"),
    ("checking credit mortgage", "Bank & Trust", "BANK"),
    ("checking savings student", "Federal Credit Union", "FCU"),
    ("brokerage", "Investments", "INVEST"),
    ("credit", "Card Services", "CARD"),
    ("checking savings", "Savings Bank", "SAVINGS"),
    ("student mortgage", "Lending", "LENDING"),
    ("checking savings credit brokerage", "Financial", "FINANCIAL"),
)


def _extra(seed: int, n: int) -> Institution:
    """Institution ``ins_n`` (n > 7) of the world of ``seed``."""
    k = n - BASE_COUNT - 1  # 0 for ins_8
    names = list(_FABRICS)
    rng(seed, "institution-names").shuffle(names)
    fabric = names[k % len(names)]
    if k >= len(names):
        fabric = f"{fabric} {k // len(names) + 1}"
    profiles = list(_PROFILES)
    rng(seed, "institution-profiles").shuffle(profiles)
    r = rng(seed, "institution", n)
    products, suffix, short = profiles[k] if k < len(profiles) else r.choice(_PROFILES)
    first = "First " if r.random() < 0.25 else ""
    qps = r.choice(QPS_CHOICES)
    return _ins(n, f"{first}{fabric} {suffix}", qps, r.random() < 0.8, products,
                f"{fabric.upper()} {short}")


def institutions_for(seed: int, n: int) -> tuple[Institution, ...]:
    """The ``n`` institutions (n >= 7) of the world of ``seed``."""
    if n < BASE_COUNT:
        raise ValueError(f"institutions must be >= {BASE_COUNT}, got {n}")
    return INSTITUTIONS + tuple(_extra(seed, i) for i in range(BASE_COUNT + 1, n + 1))
