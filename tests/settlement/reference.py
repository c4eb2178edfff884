"""Plain-Python reference pricing of a period, written from DESIGN §6 and the README's money rules.

It shares no code with :mod:`marketplace.settlement`: the stateful model prices its
own record of installations and usage here and compares every statement with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def minor(amount: Decimal) -> int:
    """CNY major units → fen, rounded once, half up."""
    return int((amount / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class Inst:
    """The model's record of one installation."""

    id: int
    adopter: str
    module: str
    publisher: str
    created: datetime
    ended: datetime | None = None
    #: (accepted at, terms), oldest first: every agreement this installation has had
    terms: list[tuple[datetime, dict]] = field(default_factory=list)

    def agreement_at(self, instant: datetime) -> tuple[datetime, dict]:
        """(accepted at, terms) of the agreement in force at ``instant`` (the first, before it began)."""
        chosen = self.terms[0]
        for accepted, terms in self.terms:
            if accepted <= instant:
                chosen = (accepted, terms)
        return chosen


def usage_amount(terms: dict, units: int) -> int:
    """Charge in fen for ``units`` under pay-per-use ``terms``."""
    billable = max(0, units - int(terms.get("free_units") or 0))
    model = terms["model"]
    if model == "per_unit":
        amount = billable * Decimal(terms["unit_price"])
    elif model == "graduated":
        amount, below = Decimal(0), 0
        for tier in terms["tiers"]:
            top = tier.get("up_to")
            count = (min(billable, top) if top is not None else billable) - below
            if count <= 0:
                break
            amount += count * Decimal(tier["unit_price"])
            below = top if top is not None else billable
    else:  # volume: every unit at the price of the first tier that holds them all
        tier = next(t for t in terms["tiers"] if t.get("up_to") is None or billable <= t["up_to"])
        amount = billable * Decimal(tier["unit_price"])
    charge = minor(amount)
    if terms.get("cap") is not None:
        charge = min(charge, minor(Decimal(terms["cap"])))
    return charge


def split(total: int, weights: list[tuple[tuple[str, int], int]]) -> dict[tuple[str, int], int]:
    """Largest remainder: floors, then one fen each to the largest remainders (lower key first)."""
    whole = sum(w for _, w in weights)
    if whole == 0:
        return {k: 0 for k, _ in weights}
    shares = {k: total * w // whole for k, w in weights}
    order = sorted(weights, key=lambda kw: (-((total * kw[1]) % whole), kw[0]))
    for key, weight in order[:total - sum(shares.values())]:
        shares[key] += 1
    return shares


def fee(amount: int, bps: int) -> int:
    """The platform's share of a line, half up."""
    return int((Decimal(amount) * bps / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price(installs: list[Inst], usage: dict[int, int], used: set[int], start: datetime,
          end: datetime, bps: int) -> dict[int, tuple[str, int, int, int]]:
    """Per installation id in force in [start, end) or with usage: (kind, units, amount, fee).

    Terms: each installation's agreement in force at ``start`` (its first when it began
    later); a cost-share pool (one per module) takes, of its members' agreements, the
    one accepted last at or before ``start``, else the earliest.
    """
    lines: dict[int, tuple[str, int, int]] = {}
    pools: dict[str, list[Inst]] = {}
    for inst in installs:
        in_force = inst.created < end and (inst.ended is None or inst.ended > start)
        if not in_force and inst.id not in used:
            continue
        terms, units = inst.agreement_at(start)[1], usage.get(inst.id, 0)
        kind = terms["kind"]
        if kind == "cost_share":
            pools.setdefault(inst.module, []).append(inst)
        elif kind == "transfer":
            lines[inst.id] = (kind, units, minor(Decimal(terms["fee"])) if start <= inst.created < end
                              else 0)
        elif kind == "pay_per_use":
            lines[inst.id] = (kind, units, usage_amount(terms, units))
        else:
            lines[inst.id] = (kind, units, 0)
    for members in pools.values():
        accepted = [(i.agreement_at(start)[0], i.id, i.agreement_at(start)[1]) for i in members]
        before = [a for a in accepted if a[0] <= start]
        terms = (max(before, key=lambda a: (a[0], -a[1])) if before else min(accepted))[2]
        basis_equal = terms["basis"] == "equal"
        weights = [((i.adopter, i.id), 1 if basis_equal else usage.get(i.id, 0)) for i in members]
        shares = split(minor(Decimal(terms["period_cost"])), weights)
        for i in members:
            lines[i.id] = ("cost_share", usage.get(i.id, 0), shares[(i.adopter, i.id)])
    return {iid: (kind, units, amount, fee(amount, bps)) for iid, (kind, units, amount) in lines.items()}
