"""Pricing under licensing terms (DESIGN §6): pure, exact, no Flask, no database.

Terms are the dicts of the manifest's ``[terms]`` table; prices are decimal
strings.  Every charge is computed in Decimal, rounded once to the currency's
minor unit (ROUND_HALF_UP, see :mod:`marketplace.money`) and returned as int.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Hashable, Mapping, Sequence, TypeVar

from marketplace.jsonio import shown
from marketplace.money import (MINOR_UNITS, AmountError, bps_fee, currency_problem, exact,
                               format_display, format_price, is_chargeable, parse_amount,
                               to_minor)

KINDS = ("free", "transfer", "pay_per_use", "cost_share")
MODELS = ("per_unit", "graduated", "volume")
BASES = ("usage", "equal")

Problem = tuple[str, str]
K = TypeVar("K", bound=Hashable)

_USAGE = {"kind", "currency", "model", "free_units", "cap"}
_FIELDS = {  # allowed keys per kind (per model for pay_per_use): a typo must not go unnoticed
    "free": {"kind", "currency"}, "transfer": {"kind", "currency", "fee"},
    "cost_share": {"kind", "currency", "period_cost", "basis"},
    "per_unit": _USAGE | {"unit_price"}, "graduated": _USAGE | {"tiers"}, "volume": _USAGE | {"tiers"},
}


class TermsError(ValueError):
    """Terms that fail :func:`validate_terms`; ``problems`` lists ``(where, message)``."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("invalid terms: " + "; ".join(f"{w}: {m}" for w, m in problems))
        self.problems = problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_count(value: Any, name: str) -> int:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an int ≥ 0, got {value!r}")
    return value


# --- validation -------------------------------------------------------------

def _amount(problems: list[Problem], table: Mapping, key: str, where: str,
            exponent: int | None = None, required: bool = True) -> Decimal | None:
    """Check one price; ``exponent`` set means it must be chargeable exactly in that currency."""
    if table.get(key) is None:
        if required:
            problems.append((where, 'required; write it as a string, e.g. "0.05"'))
        return None
    try:
        value = parse_amount(table[key], where)
    except AmountError as error:
        problems.append((where, error.reason))
        return None
    if exponent is not None and not is_chargeable(value, table["currency"]):
        problems.append((where, f"{table['currency']} has {exponent} decimal places; "
                                f"{shown(table[key])} cannot be charged exactly"))
    return value


def _check_currency(problems: list[Problem], terms: Mapping, required: bool) -> int | None:
    if terms.get("currency") is None:
        if required:
            problems.append(("terms.currency", 'required: an ISO 4217 code such as "CNY"'))
        return None
    problem = currency_problem(terms["currency"])
    if problem:
        problems.append(("terms.currency", problem))
        return None
    return MINOR_UNITS[terms["currency"]]


def _check_tiers(problems: list[Problem], tiers: Any) -> None:
    if not isinstance(tiers, list) or not tiers:
        problems.append(("terms.tiers", "give a list of tiers, the last one without up_to"))
        return
    previous = 0
    for index, tier in enumerate(tiers):
        where = f"terms.tiers[{index}]"
        if not isinstance(tier, Mapping):
            problems.append((where, "must be a table like { up_to = 10000, unit_price = \"0.05\" }"))
            continue
        for key in sorted(set(tier) - {"up_to", "unit_price"}, key=str):
            problems.append((f"{where}.{key}", "unknown field; a tier has up_to and unit_price"))
        _amount(problems, tier, "unit_price", f"{where}.unit_price")
        last = index == len(tiers) - 1
        up_to = tier.get("up_to")
        if up_to is None:
            if not last:
                problems.append((f"{where}.up_to", "required: only the last tier may be open"))
        elif last:
            problems.append((f"{where}.up_to", "the last tier must be open: remove up_to"))
        elif not _is_int(up_to) or up_to < 1:
            problems.append((f"{where}.up_to", f"must be a whole number of units ≥ 1, got {shown(up_to)}"))
        elif up_to <= previous:
            problems.append((f"{where}.up_to", f"tiers must ascend: {up_to} is not above {previous}"))
        else:
            previous = up_to


def validate_terms(terms: Any) -> list[Problem]:
    """Every problem in ``terms`` as ``(where, message)``, e.g. ``("terms.tiers[1].up_to", …)``; [] if valid."""
    if not isinstance(terms, Mapping):
        return [("terms", "must be a table with at least kind = ...")]
    kind = terms.get("kind")
    if kind not in KINDS:
        return [("terms.kind", f"unknown kind {shown(kind)}; use one of {', '.join(KINDS)}")]
    problems: list[Problem] = []
    exponent = _check_currency(problems, terms, required=kind != "free")
    shape = kind
    if kind == "pay_per_use":
        shape = terms.get("model")
        if shape not in MODELS:
            problems.append(("terms.model", f"unknown model {shown(shape)}; use one of {', '.join(MODELS)}"))
            return problems
    for key in sorted(set(terms) - _FIELDS[shape], key=str):
        problems.append((f"terms.{key}", f"unknown field for {shape} terms"))
    if kind == "transfer":
        _amount(problems, terms, "fee", "terms.fee", exponent)
    elif kind == "cost_share":
        _amount(problems, terms, "period_cost", "terms.period_cost", exponent)
        if terms.get("basis") not in BASES:
            problems.append(("terms.basis", f"must be one of {', '.join(BASES)}, got {shown(terms.get('basis'))}"))
    elif kind == "pay_per_use":
        if shape == "per_unit":
            _amount(problems, terms, "unit_price", "terms.unit_price")
        else:
            _check_tiers(problems, terms.get("tiers"))
        free_units = terms.get("free_units")
        if free_units is not None and (not _is_int(free_units) or free_units < 0):
            problems.append(("terms.free_units", f"must be a whole number ≥ 0, got {shown(free_units)}"))
        _amount(problems, terms, "cap", "terms.cap", exponent, required=False)
    return problems


def _valid(terms: Any) -> Mapping:
    problems = validate_terms(terms)
    if problems:
        raise TermsError(problems)
    return terms


# --- charges ----------------------------------------------------------------

def _usage_amount(terms: Mapping, billable: int) -> Decimal:
    """The exact, unrounded amount for ``billable`` units under a pay_per_use model."""
    model = terms["model"]
    if model == "per_unit":
        return billable * parse_amount(terms["unit_price"])
    tiers = [(tier.get("up_to"), parse_amount(tier["unit_price"])) for tier in terms["tiers"]]
    if model == "volume":
        return billable * next(p for up_to, p in tiers if up_to is None or billable <= up_to)
    amount, floor = Decimal(0), 0
    for up_to, price in tiers:  # graduated: each tier prices only its own slice
        top = billable if up_to is None else min(billable, up_to)
        if top <= floor:
            break
        amount += (top - floor) * price
        floor = top
    return amount


def price_usage(terms: Mapping, units: int) -> int:
    """Usage charge in minor units for a period with ``units`` successful units.

    free and transfer → 0; pay_per_use per DESIGN §6 (free units, model, one
    ROUND_HALF_UP rounding, then the cap).  cost_share is split, not priced:
    use :func:`cost_share`.
    """
    terms = _valid(terms)
    _check_count(units, "units")
    if terms["kind"] in ("free", "transfer"):
        return 0
    if terms["kind"] == "cost_share":
        raise ValueError("cost_share terms are split among installations: use cost_share()")
    billable = max(0, units - (terms.get("free_units") or 0))
    with exact():
        amount = _usage_amount(terms, billable)
    charge = to_minor(amount, terms["currency"])
    if terms.get("cap") is not None:
        charge = min(charge, to_minor(parse_amount(terms["cap"]), terms["currency"]))
    return charge


def transfer_fee(terms: Mapping) -> int:
    """The one-off fee in minor units for transfer terms (charged once, at installation); 0 otherwise."""
    terms = _valid(terms)
    if terms["kind"] != "transfer":
        return 0
    return to_minor(parse_amount(terms["fee"]), terms["currency"])


def largest_remainder(total_minor: int, weights: Sequence[tuple[K, int]]) -> dict[K, int]:
    """Split ``total_minor`` in proportion to ``weights`` so the shares sum exactly.

    Each key gets the floor of its quota; the leftover minor units go one each
    to the largest remainders, ties to the lower key.  Zero weight gets 0; if
    every weight is 0 nobody is charged and all shares are 0.
    """
    _check_count(total_minor, "total_minor")
    keys = [key for key, _ in weights]
    if len(set(keys)) != len(keys):
        raise ValueError("largest_remainder: duplicate keys")
    total_weight = sum(_check_count(weight, f"weight of {key!r}") for key, weight in weights)
    if total_weight == 0:
        return {key: 0 for key in keys}
    shares: dict[K, int] = {}
    remainders: list[tuple[int, K]] = []
    for key, weight in weights:
        shares[key], rest = divmod(total_minor * weight, total_weight)
        if rest:
            remainders.append((-rest, key))
    leftover = total_minor - sum(shares.values())
    for _, key in sorted(remainders)[:leftover]:
        shares[key] += 1
    return shares


def cost_share(terms: Mapping, usage_by_installation: Sequence[tuple[str, K, int]]) -> dict[K, int]:
    """Split ``period_cost`` among the installations active in the period.

    ``usage_by_installation`` holds ``(jurisdiction_code, installation_key, U)``.
    basis "equal": equal parts regardless of usage; basis "usage": in
    proportion to U (U = 0 pays nothing; no usage at all → nothing charged).
    Remainders go to the lower jurisdiction code first.
    """
    terms = _valid(terms)
    if terms["kind"] != "cost_share":
        raise ValueError(f"cost_share() needs cost_share terms, got {terms['kind']!r}")
    rows = list(usage_by_installation)
    if len({key for _, key, _ in rows}) != len(rows):
        raise ValueError("cost_share: an installation is listed twice")
    equal = terms["basis"] == "equal"
    weights = [((code, key), 1 if equal else _check_count(units, f"units of {key!r}"))
               for code, key, units in rows]
    pool = to_minor(parse_amount(terms["period_cost"]), terms["currency"])
    split = largest_remainder(pool, weights)
    return {key: split[(code, key)] for code, key, _ in rows}


def platform_fee(amount_minor: int, bps: int) -> int:
    """The platform's share of one line: ``bps`` basis points, ROUND_HALF_UP."""
    return bps_fee(amount_minor, bps)


@dataclass(frozen=True)
class Line:
    """One priced charge: what the adopter pays, the platform fee and the publisher's earnings."""

    module: str
    kind: str
    adopter: str
    publisher: str
    units: int
    amount_minor: int
    fee_minor: int
    earnings_minor: int
    currency: str  # always the terms' own: never defaulted, never mixed with another

    def __post_init__(self) -> None:
        if self.fee_minor + self.earnings_minor != self.amount_minor:
            raise ValueError("a line's fee and earnings must add up to its amount")
        if problem := currency_problem(self.currency):
            raise ValueError(f"a line needs its currency: {problem}")

    @classmethod
    def priced(cls, module: str, kind: str, adopter: str, publisher: str, units: int,
               amount_minor: int, fee_bps: int, currency: str) -> Line:
        """A line for ``amount_minor`` with the platform fee taken at ``fee_bps``."""
        fee = platform_fee(amount_minor, fee_bps)
        return cls(module, kind, adopter, publisher, units, amount_minor, fee,
                   amount_minor - fee, currency)


# --- description ------------------------------------------------------------

_PHRASES = {
    "zh": {"each": "每次{p}", "first": "每次{p}（{b}次以内）", "middle": "{a}至{b}次每次{p}",
           "beyond": "超出部分每次{p}", "volume_upto": "总量不超过{b}次每次{p}",
           "volume_beyond": "超过{a}次每次{p}", "volume": "按总量计价：",
           "free": "前{n}次免费，之后", "cap": "，每月封顶{cap}", "sep": "，"},
    "en": {"each": "{p} per unit", "first": "{p} per unit up to {b}",
           "middle": "{p} per unit from {a} to {b}", "beyond": "{p} per unit beyond",
           "volume_upto": "{p} per unit when the total is at most {b}",
           "volume_beyond": "{p} per unit when the total is above {a}",
           "volume": "volume pricing: ", "free": "first {n} units free, then ",
           "cap": ", capped at {cap} per month", "sep": ", "},
}


def _count(n: int, lang: str) -> str:
    """1,000 stays 1,000; in Chinese whole 万/亿 read better (10000 → 1万)."""
    if lang == "zh" and n >= 10_000:
        for size, word in ((100_000_000, "亿"), (10_000, "万")):
            if n % size == 0:
                return f"{n // size:,}{word}"
    return f"{n:,}"


def _tier_phrases(terms: Mapping, lang: str) -> list[str]:
    phrase, currency = _PHRASES[lang], terms["currency"]
    if terms["model"] == "per_unit":
        return [phrase["each"].format(p=format_price(parse_amount(terms["unit_price"]), currency))]
    volume, tiers = terms["model"] == "volume", terms["tiers"]
    parts, low = [], 0
    for tier in tiers:
        up_to = tier.get("up_to")
        if len(tiers) == 1:
            key = "each"
        elif volume:
            key = "volume_beyond" if up_to is None else "volume_upto"
        else:
            key = "beyond" if up_to is None else "first" if low == 0 else "middle"
        parts.append(phrase[key].format(
            p=format_price(parse_amount(tier["unit_price"]), currency),
            a=_count(low, lang), b=_count(up_to or 0, lang)))
        low = up_to or low
    if volume and len(tiers) > 1:
        parts[0] = phrase["volume"] + parts[0]
    return parts


def _describe_usage(terms: Mapping, lang: str) -> str:
    phrase, currency = _PHRASES[lang], terms["currency"]
    text = phrase["sep"].join(_tier_phrases(terms, lang))
    if terms.get("free_units"):
        text = phrase["free"].format(n=_count(terms["free_units"], lang)) + text
    if terms.get("cap") is not None:
        cap = format_display(to_minor(parse_amount(terms["cap"]), currency), currency)
        text += phrase["cap"].format(cap=cap)
    return text[:1].upper() + text[1:]


def describe_terms(terms: Mapping, lang: str = "zh") -> str:
    """Terms in plain words: Chinese for ``lang`` starting with "zh", English otherwise."""
    terms = _valid(terms)
    zh = lang.lower().startswith("zh")
    kind = terms["kind"]
    if kind == "free":
        return "免费" if zh else "Free"
    if kind == "pay_per_use":
        return _describe_usage(terms, "zh" if zh else "en")
    currency = terms["currency"]
    if kind == "transfer":
        fee = format_display(transfer_fee(terms), currency)
        return f"一次性转让费{fee}" if zh else f"One-off transfer fee of {fee}"
    cost = format_display(to_minor(parse_amount(terms["period_cost"]), currency), currency)
    if zh:
        return f"每月成本{cost}由各采用地区" + ("按用量比例分摊" if terms["basis"] == "usage" else "平均分摊")
    how = "in proportion to usage" if terms["basis"] == "usage" else "in equal parts"
    return f"Monthly cost of {cost} shared among adopters {how}"
