"""Property: whatever a client sends as a proposal, it is either a whole, valid proposal or a
located 400 — never an exception of another kind, never a half-checked value."""
from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings, strategies as st

from marketplace.errors import MarketplaceError
from marketplace.governance.proposal_input import parse_proposal

CODES = ["310000", "320000", "330000", "440000", "999999", "31000", "３１００００", ""]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
BPS = st.one_of(st.integers(-1, 10_001), st.sampled_from([2500, 5000, 10_000, 3333, 3334]), SCALARS)
OWNER = st.one_of(st.fixed_dictionaries({"code": st.sampled_from(CODES), "share_bps": BPS}),
                  st.dictionaries(st.sampled_from(["code", "share_bps", "x"]), SCALARS, max_size=3),
                  SCALARS)
COST = st.one_of(st.sampled_from(["0", "0.00", "1200000.00", "1.005", "-1", "1e3", "1000000000000",
                                  "1000000000000.01", " 1", "1,000"]), SCALARS)
TERMS = st.one_of(st.sampled_from([{"kind": "free"}, {"kind": "free", "currency": "CNY"},
                                   {"kind": "transfer", "currency": "CNY", "fee": "100.00"},
                                   {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit",
                                    "unit_price": "0.05"}]),
                  st.dictionaries(st.sampled_from(["kind", "currency", "fee", "model", "tiers"]),
                                  SCALARS, max_size=4), SCALARS)
BODY = st.one_of(
    st.fixed_dictionaries({"kind": st.just("owners"), "owners": st.lists(OWNER, max_size=5)},
                          optional={"build_cost": COST, "note": SCALARS}),
    st.fixed_dictionaries({"kind": st.just("terms"), "terms": TERMS}, optional={"note": SCALARS}),
    st.dictionaries(st.sampled_from(["kind", "owners", "terms", "build_cost", "note", "other"]),
                    SCALARS, max_size=4))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODY)
@example(body={"kind": "owners", "owners": [{"code": "330000", "share_bps": 5000},
                                             {"code": "310000", "share_bps": 5000}],
               "build_cost": "1200000.00"})                      # both branches surely run
@example(body={"kind": "terms", "terms": {"kind": "free"}, "note": "免费"})
@example(body={"kind": "owners", "owners": [{"code": "330000", "share_bps": 10000.0}]})
def test_a_proposal_body_is_whole_and_valid_or_a_located_400(db_session, body):
    try:
        parsed = parse_proposal(db_session, body)
    except MarketplaceError as exc:
        assert exc.status == 400 and exc.reason in ("invalid_proposal", "invalid_terms",
                                                    "unknown_field")
        assert exc.message and all(d["where"].startswith("body") for d in exc.details or ())
        return
    assert parsed.kind == body["kind"] and isinstance(parsed.note, str)
    if parsed.kind == "owners":
        codes = [code for code, _ in parsed.owners]
        assert len(set(codes)) == len(codes) and set(codes) <= {"310000", "320000", "330000",
                                                                "440000"}
        assert sum(bps for _, bps in parsed.owners) == 10_000
        assert all(type(bps) is int and bps > 0 for _, bps in parsed.owners)
        cost = parsed.build_cost_minor
        assert cost is None or (type(cost) is int and 0 <= cost <= 10**14)
    else:
        assert parsed.terms == body["terms"]
