"""Behaviour of the 粤省事 电子证照查询 module."""
from __future__ import annotations

import pytest

import e_license_guangdong as gd
from e_license_guangdong.checks import ID_CHECK, ID_WEIGHTS, USCC_CHARSET, USCC_WEIGHTS


def person_id(first17: str) -> str:
    """Complete 17 digits with the GB 11643 check digit."""
    return first17 + ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def credit_code(first17: str) -> str:
    """Complete 17 characters with the GB 32100 check character."""
    value = 31 - sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS)) % 31
    return first17 + USCC_CHARSET[0 if value == 31 else value]


def lookup(ctx, license_type, holder_id):
    return gd.lookup_license(payload={"license_type": license_type, "holder_id": holder_id}, context=ctx)


def verify(ctx, license_type, number):
    return gd.verify_license(payload={"license_type": license_type, "license_number": number}, context=ctx)


def test_manifest_examples_validate_and_run(check_contract):
    assert check_contract(gd) == 4


def test_business_licence_of_a_shenzhen_company(ctx):
    out = lookup(ctx, "business_license", "914403001922038216")
    lic = out["license"]
    assert lic["license_number"] == "914403001922038216"
    assert lic["issuing_region"] == "440300" and lic["issuing_authority"] == "深圳市市场监督管理局"
    assert lic["valid_until"] is None and "2015-10-01" <= lic["issue_date"] <= "2025-12-31"


def test_lookup_is_deterministic(ctx):
    holder = person_id("44030519900307123")
    assert lookup(ctx, "real_estate_certificate", holder) == lookup(ctx, "real_estate_certificate", holder)


def test_other_provinces_companies_are_not_in_this_registry(ctx):
    assert lookup(ctx, "business_license", "91350100M000100Y43")["reason"] == "not_in_registry"


def test_holder_type_must_fit_the_licence(ctx):
    assert lookup(ctx, "business_license", person_id("44030519900307123"))["reason"] == "holder_type_mismatch"
    assert lookup(ctx, "driving_license", "914403001922038216")["reason"] == "holder_type_mismatch"
    # A 社会团体 (registered by 民政, "51…") holds a 登记证书, not a business licence.
    assert lookup(ctx, "business_license", credit_code("51440300MJL000001"))["reason"] == "holder_type_mismatch"


def test_minors_hold_no_driving_licence_or_marriage_certificate(ctx):
    child = person_id("44030520100101002")
    assert lookup(ctx, "driving_license", child)["reason"] == "not_eligible"
    assert lookup(ctx, "marriage_certificate", child)["reason"] == "not_eligible"
    unborn = person_id("44030520300101002")
    assert lookup(ctx, "social_security_card", unborn)["reason"] == "not_eligible"


def test_marriage_age_differs_by_gender(ctx):
    # Both 21 on the snapshot day: the woman (even 17th digit) may marry, the man not yet.
    woman, man = person_id("44030520040601002"), person_id("44030520040601001")
    assert lookup(ctx, "marriage_certificate", man)["reason"] == "not_eligible"
    assert lookup(ctx, "marriage_certificate", woman).get("reason") != "not_eligible"


def test_driving_licence_validity_moves_to_long_term(ctx):
    lic = lookup(ctx, "driving_license", "11010519491231002X")["license"]
    assert lic["license_number"] == "11010519491231002X"
    assert lic["holder_id_masked"] == "110105********002X"
    issue_year = int(lic["issue_date"][:4])
    if issue_year + 16 <= 2025:
        assert lic["valid_until"] is None
    else:
        assert lic["valid_until"] >= "2025-12-31"


def test_social_security_card_is_valid_ten_years(ctx):
    lic = lookup(ctx, "social_security_card", person_id("44030519900307123"))["license"]
    assert int(lic["valid_until"][:4]) - int(lic["issue_date"][:4]) == 10


def test_generated_numbers_pass_verification(ctx):
    found = 0
    for n in range(40):
        holder = person_id(f"4403051990{n % 12 + 1:02d}{n % 28 + 1:02d}12{n % 10}")
        for kind in ("marriage_certificate", "real_estate_certificate", "driving_license"):
            out = lookup(ctx, kind, holder)
            if out["found"]:
                found += 1
                assert verify(ctx, kind, out["license"]["license_number"])["valid"], out
    assert found >= 80  # most adults hold most of these licences in the sample registry


@pytest.mark.parametrize("kind, number, reason", [
    ("business_license", "91330106MA27XZ1234", "invalid_format"),
    ("business_license", "91350100M000100Y43", "issued_by_other_province"),
    ("business_license", "914403001922038217", "checksum_mismatch"),
    ("driving_license", "110105194912310021", "checksum_mismatch"),
    ("driving_license", "11010519491331002X", "invalid_format"),
    ("marriage_certificate", "J330106-2019-001234", "issued_by_other_province"),
    ("marriage_certificate", "J440305-1949-001234", "invalid_date"),
    ("marriage_certificate", "440305-2019-001234", "invalid_format"),
    ("real_estate_certificate", "浙（2020）杭州市不动产权第0123456号", "issued_by_other_province"),
    ("real_estate_certificate", "粤（2014）深圳市不动产权第0123456号", "invalid_date"),
    ("real_estate_certificate", "粤（2020）深圳市不动产权第123456号", "invalid_format"),
])
def test_bad_numbers_give_reason(ctx, kind, number, reason):
    out = verify(ctx, kind, number)
    assert out["valid"] is False and out["reason"] == reason


def test_half_width_parentheses_are_accepted(ctx):
    assert verify(ctx, "real_estate_certificate", "粤(2021)广州市不动产权第0000001号")["valid"]


def test_credit_code_lowercase_is_normalised(ctx):
    assert verify(ctx, "business_license", "9144030071526726xg")["valid"]
