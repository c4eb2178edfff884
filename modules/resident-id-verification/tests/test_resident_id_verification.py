"""Behaviour of the 居民身份核验 module."""
from __future__ import annotations

import pytest

import resident_id_verification as rid


def with_check(first17: str) -> str:
    """Complete 17 digits with their correct check digit."""
    return first17 + rid.check_digit(first17)


def test_manifest_examples_validate_and_run(check_contract):
    assert check_contract(rid) == 2


def test_known_sample_number_is_valid(ctx):
    out = rid.verify_id(payload={"id_number": "11010519491231002X"}, context=ctx)
    assert out["valid"] is True
    assert out["gender"] == "female" and out["birth_date"] == "1949-12-31"
    assert "age" not in out  # no as_of, no age


def test_check_digit_values_cover_x_and_zero():
    # Weighted sum mod 11 → check: 0→1, 1→0, 2→X, 10→2.
    assert rid.CHECK_DIGITS[0] == "1" and rid.CHECK_DIGITS[1] == "0" and rid.CHECK_DIGITS[2] == "X"
    assert rid.check_digit("11010519491231002") == "X"


def test_weights_are_powers_of_two_mod_11():
    assert rid.WEIGHTS == tuple(pow(2, 17 - i, 11) for i in range(17))


def test_lowercase_x_is_accepted(ctx):
    assert rid.verify_id(payload={"id_number": "11010519491231002x"}, context=ctx)["valid"]


def test_male_from_odd_sequence_and_age_before_birthday(ctx):
    number = with_check("44030520000615123")
    out = rid.verify_id(payload={"id_number": number, "as_of": "2018-06-14"}, context=ctx)
    assert out["valid"] and out["gender"] == "male" and out["gender_zh"] == "男"
    assert out["age"] == 17 and out["adult"] is False
    out = rid.verify_id(payload={"id_number": number, "as_of": "2018-06-15"}, context=ctx)
    assert out["age"] == 18 and out["adult"] is True
    assert out["region_code"] == "440305" and out["province"] == "广东省"


def test_leap_day_birth(ctx):
    number = with_check("33010620000229002")
    assert rid.verify_id(payload={"id_number": number}, context=ctx)["birth_date"] == "2000-02-29"
    bad = with_check("33010619000229002")  # 1900 was not a leap year
    assert rid.verify_id(payload={"id_number": bad}, context=ctx)["reason"] == "invalid_birth_date"


def test_residence_permit_kinds(ctx):
    assert rid.verify_id(payload={"id_number": with_check("81000019900101001")}, context=ctx)[
        "document_kind"] == "港澳居民居住证"
    assert rid.verify_id(payload={"id_number": with_check("83000019900101001")}, context=ctx)[
        "document_kind"] == "台湾居民居住证"


def test_fifteen_digit_number_is_upgraded(ctx):
    out = rid.verify_id(payload={"id_number": "110105491231002"}, context=ctx)
    assert out["valid"] is False and out["reason"] == "legacy_15_digit"
    assert out["upgraded_id_number"] == "11010519491231002X"


@pytest.mark.parametrize("number, as_of, reason", [
    ("1101051949123100", None, "invalid_length"),
    ("11010519491231002Y", None, "invalid_characters"),
    ("1101A519491231002X", None, "invalid_characters"),
    (with_check("99010519491231002"), None, "invalid_region"),
    (with_check("11010519491331002"), None, "invalid_birth_date"),
    (with_check("11010518000101002"), None, "invalid_birth_date"),
    (with_check("11010520300101002"), "2026-01-01", "birth_date_in_future"),
    ("110105194912310021", None, "checksum_mismatch"),
])
def test_invalid_numbers_give_reason(ctx, number, as_of, reason):
    payload = {"id_number": number} | ({"as_of": as_of} if as_of else {})
    out = rid.verify_id(payload=payload, context=ctx)
    assert out["valid"] is False and out["reason"] == reason


def test_number_is_masked_in_output(ctx):
    out = rid.verify_id(payload={"id_number": "11010519491231002X"}, context=ctx)
    assert "11010519491231002X" not in str(out)
    assert out["id_masked"] == "110105********002X"
