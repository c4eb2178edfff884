"""Pricing under terms, DESIGN §6: hand-computed examples, then properties."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.money import parse_amount, to_minor
from marketplace.settlement.pricing import (Line, TermsError, cost_share, describe_terms,
                                            largest_remainder, platform_fee, price_usage,
                                            transfer_fee, validate_terms)

SAMPLE = {  # the manifest [terms] of DESIGN §3
    "kind": "pay_per_use", "currency": "CNY", "model": "graduated",
    "tiers": [{"up_to": 10000, "unit_price": "0.05"}, {"unit_price": "0.02"}],
    "free_units": 1000, "cap": "5000.00",
}
THREE_TIERS = [{"up_to": 10000, "unit_price": "0.05"}, {"up_to": 50000, "unit_price": "0.03"},
               {"unit_price": "0.02"}]


def usage_terms(model="per_unit", currency="CNY", **extra):
    """pay_per_use terms of ``model``; ``extra`` adds unit_price/tiers/free_units/cap."""
    return {"kind": "pay_per_use", "currency": currency, "model": model, **extra}


# --- pay_per_use --------------------------------------------------------------

@pytest.mark.parametrize("units, minor", [
    (12000, 52000),    # B = 11000: 10000 × 0.05 + 1000 × 0.02 = 500 + 20 = 520.00
    (11000, 50000),    # B = 10000, exactly tier 1: 10000 × 0.05 = 500.00
    (11001, 50002),    # B = 10001: 500.00 + 1 × 0.02 = 500.02
    (1000, 0), (999, 0), (0, 0),                  # within the free units
    (1001, 5),         # B = 1: 0.05
    (200000, 428000),  # B = 199000: 500 + 189000 × 0.02 = 500 + 3780 = 4280.00 (under cap)
    (300000, 500000),  # B = 299000: 500 + 5780 = 6280.00 → capped at 5000.00
])
def test_sample_graduated_terms_price_by_hand(units, minor):
    assert price_usage(SAMPLE, units) == minor


def test_per_unit_prices_every_billable_unit():
    terms = usage_terms(unit_price="0.05", free_units=100)
    assert price_usage(terms, 1100) == 5000  # 1000 × 0.05 = 50.00


@pytest.mark.parametrize("units, price, minor", [
    (3, "0.005", 2),    # 0.015 → 0.02, half up
    (1, "0.005", 1),    # 0.005 → 0.01
    (7, "0.0049", 3),   # 0.0343 → 0.03
    (2, "0.0025", 1),   # 0.005 → 0.01
    (1, "0.004999", 0),  # 0.004999 → 0.00
])
def test_line_is_rounded_half_up_to_the_fen(units, price, minor):
    assert price_usage(usage_terms(unit_price=price), units) == minor


def test_graduated_rounds_once_for_the_line_not_per_tier():
    tiers = [{"up_to": 1, "unit_price": "0.005"}, {"unit_price": "0.005"}]
    # per tier 0.005 → 0.01 twice would give 0.02; once: 0.010 → 0.01
    assert price_usage(usage_terms("graduated", tiers=tiers), 2) == 1


def test_zero_decimal_currency_rounds_to_whole_yen():
    assert price_usage(usage_terms(currency="JPY", unit_price="1.5"), 3) == 5  # 4.5 → 5 yen


def test_graduated_three_tiers_price_each_slice_at_its_own_price():
    # 10000 × 0.05 + 40000 × 0.03 + 10000 × 0.02 = 500 + 1200 + 200 = 1900.00
    assert price_usage(usage_terms("graduated", tiers=THREE_TIERS), 60000) == 190000


@pytest.mark.parametrize("units, minor", [
    (0, 0),
    (10000, 50000),    # exactly up_to of tier 1: all at 0.05 = 500.00
    (10001, 30003),    # first past it: all at 0.03 = 300.03
    (50000, 150000),   # exactly up_to of tier 2: 50000 × 0.03 = 1500.00
    (50001, 100002),   # open tier: 50001 × 0.02 = 1000.02
])
def test_volume_prices_all_units_at_the_tier_reached_boundaries_inclusive(units, minor):
    assert price_usage(usage_terms("volume", tiers=THREE_TIERS), units) == minor


def test_volume_applies_free_units_before_choosing_the_tier():
    terms = usage_terms("volume", tiers=THREE_TIERS, free_units=1000)
    assert price_usage(terms, 11000) == 50000  # B = 10000 → tier 1


def test_cap_limits_the_rounded_amount():
    terms = usage_terms(unit_price="0.05", cap="100.00")
    assert price_usage(terms, 1999) == 9995   # 99.95 under the cap
    assert price_usage(terms, 2000) == 10000  # 100.00 at the cap
    assert price_usage(terms, 10**9) == 10000


def test_free_and_transfer_charge_no_usage():
    assert price_usage({"kind": "free"}, 10**6) == 0
    transfer = {"kind": "transfer", "currency": "CNY", "fee": "100000.00"}
    assert price_usage(transfer, 10**6) == 0
    assert transfer_fee(transfer) == 10_000_000
    assert transfer_fee({"kind": "free"}) == 0


def test_price_usage_refuses_invalid_terms_units_and_cost_share():
    with pytest.raises(TermsError) as info:
        price_usage(usage_terms(unit_price=0.05), 1)
    assert info.value.problems == [("terms.unit_price", 'write prices as strings, e.g. "0.05"')]
    with pytest.raises(ValueError, match="units must be an int"):
        price_usage(SAMPLE, -1)
    with pytest.raises(ValueError, match="use cost_share"):
        price_usage({"kind": "cost_share", "currency": "CNY", "period_cost": "1.00",
                     "basis": "equal"}, 1)


# --- splitting ----------------------------------------------------------------

def test_largest_remainder_gives_leftover_to_the_lower_code_on_ties():
    shares = largest_remainder(100, [("440300", 1), ("110000", 1), ("330100", 1)])
    assert shares == {"440300": 33, "110000": 34, "330100": 33}


def test_largest_remainder_prefers_the_larger_remainder_over_the_lower_key():
    # quotas 10/6 = 1.67, 20/6 = 3.33, 30/6 = 5: floors 1 + 3 + 5 = 9, leftover 1 → a (rest 4)
    assert largest_remainder(10, [("a", 1), ("b", 2), ("c", 3)]) == {"a": 2, "b": 3, "c": 5}
    # 0.05 in three: floors 1, 1, 1 with equal remainders → two lowest keys
    assert largest_remainder(5, [("c", 1), ("b", 1), ("a", 1)]) == {"c": 1, "b": 2, "a": 2}


def test_largest_remainder_zero_weights():
    assert largest_remainder(5, [("a", 0), ("b", 1)]) == {"a": 0, "b": 5}
    assert largest_remainder(5, [("a", 0), ("b", 0)]) == {"a": 0, "b": 0}
    assert largest_remainder(5, []) == {}


@pytest.mark.parametrize("total, weights", [
    (5, [("a", 1), ("a", 2)]), (5, [("a", -1)]), (-5, [("a", 1)]), (5, [("a", 1.5)]),
])
def test_largest_remainder_refuses_bad_input(total, weights):
    with pytest.raises(ValueError):
        largest_remainder(total, weights)


def shared(basis, period_cost="100.00"):
    return {"kind": "cost_share", "currency": "CNY", "period_cost": period_cost, "basis": basis}


def test_cost_share_by_usage_is_proportional_and_exact():
    usage = [("440300", "i1", 1), ("330100", "i2", 1), ("110000", "i3", 1), ("320100", "i4", 0)]
    # 10000 fen / 3 = 3333 r1 each; the leftover fen goes to the lowest code 110000
    assert cost_share(shared("usage"), usage) == {"i1": 3333, "i2": 3333, "i3": 3334, "i4": 0}
    # 300 : 100 → 75.00 : 25.00
    assert cost_share(shared("usage"), [("a", 1, 300), ("b", 2, 100)]) == {1: 7500, 2: 2500}


def test_cost_share_by_usage_with_no_usage_charges_nobody():
    assert cost_share(shared("usage"), [("440300", 1, 0), ("330100", 2, 0)]) == {1: 0, 2: 0}


def test_cost_share_equal_ignores_usage():
    usage = [("440300", "sz", 0), ("330100", "hz", 100)]
    # 0.05 → 2 fen each, the leftover fen to the lower code 330100
    assert cost_share(shared("equal", "0.05"), usage) == {"sz": 2, "hz": 3}


def test_cost_share_same_jurisdiction_twice_ties_by_installation_key():
    usage = [("440300", 2, 1), ("440300", 1, 1), ("330100", 3, 1)]
    assert cost_share(shared("equal", "0.05"), usage) == {2: 1, 1: 2, 3: 2}


# --- lines, fees, words -------------------------------------------------------

def test_line_splits_charge_into_fee_and_earnings():
    line = Line.priced("enterprise-registration", "pay_per_use", "440300", "440000", 12000,
                       52000, fee_bps=250, currency="CNY")
    assert (line.fee_minor, line.earnings_minor) == (1300, 50700)  # 520.00 × 2.5 % = 13.00
    assert platform_fee(20, 250) == 1  # 0.5 fen → 1, half up
    with pytest.raises(ValueError, match="add up"):
        Line("m", "free", "440300", "440000", 0, 100, 10, 80, "CNY")


def test_describe_sample_terms_in_chinese_and_english():
    assert describe_terms(SAMPLE) == "前1,000次免费，之后每次¥0.05（1万次以内），超出部分每次¥0.02，每月封顶¥5,000.00"
    assert describe_terms(SAMPLE, "en") == ("First 1,000 units free, then ¥0.05 per unit up to 10,000, "
                                            "¥0.02 per unit beyond, capped at ¥5,000.00 per month")


@pytest.mark.parametrize("terms, zh, en", [
    ({"kind": "free"}, "免费", "Free"),
    ({"kind": "transfer", "currency": "CNY", "fee": "100000"}, "一次性转让费¥100,000.00",
     "One-off transfer fee of ¥100,000.00"),
    (shared("usage", "120000"), "每月成本¥120,000.00由各采用地区按用量比例分摊",
     "Monthly cost of ¥120,000.00 shared among adopters in proportion to usage"),
    (shared("equal"), "每月成本¥100.00由各采用地区平均分摊",
     "Monthly cost of ¥100.00 shared among adopters in equal parts"),
    (usage_terms(unit_price="0.005"), "每次¥0.005", "¥0.005 per unit"),
    (usage_terms("graduated", tiers=THREE_TIERS),
     "每次¥0.05（1万次以内），1万至5万次每次¥0.03，超出部分每次¥0.02",
     "¥0.05 per unit up to 10,000, ¥0.03 per unit from 10,000 to 50,000, ¥0.02 per unit beyond"),
    (usage_terms("volume", tiers=THREE_TIERS[1:]),
     "按总量计价：总量不超过5万次每次¥0.03，超过5万次每次¥0.02",
     "Volume pricing: ¥0.03 per unit when the total is at most 50,000, "
     "¥0.02 per unit when the total is above 50,000"),
])
def test_describe_terms_of_every_kind(terms, zh, en):
    assert describe_terms(terms, "zh_Hans_CN") == zh
    assert describe_terms(terms, "en") == en


# --- validation ---------------------------------------------------------------

def test_valid_terms_have_no_problems():
    for terms in (SAMPLE, {"kind": "free"}, shared("equal"), usage_terms(unit_price="0.000001"),
                  {"kind": "transfer", "currency": "JPY", "fee": "5000"}):
        assert validate_terms(terms) == []


def with_(**changes):
    """SAMPLE with keys replaced (None removes the key)."""
    terms = {**SAMPLE, **changes}
    return {key: value for key, value in terms.items() if value is not None}


@pytest.mark.parametrize("terms, where, message", [
    ("free", "terms", "must be a table"),
    ({"kind": "rent"}, "terms.kind", "unknown kind \"rent\"; use one of free, transfer"),
    (with_(currency="cny"), "terms.currency", "3 uppercase letters"),
    (with_(currency="RMB"), "terms.currency", "\"RMB\" is not a known ISO 4217 currency"),
    (with_(currency=None), "terms.currency", "required"),
    (with_(model="tiered"), "terms.model", "unknown model \"tiered\""),
    (with_(free_unit=1000), "terms.free_unit", "unknown field for graduated terms"),
    (with_(tiers=[{"up_to": 10000, "unit_price": 0.05}, {"unit_price": "0.02"}]),
     "terms.tiers[0].unit_price", 'write prices as strings, e.g. "0.05"'),
    (with_(tiers=[{"up_to": 10000, "unit_price": 5}, {"unit_price": "0.02"}]),
     "terms.tiers[0].unit_price", 'write prices as strings, e.g. "0.05"'),
    (with_(tiers=[{"up_to": 10000, "unit_price": "0.0500001"}, {"unit_price": "0.02"}]),
     "terms.tiers[0].unit_price", "at most 6 decimal places"),
    (with_(tiers=[{"up_to": 10000, "unit_price": "-0.05"}, {"unit_price": "0.02"}]),
     "terms.tiers[0].unit_price", "must not be negative"),
    (with_(tiers=[{"up_to": 10000, "unit_price": "0.05"}, {"up_to": 10000, "unit_price": "0.03"},
                  {"unit_price": "0.02"}]), "terms.tiers[1].up_to", "tiers must ascend"),
    (with_(tiers=[{"unit_price": "0.05"}, {"unit_price": "0.02"}]),
     "terms.tiers[0].up_to", "only the last tier may be open"),
    (with_(tiers=[{"up_to": 10000, "unit_price": "0.05"}]),
     "terms.tiers[0].up_to", "the last tier must be open"),
    (with_(tiers=[{"up_to": "10000", "unit_price": "0.05"}, {"unit_price": "0.02"}]),
     "terms.tiers[0].up_to", "whole number of units"),
    (with_(tiers=[]), "terms.tiers", "give a list of tiers"),
    (with_(tiers=None), "terms.tiers", "give a list of tiers"),
    (with_(free_units=-1), "terms.free_units", "whole number ≥ 0"),
    (with_(free_units=True), "terms.free_units", "whole number ≥ 0"),
    (with_(cap="-1"), "terms.cap", "must not be negative"),
    (with_(cap="5000.001"), "terms.cap", "CNY has 2 decimal places"),
    (shared("monthly"), "terms.basis", "must be one of usage, equal"),
    ({"kind": "transfer", "currency": "JPY", "fee": "100.5"}, "terms.fee", "JPY has 0 decimal places"),
    ({"kind": "transfer", "currency": "CNY"}, "terms.fee", "required"),
    (usage_terms(), "terms.unit_price", "required"),
])
def test_validate_terms_locates_each_problem(terms, where, message):
    problems = validate_terms(terms)
    assert any(w == where and message in m for w, m in problems), problems


# --- properties ---------------------------------------------------------------

prices = st.builds(lambda n, places: format(Decimal(n).scaleb(-places), "f"),
                   st.integers(0, 10**6), st.integers(0, 6))
tier_lists = st.builds(
    lambda bounds, ps: [{"up_to": b, "unit_price": p} for b, p in zip(bounds, ps)] + [{"unit_price": ps[-1]}],
    st.lists(st.integers(1, 10**6), max_size=4, unique=True).map(sorted),
    st.lists(prices, min_size=5, max_size=5))
units = st.integers(0, 2 * 10**6)


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**6), max_size=20))
def test_shares_always_sum_exactly_to_the_pool(pool, weights):
    keyed = [(f"{i:06d}", w) for i, w in enumerate(weights)]
    shares = largest_remainder(pool, keyed)
    total = sum(weights)
    assert sum(shares.values()) == (pool if total else 0)
    for key, weight in keyed:  # each share is its quota rounded down or up
        assert pool * weight // total <= shares[key] <= -(-pool * weight // total) if total else True
        assert weight or shares[key] == 0


@given(tier_lists, units)
def test_graduated_and_volume_lie_between_cheapest_and_dearest_per_unit(tiers, u):
    all_prices = [parse_amount(t["unit_price"]) for t in tiers]
    low, high = (to_minor(u * p, "CNY") for p in (min(all_prices), max(all_prices)))
    for model in ("graduated", "volume"):
        assert low <= price_usage(usage_terms(model, tiers=tiers), u) <= high


@given(tier_lists, units)
def test_graduated_never_exceeds_per_unit_at_the_top_tier_price_when_prices_fall(tiers, u):
    falling = sorted((t["unit_price"] for t in tiers), key=Decimal, reverse=True)
    tiers = [{**t, "unit_price": p} for t, p in zip(tiers, falling)]
    graduated = price_usage(usage_terms("graduated", tiers=tiers), u)
    assert graduated <= price_usage(usage_terms(unit_price=falling[0]), u)
    assert price_usage(usage_terms("volume", tiers=tiers), u) <= graduated


@given(tier_lists, units, units)
def test_graduated_never_falls_as_usage_grows(tiers, u, more):
    terms = usage_terms("graduated", tiers=tiers)
    assert price_usage(terms, u) <= price_usage(terms, u + more)


@given(tier_lists, st.sampled_from(["graduated", "volume"]), units, st.integers(0, 10**5),
       st.integers(0, 10**7))
def test_free_units_then_cap(tiers, model, u, free, cap_minor):
    cap = format(Decimal(cap_minor).scaleb(-2), "f")
    plain = price_usage(usage_terms(model, tiers=tiers), max(0, u - free))
    capped = price_usage(usage_terms(model, tiers=tiers, free_units=free, cap=cap), u)
    assert capped == min(plain, cap_minor) <= cap_minor


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10_000)), max_size=30))
def test_fee_plus_earnings_equal_charge_line_by_line_and_in_total(amounts):
    lines = [Line.priced("m", "pay_per_use", "440300", "440000", 1, amount, bps, "CNY")
             for amount, bps in amounts]
    for line in lines:
        assert line.fee_minor + line.earnings_minor == line.amount_minor
        assert 0 <= line.fee_minor <= line.amount_minor
    assert sum(l.amount_minor for l in lines) == (sum(l.earnings_minor for l in lines)
                                                  + sum(l.fee_minor for l in lines))


@given(st.integers(0, 10**8), st.sampled_from(["usage", "equal"]),
       st.lists(st.integers(0, 10**5), max_size=15))
def test_cost_share_collects_exactly_the_period_cost_when_anyone_pays(cost, basis, usages):
    terms = shared(basis, format(Decimal(cost).scaleb(-2), "f"))
    rows = [(f"{440000 + i:06d}", i, u) for i, u in enumerate(usages)]
    split = cost_share(terms, rows)
    pays = usages and (basis == "equal" or any(usages))
    assert sum(split.values()) == (cost if pays else 0)
    if basis == "equal" and split:
        assert max(split.values()) - min(split.values()) <= 1
