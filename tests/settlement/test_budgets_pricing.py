"""Budget arithmetic (DESIGN §15): the exact fen across tiers, free units and caps.

A call of ``u`` units is allowed iff ``price_usage(terms, U + u) ≤ budget``; the
reference below is that rule applied call by call, brute force. The product
checks the stored ranges instead (in Python and in the gateway's one UPDATE).
"""
from __future__ import annotations

from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace import db
from marketplace.settlement import budgets
from marketplace.settlement.pricing import price_usage

ATTEMPTS = 400
_names = count()


def allowed_calls(terms: dict, budget: int, units: int, start: int = 0,
                  attempts: int = ATTEMPTS) -> list[bool]:
    """The reference: each call allowed iff the period's price after it stays within budget."""
    total, answers = start, []
    for _ in range(attempts):
        ok = price_usage(terms, total + units) <= budget
        total += units if ok else 0
        answers.append(ok)
    return answers


def by_ranges(ranges: list, units: int, start: int = 0, attempts: int = ATTEMPTS) -> list[bool]:
    total, answers = start, []
    for _ in range(attempts):
        ok = budgets.within(ranges, total + units)
        total += units if ok else 0
        answers.append(ok)
    return answers


prices = st.integers(0, 5000).map(lambda n: f"{n / 10000:.4f}")


@st.composite
def pay_per_use(draw) -> dict:
    """Random valid pay-per-use terms: any model, free units, an optional cap."""
    model = draw(st.sampled_from(["per_unit", "graduated", "volume"]))
    terms = {"kind": "pay_per_use", "currency": "CNY", "model": model}
    if model == "per_unit":
        terms["unit_price"] = draw(prices)
    else:
        bounds = sorted(set(draw(st.lists(st.integers(1, 300), min_size=0, max_size=3))))
        terms["tiers"] = [{"up_to": b, "unit_price": draw(prices)} for b in bounds]
        terms["tiers"].append({"unit_price": draw(prices)})
    if draw(st.booleans()):
        terms["free_units"] = draw(st.integers(0, 50))
    if draw(st.booleans()):
        terms["cap"] = f"{draw(st.integers(0, 3000)) / 100:.2f}"
    return terms


@settings(max_examples=300, deadline=None)
@given(terms=pay_per_use(), budget=st.integers(0, 5000), units=st.integers(1, 40),
       start=st.integers(0, 200))
def test_calls_allowed_by_the_ranges_equal_the_brute_force_reference(terms, budget, units, start):
    ranges = budgets.affordable_ranges(terms, budget)
    assert by_ranges(ranges, units, start) == allowed_calls(terms, budget, units, start)


@settings(max_examples=200, deadline=None)
@given(terms=pay_per_use(), budget=st.integers(0, 5000))
def test_every_total_is_in_the_ranges_exactly_when_its_price_is_within_budget(terms, budget):
    ranges = budgets.affordable_ranges(terms, budget)
    for total in range(0, 700):
        assert budgets.within(ranges, total) == (price_usage(terms, total) <= budget), total


GRADUATED = {"kind": "pay_per_use", "currency": "CNY", "model": "graduated", "free_units": 100,
             "tiers": [{"up_to": 1000, "unit_price": "0.05"}, {"unit_price": "0.03"}]}


def test_the_budget_holds_to_the_fen_across_a_tier_boundary_after_free_units():
    # 100 free, 1,000 at ¥0.05 (¥50.00), then ¥0.03: ¥50.30 buys exactly 1,110 units
    assert budgets.affordable_ranges(GRADUATED, 5030) == [(0, 1110)]
    assert budgets.affordable_ranges(GRADUATED, 5029) == [(0, 1109)]
    assert budgets.affordable_ranges(GRADUATED, 5002) == [(0, 1100)]


def test_rounding_half_up_is_what_the_budget_sees():
    terms = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.005"}
    # 3 units cost ¥0.015 → ¥0.02 (half up); 2 cost ¥0.01: a budget of ¥0.01 buys 2, not 3
    assert budgets.affordable_ranges(terms, 1) == [(0, 2)]
    assert price_usage(terms, 3) == 2


def test_a_cap_within_the_budget_leaves_usage_unbounded():
    capped = dict(GRADUATED, cap="40.00")
    assert budgets.affordable_ranges(capped, 4000) == [(0, None)]
    assert budgets.affordable_ranges(capped, 3999) == [(0, 899)]


def test_volume_tiers_make_gaps_that_a_larger_total_jumps_over():
    volume = {"kind": "pay_per_use", "currency": "CNY", "model": "volume",
              "tiers": [{"up_to": 1000, "unit_price": "0.10"}, {"unit_price": "0.05"}]}
    assert budgets.affordable_ranges(volume, 9500) == [(0, 950), (1001, 1900)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(terms=pay_per_use(), budget=st.integers(0, 3000), units=st.integers(1, 40))
def test_the_gateways_conditional_update_allows_the_same_calls(app, terms, budget, units):
    """The stored ranges and the one UPDATE of the gateway agree with the reference (both DBs)."""
    from tests.settlement.conftest import Market

    market = Market(app)
    version = market.module(f"budgeted-{next(_names)}", "440000", terms)
    iid = market.install(version, "440300", created="2026-01-01T00:00:00+08:00")
    with app.app_context():
        session = db.session()
        run = budgets.SessionRunner(session)
        budgets.open_period(run, iid, "2026-11", budget)
        answers = []
        for _ in range(60):
            answers.append(bool(run.rows(budgets.TAKE, {"iid": iid, "p": "2026-11", "u": units})))
        session.commit()
    assert answers == allowed_calls(terms, budget, units, attempts=60)
