"""Behaviour of the 公积金提取 module."""
from __future__ import annotations

import dataclasses

import pytest

import housing_fund_withdrawal as hf
from marketplace.sdk import ModuleError

RENT = {"reason": "rent", "account_balance": "30000.00", "monthly_rent": "1800.00", "months": 6,
        "owns_home_in_city": False, "consecutive_months": 3}


def assess(ctx, **payload):
    return hf.assess_withdrawal(payload=payload, context=ctx)


def test_manifest_examples_validate_and_run(check_contract):
    assert check_contract(hf) == 2


@pytest.mark.parametrize("reason", ["retirement", "disability", "emigration"])
def test_leaving_grounds_take_everything_and_close(ctx, reason):
    out = assess(ctx, reason=reason, account_balance="1000.05")
    assert out["eligible"] and out["max_amount"] == "1000.05" and out["remaining_balance"] == "0.00"
    assert out["close_account"] is True


def test_purchase_is_limited_by_price(ctx):
    out = assess(ctx, reason="purchase_house", account_balance="200000", house_price="150000.00")
    assert out["max_amount"] == "150000.00" and out["remaining_balance"] == "50000.00"
    assert out["close_account"] is False
    out = assess(ctx, reason="purchase_house", account_balance="80000", house_price="150000.00")
    assert out["max_amount"] == "80000.00"


def test_loan_repayment_is_limited_by_requested_instalments(ctx):
    out = assess(ctx, reason="loan_repayment", account_balance="50000", loan_monthly_payment="4321.09", months=12)
    assert out["max_amount"] == "50000.00"
    out = assess(ctx, reason="loan_repayment", account_balance="50000", loan_monthly_payment="4321.09", months=3)
    assert out["max_amount"] == "12963.27"


def test_rent_below_cap_is_paid_in_full(ctx):
    out = assess(ctx, **RENT)
    assert out["eligible"] and out["max_amount"] == "10800.00"


def test_rent_above_cap_is_capped(ctx):
    out = assess(ctx, **(RENT | {"monthly_rent": "5000"}))
    assert out["max_amount"] == "12000.00"  # 2000 × 6


def test_installation_sets_its_own_rent_cap(ctx):
    shenzhen = dataclasses.replace(ctx, config={"rent_monthly_cap": "2800.00"})
    out = hf.assess_withdrawal(payload=RENT | {"monthly_rent": "5000"}, context=shenzhen)
    assert out["max_amount"] == "16800.00"
    with pytest.raises(ModuleError) as err:
        hf.assess_withdrawal(payload=RENT, context=dataclasses.replace(ctx, config={"rent_monthly_cap": "-1"}))
    assert err.value.reason == "invalid_config"


@pytest.mark.parametrize("changes, refusal", [
    ({"owns_home_in_city": True}, "owns_home_in_city"),
    ({"consecutive_months": 2}, "deposits_under_three_months"),
    ({"account_balance": "0"}, "no_balance"),
])
def test_rent_refusals(ctx, changes, refusal):
    out = assess(ctx, **(RENT | changes))
    assert out["eligible"] is False and out["ineligible_reason"] == refusal
    assert out["max_amount"] == "0.00" and out["close_account"] is False


def test_missing_ground_data_is_refused(ctx):
    with pytest.raises(ModuleError) as err:
        assess(ctx, reason="purchase_house", account_balance="1000")
    assert err.value.reason == "missing_field"


def test_every_ground_cites_article_24(ctx):
    for reason in hf.LEGAL_BASIS:
        assert "第二十四条" in hf.LEGAL_BASIS[reason] and hf.DOCUMENTS[reason][0] == "身份证件"
