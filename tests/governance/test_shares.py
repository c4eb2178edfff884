"""The split of earnings among owners (DESIGN §13) and the ownership history it reads."""
from __future__ import annotations

import pytest
from hypothesis import example, given, strategies as st

from marketplace import db
from marketplace.governance import shares
from marketplace.governance.shares import OwnershipError, split
from marketplace.settlement import pricing
from tests.settlement.conftest import Market

CODES = ["110000", "310000", "320000", "330000", "340000", "440000", "510000"]


@st.composite
def owner_lists(draw) -> list[tuple[str, int]]:
    """1–7 distinct owners with positive shares summing to 10,000 bps."""
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=len(CODES), unique=True))
    cuts = sorted(draw(st.lists(st.integers(1, 9_999), min_size=len(codes) - 1,
                                max_size=len(codes) - 1, unique=True)))
    bounds = [0, *cuts, 10_000]
    return [(code, bounds[i + 1] - bounds[i]) for i, code in enumerate(codes)]


@given(owner_lists(), st.integers(0, 10**15), st.integers(0, 10_000))
@example([("310000", 3334), ("320000", 3333), ("330000", 3333)], 100, 0)
def test_owners_amounts_sum_exactly_to_the_publisher_side(owners, amount, fee_bps):
    line = pricing.Line.priced("m", "pay_per_use", "440300", owners[0][0], 1, amount, fee_bps, "CNY")
    parts = split(line.earnings_minor, owners)
    assert sum(parts.values()) == line.earnings_minor
    assert set(parts) == {code for code, _ in owners}
    for code, bps in owners:  # each part is within one fen of its exact quota
        assert abs(parts[code] * 10_000 - line.earnings_minor * bps) < 10_000


@given(owner_lists(), st.integers(1, 10**12))
def test_negative_amount_splits_as_the_mirror_of_its_absolute_value(owners, amount):
    assert split(-amount, owners) == {code: -part for code, part in split(amount, owners).items()}


@given(st.lists(st.sampled_from(CODES), min_size=2, max_size=2, unique=True))
def test_a_tied_fen_goes_to_the_lower_code(codes):
    parts = split(1, [(codes[0], 5_000), (codes[1], 5_000)])
    assert parts == {min(codes): 1, max(codes): 0}


def test_three_equal_owners_leftover_fen_to_the_lowest_code():
    owners = [("330000", 3_334), ("310000", 3_333), ("320000", 3_333)]
    assert split(100, owners) == {"330000": 34, "310000": 33, "320000": 33}
    assert split(2, [("330000", 3_334), ("320000", 3_333), ("310000", 3_333)]) == {
        "330000": 1, "310000": 1, "320000": 0}


@pytest.mark.parametrize("owners", [[], [("310000", 5_000)], [("310000", 5_000), ("310000", 5_000)],
                                    [("310000", 0), ("320000", 10_000)], [("310000", 10_001)]])
def test_split_refuses_owner_lists_that_are_not_whole(owners):
    with pytest.raises(ValueError):
        split(100, owners)


@pytest.fixture
def module_id(app):
    """A published module of 上海市 (310000), no ownership recorded; its id."""
    version = Market(app).module("delta-permit", "310000", {"kind": "free"})
    with app.app_context():
        from marketplace.catalog.models import ModuleVersion
        return db.session().get(ModuleVersion, version).module_id


def test_a_module_without_ownership_rows_is_owned_wholly_by_its_publisher(app, module_id):
    with app.app_context():
        session = db.session()
        assert shares.owners_in_force(session, module_id, "2026-10") == [("310000", 10_000)]
        assert shares.build_cost_minor(session, module_id) == 0


def test_owners_change_from_their_effective_period_and_history_is_kept(app, module_id):
    with app.app_context():
        session = db.session()
        shares.set_owners(session, module_id, [("310000", 4_000), ("330000", 6_000)], 120_000_000,
                          "2026-09", None)
        shares.set_owners(session, module_id, [("310000", 3_400), ("320000", 3_300),
                                               ("330000", 3_300)], None, "2026-11", "op@gov.example.cn")
        session.commit()
        assert shares.owners_in_force(session, module_id, "2026-08") == [("310000", 10_000)]
        assert shares.owners_in_force(session, module_id, "2026-10") == [("310000", 4_000),
                                                                         ("330000", 6_000)]
        assert shares.owners_in_force(session, module_id, "2027-01") == [
            ("310000", 3_400), ("320000", 3_300), ("330000", 3_300)]
        assert shares.build_cost_minor(session, module_id) == 120_000_000  # None kept the cost
        history = shares.ownership_history(session, module_id)
        assert [h["effective_period"] for h in history] == ["2026-09", "2026-11"]
        assert history[1]["recorded_by"] == "op@gov.example.cn"


def test_a_second_decision_for_the_same_period_supersedes_without_overwriting(app, module_id):
    with app.app_context():
        session = db.session()
        shares.set_owners(session, module_id, [("310000", 5_000), ("330000", 5_000)], 100, "2026-11", None)
        shares.set_owners(session, module_id, [("310000", 9_000), ("330000", 1_000)], 200, "2026-11", None)
        session.commit()
        assert shares.owners_in_force(session, module_id, "2026-11") == [("310000", 9_000),
                                                                         ("330000", 1_000)]
        assert shares.build_cost_minor(session, module_id) == 200
        assert len(shares.ownership_history(session, module_id)) == 2


@pytest.mark.parametrize("owners,cost,period,reason", [
    ([("310000", 6_000), ("330000", 3_000)], 0, "2026-11", "invalid_owners"),
    ([("310000", 10_000), ("310000", 0)], 0, "2026-11", "invalid_owners"),
    ([("310000", 5_000), ("999999", 5_000)], 0, "2026-11", "invalid_owners"),
    ([("310000", 10_000)], -1, "2026-11", "invalid_build_cost"),
    ([("310000", 10_000)], 0, "2026-13", "invalid_period"),
])
def test_set_owners_refuses_what_cannot_be_recorded(app, module_id, owners, cost, period, reason):
    with app.app_context():
        session = db.session()
        with pytest.raises(OwnershipError) as refused:
            shares.set_owners(session, module_id, owners, cost, period, None)
        assert refused.value.reason == reason
        session.rollback()
        assert shares.ownership_history(session, module_id) == []


def test_module_api_shows_owners_in_force_and_build_cost(app, client, module_id):
    assert client.get("/api/v1/modules/delta-permit").get_json()["owners"] == [
        {"code": "310000", "name": "上海市", "share_bps": 10_000}]
    with app.app_context():
        session = db.session()
        shares.set_owners(session, module_id, [("330000", 6_000), ("310000", 4_000)], 120_000_050,
                          "2026-01", None)
        shares.set_owners(session, module_id, [("320000", 10_000)], None, "2999-01", None)
        session.commit()
    body = client.get("/api/v1/modules/delta-permit").get_json()
    assert body["owners"] == [{"code": "310000", "name": "上海市", "share_bps": 4_000},
                              {"code": "330000", "name": "浙江省", "share_bps": 6_000}]
    assert body["build_cost"] == "1200000.50"


@given(owner_lists(), st.integers(-10**12, 10**12))
def test_split_agrees_with_the_cost_share_largest_remainder(owners, amount):
    """The same rule as pricing.largest_remainder (cost shares), mirrored for credits."""
    expected = pricing.largest_remainder(abs(amount), owners)
    assert split(amount, owners) == {code: part if amount >= 0 else -part
                                     for code, part in expected.items()}
