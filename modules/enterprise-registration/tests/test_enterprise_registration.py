"""Behaviour of the 企业开办一件事 module."""
from __future__ import annotations

import copy

import pytest

import enterprise_registration as er
from marketplace.sdk import ModuleError

APPLICATION = {
    "company_name": "深圳市前海示例科技有限公司",
    "company_type": "有限责任公司",
    "region_code": "440305",
    "address": "深圳市南山区前海深港合作区南山街道桂湾五路128号",
    "legal_representative": {"name": "张三", "id_number": "11010519491231002X"},
    "registered_capital": "1000000",
    "business_scope": ["软件开发", "道路货物运输（不含危险货物）"],
    "application_date": "2026-03-02",
}


def application(**changes):
    """A copy of the sample application with some fields changed."""
    data = copy.deepcopy(APPLICATION)
    data.update(changes)
    return data


def test_manifest_examples_validate_and_run(check_contract):
    assert check_contract(er) >= 3


@pytest.mark.parametrize("code", ["914403001922038216", "9144030071526726XG", "91350100M000100Y43"])
def test_real_credit_codes_are_valid(ctx, code):
    out = er.validate_credit_code(payload={"credit_code": code}, context=ctx)
    assert out["valid"] is True
    assert out["organization_code_valid"] is True
    assert "reason" not in out


def test_check_character_31_maps_to_zero():
    # Find a 17-character body whose weighted sum is divisible by 31: check is "0".
    body = "91440300MA5" + "000000"
    for last in er.credit_code.CHARSET:
        candidate = body[:-1] + last
        total = sum(er.credit_code.CHARSET.index(c) * w for c, w in zip(candidate, er.credit_code.WEIGHTS))
        if total % 31 == 0:
            assert er.credit_code.check_character(candidate) == "0"
            return
    pytest.skip("no candidate with sum divisible by 31")


def test_lowercase_and_spaces_are_normalised(ctx):
    out = er.validate_credit_code(payload={"credit_code": " 9144030071526726xg "}, context=ctx)
    assert out["credit_code"] == "9144030071526726XG" and out["valid"]


@pytest.mark.parametrize("code, reason", [
    ("91440300192203821", "invalid_length"),
    ("91440300192203821I", "invalid_characters"),
    ("B14403001922038216", "unknown_registration_authority"),
    ("97440300192203821X", "unknown_organization_type"),
    ("91990000192203821X", "invalid_region_code"),
    ("914403001922038217", "checksum_mismatch"),
])
def test_invalid_codes_give_a_reason(ctx, code, reason):
    out = er.validate_credit_code(payload={"credit_code": code}, context=ctx)
    assert out["valid"] is False and out["reason"] == reason


def test_social_organisation_code_is_decoded(ctx):
    code = "5144030" + "0MJL000000"
    code = code + er.credit_code.check_character(code)
    out = er.validate_credit_code(payload={"credit_code": code}, context=ctx)
    assert out["registration_authority"]["name"] == "民政"
    assert out["organization_type"]["name"] == "社会团体"


def test_accepted_application_has_full_checklist(ctx):
    out = er.submit_application(payload=application(), context=ctx)
    assert out["status"] == "accepted"
    items = [c["item"] for c in out["checklist"]]
    assert items == ["营业执照", "公章刻制", "税务登记/发票申领", "社保登记", "公积金登记", "银行开户预约"]
    authorities = {c["item"]: c["authority"] for c in out["checklist"]}
    assert authorities["税务登记/发票申领"] == "税务局"
    assert authorities["营业执照"] == "市场监督管理局"
    assert out["registered_capital"] == "1000000.00"
    assert out["permits_required"] == [{
        "scope_item": "道路货物运输（不含危险货物）", "permit": "道路运输经营许可证",
        "authority": "交通运输局", "kind": "licence"}]


def test_application_id_is_deterministic(ctx):
    first = er.submit_application(payload=application(), context=ctx)["application_id"]
    again = er.submit_application(payload=application(), context=ctx)["application_id"]
    other = er.submit_application(payload=application(address="深圳市南山区科技园1号"), context=ctx)
    assert first == again and first.startswith("QYKB-440305-")
    assert other["application_id"] != first


def test_bank_appointment_can_be_skipped(ctx):
    out = er.submit_application(payload=application(need_bank_account=False), context=ctx)
    assert "银行开户预约" not in [c["item"] for c in out["checklist"]]


def test_prepackaged_food_needs_only_a_filing(ctx):
    out = er.submit_application(payload=application(business_scope=["食品销售（仅销售预包装食品）"]), context=ctx)
    assert out["permits_required"][0]["kind"] == "filing"


def test_capital_deadline_on_leap_day(ctx):
    out = er.submit_application(payload=application(application_date="2028-02-29"), context=ctx)
    assert out["capital_contribution_deadline"] == "2033-02-28"


def test_joint_stock_company_has_no_five_year_deadline(ctx):
    out = er.submit_application(
        payload=application(company_name="深圳市示例智能股份有限公司", company_type="股份有限公司"), context=ctx)
    assert "capital_contribution_deadline" not in out


@pytest.mark.parametrize("changes, fragment", [
    ({"company_name": "深圳市示例科技股份有限公司"}, "股份"),
    ({"company_name": "深圳市示例科技中心"}, "有限公司"),
    ({"company_name": "中国示例科技有限公司"}, "国务院批准"),
    ({"company_type": "合伙企业", "company_name": "深圳市示例投资合伙企业"}, "有限合伙"),
    ({"company_type": "个人独资企业", "company_name": "深圳市示例商行有限公司"}, "个人独资企业"),
    ({"registered_capital": "0"}, "大于零"),
    ({"legal_representative": {"name": "李四", "id_number": "110105194912310021"}}, "校验码"),
    ({"legal_representative": {"name": "李四", "id_number": "440305201001010012"}}, None),
    ({"business_scope": ["软件开发", "软件开发"]}, "重复"),
])
def test_invalid_applications_are_refused(ctx, changes, fragment):
    payload = application(**changes)
    rep = payload["legal_representative"]["id_number"]
    if fragment is None:  # a minor: make the check digit right so only the age rule fails
        body = rep[:17]
        total = sum(int(d) * w for d, w in zip(body, er.application.ID_WEIGHTS))
        payload["legal_representative"]["id_number"] = body + er.application.ID_CHECK[total % 11]
        fragment = "十八周岁"
    with pytest.raises(ModuleError) as err:
        er.submit_application(payload=payload, context=ctx)
    assert err.value.reason == "invalid_application"
    assert fragment in err.value.message


def test_half_width_partnership_parentheses_are_accepted(ctx):
    out = er.submit_application(
        payload=application(company_type="合伙企业", company_name="深圳市示例投资合伙企业(有限合伙)"), context=ctx)
    assert out["company_name"] == "深圳市示例投资合伙企业（有限合伙）"
