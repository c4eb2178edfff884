"""Terms of every kind for the stateful model (CNY; validated like a manifest's)."""
from __future__ import annotations

from hypothesis import strategies as st

PRICES = ("0.01", "0.05", "0.5", "1.25", "0.003", "2")


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

TERMS = st.one_of(
    st.just({"kind": "free"}),
    st.sampled_from(["0.01", "800.00", "12000.00"]).map(
        lambda fee: {"kind": "transfer", "currency": "CNY", "fee": fee}),
    st.builds(_usage, st.just("per_unit"), unit_price=st.sampled_from(PRICES), **_extras),
    st.builds(_usage, st.sampled_from(["graduated", "volume"]), tiers=_tiers(), **_extras),
    st.builds(lambda cost, basis: {"kind": "cost_share", "currency": "CNY", "period_cost": cost,
                                   "basis": basis},
              st.sampled_from(["0.01", "100.00", "10000.00", "333.33"]),
              st.sampled_from(["usage", "equal"])),
)
