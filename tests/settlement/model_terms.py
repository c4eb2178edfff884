"""Terms of every kind for the stateful model (CNY; validated like a manifest's)."""
from __future__ import annotations

from hypothesis import strategies as st

PRICES = ("0.05", "0.01", "0.5", "1.25", "0.003", "2")


def _usage(model: str, tiers=None, unit_price=None, free_units=0, cap=None) -> dict:
    terms = {"kind": "pay_per_use", "currency": "CNY", "model": model}
    if unit_price is not None:
        terms["unit_price"] = unit_price
    if tiers is not None:
        terms["tiers"] = tiers
    if free_units:
        terms["free_units"] = free_units
    if cap is not None:
        terms["cap"] = cap
    return terms


@st.composite
def _tiers(draw) -> list[dict]:
    tops = draw(st.lists(st.sampled_from([10, 100, 1000, 5000]), min_size=0, max_size=3, unique=True))
    tiers = [{"up_to": top, "unit_price": draw(st.sampled_from(PRICES))} for top in sorted(tops)]
    return tiers + [{"unit_price": draw(st.sampled_from(PRICES))}]


_extras = {"free_units": st.sampled_from([0, 0, 50, 1000]),
           "cap": st.sampled_from([None, None, "5.00", "99.99"])}

# Money-bearing kinds first: a small budget's simplest examples still charge someone.
TERMS = st.one_of(
    st.builds(lambda cost, basis: {"kind": "cost_share", "currency": "CNY", "period_cost": cost,
                                   "basis": basis},
              st.sampled_from(["100.00", "0.01", "10000.00", "333.33"]),
              st.sampled_from(["equal", "usage"])),
    st.builds(_usage, st.just("per_unit"), unit_price=st.sampled_from(PRICES), **_extras),
    st.sampled_from(["800.00", "0.01", "12000.00"]).map(
        lambda fee: {"kind": "transfer", "currency": "CNY", "fee": fee}),
    st.builds(_usage, st.sampled_from(["graduated", "volume"]), tiers=_tiers(), **_extras),
    st.just({"kind": "free"}),
)
#: units of one event: rarely zero
UNITS = st.sampled_from([7, 1500, 1, 0, 120, 3000])
