"""marketplace.money: parsing, minor units, one ROUND_HALF_UP, display."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.money import (MINOR_UNITS, AmountError, bps_fee, currency_problem,
                               format_amount, format_display, format_price, from_minor,
                               is_chargeable, minor_exponent, parse_amount, to_minor)


@pytest.mark.parametrize("text, expected", [
    ("0.05", Decimal("0.05")), ("5000", Decimal("5000")), ("5000.00", Decimal("5000.00")),
    ("0.123456", Decimal("0.123456")), ("0", Decimal("0")), ("007.5", Decimal("7.5")),
])
def test_parse_amount_accepts_plain_decimal_strings(text, expected):
    assert parse_amount(text, "terms.fee") == expected


@pytest.mark.parametrize("value", [0.05, 5, True, None, Decimal("0.05")])
def test_parse_amount_refuses_non_strings_with_a_hint(value):
    with pytest.raises(ValueError, match='write prices as strings, e.g. "0.05"') as info:
        parse_amount(value, "terms.unit_price")
    assert info.value.where == "terms.unit_price"


def test_parse_amount_refuses_more_than_six_places():
    with pytest.raises(AmountError, match=r"terms\.cap: at most 6 decimal places"):
        parse_amount("0.1234567", "terms.cap")


def test_parse_amount_refuses_negative():
    with pytest.raises(ValueError, match="must not be negative"):
        parse_amount("-1.00", "terms.fee")


@pytest.mark.parametrize("text", ["1e3", "NaN", "Infinity", " 1", "1,000", "", ".5", "5.",
                                  "１", "+1", "0x10", "1_000"])
def test_parse_amount_refuses_anything_but_digits_and_one_point(text):
    with pytest.raises(ValueError, match="not a decimal number"):
        parse_amount(text, "amount")


def test_minor_units_know_iso_4217_exponents():
    assert (MINOR_UNITS["CNY"], MINOR_UNITS["USD"], MINOR_UNITS["EUR"], MINOR_UNITS["HKD"]) == (2, 2, 2, 2)
    assert (MINOR_UNITS["JPY"], MINOR_UNITS["KRW"], MINOR_UNITS["KWD"], MINOR_UNITS["CLF"]) == (0, 0, 3, 4)
    assert all(len(code) == 3 and code.isupper() for code in MINOR_UNITS)
    assert minor_exponent("JPY") == 0
    with pytest.raises(ValueError, match="unknown ISO 4217 currency 'XYZ'"):
        minor_exponent("XYZ")


@pytest.mark.parametrize("code, problem", [
    ("CNY", None), ("cny", "3 uppercase letters"), ("RMB", "not a known ISO 4217"),
    ("YUAN", "3 uppercase letters"), (156, "3 uppercase letters"),
])
def test_currency_problem_explains_bad_codes(code, problem):
    found = currency_problem(code)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize("amount, currency, minor", [
    (Decimal("0.015"), "CNY", 2), (Decimal("0.014999"), "CNY", 1), (Decimal("0.005"), "CNY", 1),
    (Decimal("0.004999"), "CNY", 0), (Decimal("495"), "CNY", 49500), (Decimal("2.5"), "JPY", 3),
    (Decimal("1.0005"), "KWD", 1001), (Decimal("-0.015"), "CNY", -2), (7, "CNY", 700),
])
def test_to_minor_rounds_half_up_once(amount, currency, minor):
    assert to_minor(amount, currency) == minor


def test_to_minor_is_exact_beyond_default_decimal_precision():
    huge = Decimal("123456789012345678901234567890.12")  # 32 digits > default prec 28
    assert to_minor(huge, "CNY") == 12345678901234567890123456789012


@pytest.mark.parametrize("amount, currency, ok", [
    ("5000.00", "CNY", True), ("5000.001", "CNY", False), ("100", "JPY", True), ("100.0", "JPY", True),
    ("100.5", "JPY", False), ("0.001", "KWD", True), ("1" + "0" * 40 + ".01", "CNY", True),
])
def test_is_chargeable_means_a_whole_number_of_minor_units(amount, currency, ok):
    assert is_chargeable(Decimal(amount), currency) is ok


@pytest.mark.parametrize("bad", [0.015, "0.015", True])
def test_to_minor_refuses_floats_and_strings(bad):
    with pytest.raises(TypeError):
        to_minor(bad, "CNY")


def test_from_minor_gives_exact_decimal_with_currency_places():
    assert str(from_minor(49500, "CNY")) == "495.00"
    assert str(from_minor(5, "JPY")) == "5"
    assert str(from_minor(1, "KWD")) == "0.001"
    with pytest.raises(TypeError):
        from_minor(1.0, "CNY")


@pytest.mark.parametrize("minor, currency, text", [
    (49500, "CNY", "495.00"), (0, "CNY", "0.00"), (5, "CNY", "0.05"), (-1200, "CNY", "-12.00"),
    (1234, "JPY", "1234"), (10**20, "CNY", "1000000000000000000.00"),
])
def test_format_amount_is_a_plain_decimal_string(minor, currency, text):
    assert format_amount(minor, currency) == text


@pytest.mark.parametrize("minor, currency, text", [
    (123450, "CNY", "¥1,234.50"), (-1200, "CNY", "-¥12.00"), (0, "CNY", "¥0.00"),
    (500000, "CNY", "¥5,000.00"), (99, "USD", "$0.99"), (1234567, "JPY", "JP¥1,234,567"),
    (123456, "HKD", "HK$1,234.56"), (10**32, "CNY", "¥1" + ",000" * 10 + ".00"), (500, "CHF", "CHF 5.00"), (-100, "EUR", "-€1.00"),
])
def test_format_display_has_symbol_separators_and_sign_first(minor, currency, text):
    assert format_display(minor, currency) == text


@pytest.mark.parametrize("amount, text", [
    ("0.005", "¥0.005"), ("0.05", "¥0.05"), ("0.050000", "¥0.05"), ("5", "¥5.00"),
    ("1234.5", "¥1,234.50"), ("0.000001", "¥0.000001"),
    ("1" + "0" * 29 + ".000001", "¥100" + ",000" * 9 + ".000001"),  # 10^29: beyond prec 28
])
def test_format_price_shows_unit_prices_exactly(amount, text):
    assert format_price(Decimal(amount), "CNY") == text


@pytest.mark.parametrize("minor, bps, fee", [
    (10000, 250, 250), (150, 250, 4), (20, 250, 1), (19, 250, 0), (0, 500, 0),
    (52000, 0, 0), (52000, 10000, 52000), (1, 5000, 1), (-20, 250, -1),
])
def test_bps_fee_rounds_half_up(minor, bps, fee):
    assert bps_fee(minor, bps) == fee  # e.g. 150 × 2.5 % = 3.75 → 4; 20 × 2.5 % = 0.5 → 1


@pytest.mark.parametrize("bps", [-1, 10001])
def test_bps_fee_refuses_out_of_range_rates(bps):
    with pytest.raises(ValueError, match="between 0 and 10000"):
        bps_fee(100, bps)


currencies = st.sampled_from(sorted(MINOR_UNITS))


@given(st.integers(-10**12, 10**12), currencies)    # parse_amount refuses more than 10**12
def test_minor_round_trips_through_decimal_and_text(minor, currency):
    assert to_minor(from_minor(minor, currency), currency) == minor
    text = format_amount(minor, currency)
    assert Decimal(text) == from_minor(minor, currency)
    if minor >= 0 and minor_exponent(currency) <= 6:
        assert parse_amount(text, "amount") == from_minor(minor, currency)


@given(st.integers(0, 10**12), st.integers(0, 10_000))
def test_bps_fee_is_within_half_a_minor_unit_and_never_exceeds_the_amount(minor, bps):
    fee = bps_fee(minor, bps)
    exact = Decimal(minor * bps) / 10_000
    assert abs(fee - exact) <= Decimal("0.5")
    assert 0 <= fee <= minor
