"""Behaviour of the 社保关系转移 module."""
from __future__ import annotations

from decimal import Decimal

import pytest

import social_insurance_transfer as sit
from marketplace.sdk import ModuleError


def seg(region, start, end, wage):
    """One contribution segment."""
    return {"region": region, "from": start, "to": end, "monthly_wage": wage}


def compute(ctx, segments, **extra):
    """Run the hook on some segments."""
    return sit.compute_transfer(payload={"segments": segments, **extra}, context=ctx)


def test_manifest_examples_validate_and_run(check_contract):
    assert check_contract(sit) == 1


def test_single_segment_pooled_fund_is_twelve_percent(ctx):
    out = compute(ctx, [seg("440300", "2020-01", "2020-12", "10000")], personal_account_balance="9600")
    assert out["total_months"] == 12 and out["pooled_months"] == 12
    assert out["pooled_fund_transfer"] == "14400.00"  # 12 × 10000 × 12 %
    assert out["personal_account_transfer"] == "9600.00"
    assert out["total_transfer"] == "24000.00"
    assert out["contribution_years"] == {"years": 1, "months": 0}


def test_under_a_year_counts_actual_months(ctx):
    out = compute(ctx, [seg("440300", "2024-03", "2024-07", "6000.50")])
    assert out["total_months"] == 5
    assert out["pooled_fund_transfer"] == "3600.30"  # 5 × 6000.50 × 12 %


def test_equals_average_wage_times_months(ctx):
    segments = [seg("440300", "2012-01", "2016-05", "7321.17"), seg("330100", "2016-06", "2023-02", "9012.33")]
    out = compute(ctx, segments)
    total = Decimal("7321.17") * 53 + Decimal("9012.33") * 81
    expected = (total / out["pooled_months"] * out["pooled_months"] * Decimal("0.12")).quantize(Decimal("0.01"))
    assert Decimal(out["pooled_fund_transfer"]) == expected


def test_overlapping_months_are_counted_once(ctx):
    segments = [seg("440300", "2018-01", "2018-12", "5000"), seg("330100", "2018-07", "2019-06", "8000")]
    out = compute(ctx, segments)
    assert out["total_months"] == 18
    assert out["duplicate_periods"] == [{"region": "330100", "from": "2018-07", "to": "2018-12", "months": 6}]
    by_region = {row["region"]: row for row in out["by_region"]}
    assert by_region["440300"]["months"] == 12 and by_region["330100"]["months"] == 6
    # 12 × 5000 × 12 % + 6 × 8000 × 12 %
    assert out["pooled_fund_transfer"] == "12960.00"


def test_later_listed_segment_that_starts_first_keeps_the_months(ctx):
    segments = [seg("330100", "2019-03", "2019-04", "8000"), seg("440300", "2019-01", "2019-12", "5000")]
    out = compute(ctx, segments)
    assert out["total_months"] == 12
    assert out["duplicate_periods"][0]["region"] == "330100"


def test_split_duplicate_ranges_are_reported_separately(ctx):
    segments = [seg("440300", "2019-01", "2019-03", "5000"), seg("440300", "2019-06", "2019-08", "5000"),
                seg("330100", "2019-02", "2019-07", "8000")]
    out = compute(ctx, segments)
    # 330100 started before the second 440300 segment, so it keeps 2019-06..07.
    assert [(d["region"], d["from"], d["to"]) for d in out["duplicate_periods"]] == [
        ("330100", "2019-02", "2019-03"), ("440300", "2019-06", "2019-07")]
    assert out["total_months"] == 8


def test_months_before_1998_count_but_do_not_transfer_pooled_fund(ctx):
    out = compute(ctx, [seg("440300", "1997-07", "1998-06", "1000")])
    assert out["total_months"] == 12 and out["pooled_months"] == 6
    assert out["pooled_fund_transfer"] == "720.00"


def test_personal_account_estimate_uses_11_then_8_percent(ctx):
    out = compute(ctx, [seg("440300", "2005-12", "2006-01", "1000")])
    assert out["personal_account_estimated"] is True
    assert out["personal_account_transfer"] == "190.00"  # 110 + 80


@pytest.mark.parametrize("segments, hukou, region, rule", [
    # insurance is in the hukou region: claim there
    ([seg("330100", "2010-01", "2012-12", "5000"), seg("440300", "2013-01", "2015-12", "5000")],
     "440305", "440300", "hukou"),
    # ten years in the current region
    ([seg("330100", "2000-01", "2002-12", "5000"), seg("440300", "2003-01", "2012-12", "5000")],
     "110105", "440300", "ten_years_current"),
    # back to the latest earlier region with ten years
    ([seg("330100", "2000-01", "2009-12", "5000"), seg("440300", "2010-01", "2012-12", "5000")],
     "110105", "330100", "ten_years_previous"),
    # nowhere ten years, no hukou given
    ([seg("330100", "2000-01", "2004-12", "5000"), seg("440300", "2005-01", "2012-12", "5000")],
     None, None, "hukou_required"),
])
def test_benefit_region_follows_article_six(ctx, segments, hukou, region, rule):
    extra = {"hukou_region": hukou} if hukou else {}
    out = compute(ctx, segments, **extra)
    assert (out["benefit_region"], out["benefit_region_rule"]) == (region, rule)


def test_municipality_districts_are_one_region(ctx):
    out = compute(ctx, [seg("310115", "2010-01", "2012-12", "5000")], hukou_region="310104")
    assert out["benefit_region_rule"] == "hukou"


def test_reversed_segment_is_refused(ctx):
    with pytest.raises(ModuleError) as err:
        compute(ctx, [seg("440300", "2020-05", "2020-01", "5000")])
    assert err.value.reason == "invalid_segment"
