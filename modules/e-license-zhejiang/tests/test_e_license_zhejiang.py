"""Behaviour of the 浙里办 电子证照查询 module, and its interface twin check."""
from __future__ import annotations

import filecmp
import tomllib
from pathlib import Path

import pytest

import e_license_zhejiang as zj
from e_license_zhejiang.checks import ID_CHECK, ID_WEIGHTS

HERE = Path(__file__).resolve().parents[1]
TWIN = HERE.parent / "e-license-guangdong"


def person_id(first17: str) -> str:
    """Complete 17 digits with the GB 11643 check digit."""
    return first17 + ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def lookup(ctx, license_type, holder_id):
    return zj.lookup_license(payload={"license_type": license_type, "holder_id": holder_id}, context=ctx)


def verify(ctx, license_type, number):
    return zj.verify_license(payload={"license_type": license_type, "license_number": number}, context=ctx)


def test_manifest_examples_validate_and_run(check_contract):
    assert check_contract(zj) == 4


@pytest.mark.skipif(not TWIN.exists(), reason="e-license-guangdong not beside this module")
def test_same_interface_as_guangdong(manifest):
    with open(TWIN / "manifest.toml", "rb") as fh:
        twin = tomllib.load(fh)
    assert manifest["module"]["implements"] == twin["module"]["implements"] == "gov.e-license-lookup"
    ours = [(op["name"], op["units"], op["summary"]) for op in manifest["operations"]]
    theirs = [(op["name"], op["units"], op["summary"]) for op in twin["operations"]]
    assert ours == theirs
    for op in twin["operations"]:
        for key in ("input", "output"):
            assert filecmp.cmp(HERE / op[key], TWIN / op[key], shallow=False), op[key]


@pytest.mark.skipif(not TWIN.exists(), reason="e-license-guangdong not beside this module")
def test_shared_logic_is_identical_to_guangdong():
    for name in ("registry.py", "checks.py"):
        assert filecmp.cmp(HERE / "e_license_zhejiang" / name, TWIN / "e_license_guangdong" / name, shallow=False)


def test_zhejiang_company_is_found_in_its_city(ctx):
    lic = lookup(ctx, "business_license", "91330100799655058B")["license"]
    assert lic["issuing_region"] == "330100" and lic["issuing_authority"] == "杭州市市场监督管理局"


def test_registry_differs_from_guangdong_for_the_same_person(ctx):
    holder = person_id("33010619851010123")       # known to own property in the sample registry
    out = lookup(ctx, "real_estate_certificate", holder)
    assert out["found"] is True, out
    lic = out["license"]
    assert lic["license_number"] == "浙（2021）台州市不动产权第0477453号"
    assert (lic["issuing_region"], lic["issuing_authority"]) == ("331000", "台州市不动产登记中心")
    assert lic["holder_id_masked"] == holder[:6] + "********" + holder[-4:]


def test_a_holder_without_property_is_not_found_with_the_reason(ctx):
    holder = person_id("33010619851010125")       # known to own no registered property
    out = lookup(ctx, "real_estate_certificate", holder)
    assert out["found"] is False and out["reason"] == "not_in_registry" and "license" not in out
    assert out["issuing_platform"] == zj.registry.P.PLATFORM


def test_every_zhejiang_city_can_issue(ctx):
    regions = set()
    for n in range(300):
        holder = person_id(f"3301061985{n % 12 + 1:02d}{n % 28 + 1:02d}{n % 1000:03d}")
        out = lookup(ctx, "social_security_card", holder)
        regions.add(out["license"]["issuing_region"])
    assert regions == set(zj.registry.P.CITIES)


@pytest.mark.parametrize("kind, number, valid, reason", [
    ("real_estate_certificate", "浙（2021）杭州市不动产权第0654321号", True, None),
    ("real_estate_certificate", "浙（2021）义乌市不动产权第0654321号", True, None),
    ("real_estate_certificate", "浙（2021）杭州不动产权第0654321号", False, "invalid_format"),
    ("business_license", "91330100799655058B", True, None),
    ("business_license", "914403001922038216", False, "issued_by_other_province"),
    ("marriage_certificate", "J440305-2019-001234", False, "issued_by_other_province"),
    ("marriage_certificate", "J330106-2031-001234", False, "invalid_date"),
    ("social_security_card", "11010519491231002X", True, None),
])
def test_zhejiang_number_scheme(ctx, kind, number, valid, reason):
    out = verify(ctx, kind, number)
    assert out["valid"] is valid and out.get("reason") == reason
    assert out["province"] == "浙江省"
