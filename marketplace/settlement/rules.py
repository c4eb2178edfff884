"""The money rules of settlement, in one place (the README states them in words).

* **Agreements:** a period is priced under each installation's agreement in force
  at the period's start; one that began during the period, under its first; a
  change of terms takes effect from the next period
  (:mod:`marketplace.settlement.agreements`).
* **Cost-share pools:** one pool per module and period; the module's
  ``period_cost`` is collected once, split among every cost-share installation
  active in the period, under :func:`pool_terms`.
* **Currency:** every line is in its own terms' currency; a period settles in one
  currency (:func:`period_currency`); money in two currencies in one period is
  refused, never added up or relabelled; balances are kept per currency.
* **Bounds:** a line priced above ``MAX_AMOUNT`` is charged ``MAX_AMOUNT`` and
  recorded (:func:`cap_lines`), so one installation never stops a period's
  settlement for every other jurisdiction.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from marketplace.money import MAX_AMOUNT, to_minor
from marketplace.settlement.statements import SettlementError

#: Labels a period in which no terms name a currency (only free modules): such a period moves
#: no money, so its label is the platform's home currency. Never used to price anything.
HOME_CURRENCY = "CNY"


def pool_terms(members: list[tuple[Any, int, dict]], start: Any) -> dict:
    """The terms of a module's cost-share pool: those in force at the period's ``start``.

    ``members`` holds each member's agreement in force for the period as
    (accepted at, installation id, terms). The pool's terms are the agreement a
    member accepted most recently at or before ``start`` (a later acceptance takes
    effect from the next period); when every member began during the period, the
    earliest. Ties: the lower installation id.
    """
    before = [m for m in members if m[0] <= start]
    if before:
        return max(before, key=lambda m: (m[0], -m[1]))[2]
    return min(members, key=lambda m: (m[0], m[1]))[2]


def period_currency(priced: list[tuple]) -> str:
    """The one currency in which ``priced`` lines move money; refuses (409) two of them.

    Without money: the one currency the terms name, else :data:`HOME_CURRENCY`.
    """
    money: dict[str, set[str]] = defaultdict(set)
    for row, _, _, amount, terms in priced:
        if amount:
            money[terms["currency"]].add(row.name)
    if len(money) > 1:
        listing = "; ".join(f"{cur}: {', '.join(sorted(names))}" for cur, names in sorted(money.items()))
        raise SettlementError("mixed_currency", "this period has charges in more than one currency "
                              f"({listing}); one settlement currency per period is supported, and "
                              "amounts in different currencies are never added up", status=409)
    named = set(money) or {t["currency"] for *_, t in priced if t.get("currency")}
    return named.pop() if len(named) == 1 else HOME_CURRENCY


def cap_lines(priced: list[tuple]) -> tuple[list[tuple], list[dict]]:
    """Lines with every amount above MAX_AMOUNT charged MAX_AMOUNT, and a record of each one capped.

    Capped, not refused: a refusal fails the whole period for every jurisdiction
    and no one can correct closed-off usage; capped, not dropped: inflating usage
    must never make a line free. Settlement audits each record for the operator.
    """
    lines, capped = [], []
    for row, kind, units, amount, terms in priced:
        if amount and amount > (most := to_minor(MAX_AMOUNT, terms["currency"])):
            capped.append({"installation": row.id, "module": row.name, "adopter": row.jurisdiction_code,
                           "units": units, "currency": terms["currency"],
                           "reason": f"{units:,} units cost more than {MAX_AMOUNT:,} "
                                     f"{terms['currency']}, the most one line may carry; "
                                     "charged that most"})
            amount = most
        lines.append((row, kind, units, amount, terms))
    return lines, capped
