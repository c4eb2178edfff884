"""Behaviour of the 异地就医备案 module."""
from __future__ import annotations

import dataclasses

import pytest

import medical_filing_cross_region as mf
from marketplace.sdk import ModuleError

FILING = {
    "insured_id": "11010519491231002X",
    "insured_region": "110105",
    "destination_region": "440305",
    "filing_type": "异地长期居住",
    "start_date": "2026-03-01",
}
VISIT = {
    "filing_type": "临时外出就医",
    "valid_from": "2026-01-10",
    "valid_until": "2026-07-10",
    "visit_date": "2026-05-01",
    "base_ratio_percent": 90,
    "total_expense": "3000.00",
    "eligible_expense": "2500.00",
    "deductible": "500.00",
}


def test_manifest_examples_validate_and_run(check_contract):
    assert check_contract(mf) == 4


def test_long_term_filing_is_open_ended(ctx):
    out = mf.file_record(payload=FILING, context=ctx)
    assert out["valid_until"] is None
    assert out["category"] == "异地长期居住人员"
    assert out["reimbursement_ratio_adjustment_points"] == 0
    assert out["insured_id_masked"] == "110105********002X"


@pytest.mark.parametrize("kind, until, points", [
    ("异地转诊", "2026-09-15", -10),
    ("临时外出就医", "2026-09-15", -20),
])
def test_temporary_filings_last_six_months(ctx, kind, until, points):
    payload = FILING | {"filing_type": kind, "start_date": "2026-03-15", "referral_hospital": "北京协和医院"}
    out = mf.file_record(payload=payload, context=ctx)
    assert out["valid_until"] == until
    assert out["category"] == "临时外出就医人员"
    assert out["reimbursement_ratio_adjustment_points"] == points
    assert out["change_allowed_from"] == "2026-03-15"


def test_six_months_from_month_end_clamps_to_february():
    from datetime import date
    assert mf.rules.add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert mf.rules.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


def test_filing_id_is_deterministic_and_input_sensitive(ctx):
    a = mf.file_record(payload=FILING, context=ctx)["filing_id"]
    b = mf.file_record(payload=dict(FILING), context=ctx)["filing_id"]
    c = mf.file_record(payload=FILING | {"start_date": "2026-03-02"}, context=ctx)["filing_id"]
    assert a == b != c and a.startswith("YDBA-110105-")


def test_same_pooling_region_is_refused(ctx):
    # Two districts of one municipality are one pooling region.
    with pytest.raises(ModuleError) as err:
        mf.file_record(payload=FILING | {"destination_region": "110108"}, context=ctx)
    assert err.value.reason == "same_pooling_region"
    with pytest.raises(ModuleError):
        mf.file_record(payload=FILING | {"insured_region": "440305", "destination_region": "440306"}, context=ctx)


def test_intra_province_cross_city_is_allowed(ctx):
    out = mf.file_record(payload=FILING | {"insured_region": "440300", "destination_region": "440100"}, context=ctx)
    assert out["scope"] == "省内跨市"


@pytest.mark.parametrize("changes, reason", [
    ({"insured_id": "110105194912310021"}, "invalid_insured_id"),
    ({"destination_region": "990100"}, "invalid_region"),
])
def test_bad_filings_are_refused(ctx, changes, reason):
    with pytest.raises(ModuleError) as err:
        mf.file_record(payload=FILING | changes, context=ctx)
    assert err.value.reason == reason


def test_installation_may_reduce_less_but_not_more(ctx):
    lenient = dataclasses.replace(ctx, config={"temporary_reduction_points": 5})
    payload = FILING | {"filing_type": "临时外出就医"}
    assert mf.file_record(payload=payload, context=lenient)["reimbursement_ratio_adjustment_points"] == -5
    harsh = dataclasses.replace(ctx, config={"temporary_reduction_points": 25})
    with pytest.raises(ModuleError) as err:
        mf.file_record(payload=payload, context=harsh)
    assert err.value.reason == "invalid_config"


def test_estimate_applies_reduced_ratio(ctx):
    out = mf.estimate_settlement(payload=VISIT, context=ctx)
    # (2500 - 500) × (90 - 20) % = 1400
    assert out == {"covered": True, "effective_ratio_percent": 70,
                   "fund_payment": "1400.00", "self_payment": "1600.00"}


def test_estimate_rounds_half_up_to_fen(ctx):
    out = mf.estimate_settlement(payload=VISIT | {"eligible_expense": "500.05", "deductible": "0",
                                                  "filing_type": "异地长期居住"}, context=ctx)
    assert out["fund_payment"] == "450.05"  # 500.05 × 0.9 = 450.045 → 450.05


def test_estimate_respects_remaining_cap(ctx):
    out = mf.estimate_settlement(payload=VISIT | {"remaining_cap": "1000.00"}, context=ctx)
    assert out["fund_payment"] == "1000.00" and out["self_payment"] == "2000.00"


def test_deductible_above_eligible_pays_nothing(ctx):
    out = mf.estimate_settlement(payload=VISIT | {"deductible": "3000.00"}, context=ctx)
    assert out["covered"] and out["fund_payment"] == "0.00"


@pytest.mark.parametrize("changes, reason", [
    ({"visit_date": "2026-01-09"}, "before_filing"),
    ({"visit_date": "2026-07-11"}, "filing_expired"),
    ({"cancelled_on": "2026-04-30"}, "filing_cancelled"),
])
def test_visits_outside_the_filing_are_not_covered(ctx, changes, reason):
    out = mf.estimate_settlement(payload=VISIT | changes, context=ctx)
    assert out["covered"] is False and out["reason"] == reason
    assert out["fund_payment"] == "0.00" and out["self_payment"] == "3000.00"


def test_open_ended_filing_covers_late_visits(ctx):
    payload = VISIT | {"filing_type": "常驻异地工作", "valid_until": None, "visit_date": "2030-01-01"}
    assert mf.estimate_settlement(payload=payload, context=ctx)["covered"] is True


def test_eligible_above_total_is_refused(ctx):
    with pytest.raises(ModuleError) as err:
        mf.estimate_settlement(payload=VISIT | {"eligible_expense": "3000.01"}, context=ctx)
    assert err.value.reason == "invalid_expense"
