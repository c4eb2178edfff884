"""Terms by value (DESIGN §13): two ``[terms]`` tables are the same terms when pricing reads
them alike, whatever their spelling — ``"99000.0"`` and ``"99000.00"``, any key order, an
omitted ``free_units`` and ``free_units = 0``, no ``cap`` and ``cap`` left empty."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from marketplace.money import parse_amount, to_minor
from marketplace.settlement.pricing import validate_terms

#: amounts charged as such, so whole minor units of the currency (checked by validate_terms)
CHARGED = ("fee", "period_cost", "cap")


def _price(text: str) -> Decimal:
    """A unit price: up to 6 places, may be below the minor unit; its exact value."""
    return parse_amount(text).normalize()


def canonical_terms(terms: Any) -> Any:
    """The value of ``terms`` as pricing reads it: charged amounts in exact minor units, unit
    prices as exact decimals, defaults written out, keys unordered. Terms that fail
    :func:`validate_terms` are returned as they are (compared as written)."""
    if not isinstance(terms, Mapping) or validate_terms(terms):
        return terms
    kind = terms["kind"]
    if kind == "free":
        return {"kind": "free"}          # nothing is ever charged, in any currency
    value: dict[str, Any] = {"kind": kind, "currency": terms["currency"]}
    for key in CHARGED:
        if terms.get(key) is not None:
            value[key] = to_minor(parse_amount(terms[key]), terms["currency"])
    if kind == "cost_share":
        value["basis"] = terms["basis"]
    if kind == "pay_per_use":
        value["model"] = terms["model"]
        value["free_units"] = terms.get("free_units") or 0
        if terms["model"] == "per_unit":
            value["unit_price"] = _price(terms["unit_price"])
        else:
            value["tiers"] = [(tier.get("up_to"), _price(tier["unit_price"]))
                              for tier in terms["tiers"]]
    return value


def same_terms(one: Any, other: Any) -> bool:
    """Whether ``one`` and ``other`` are the same terms by value."""
    return canonical_terms(one) == canonical_terms(other)
