"""The one module that owns money: parsing, minor units, rounding and display.

Money comes in as decimal *strings* (never floats), is computed as
:class:`~decimal.Decimal` in an exact context, and is stored as integer minor
units (fen, cents).  Rounding happens in exactly one place, :func:`to_minor`,
always ROUND_HALF_UP (DESIGN §6).
"""
from __future__ import annotations

import re
from contextlib import AbstractContextManager
from decimal import (ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation,
                     Overflow, Rounded, localcontext)

from marketplace.jsonio import shown

#: Most decimal places a price may carry in a manifest (DESIGN §3).
MAX_PRICE_PLACES = 6
#: The largest amount any input may name, in major units (DESIGN §12): far below what a
#: 64-bit count of minor units holds, in every currency here (at most 4 places).
MAX_AMOUNT = Decimal(10**12)

# ISO 4217 active currency codes by minor-unit exponent (funds and metals
# without a minor unit are left out).  Zero-decimal currencies are listed
# explicitly because getting JPY wrong is a factor-100 error.
_BY_EXPONENT = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
    2: """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV
          BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK
          DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL
          HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL
          MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO
          NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK
          SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS
          UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG""",
}

#: ISO 4217 code → number of decimal places of its minor unit.
MINOR_UNITS: dict[str, int] = {
    code: exponent for exponent, codes in _BY_EXPONENT.items() for code in codes.split()
}

#: Display symbols; currencies not listed are shown as "CODE 1,234.00".
SYMBOLS: dict[str, str] = {
    "CNY": "¥", "JPY": "JP¥", "USD": "$", "EUR": "€", "GBP": "£",
    "HKD": "HK$", "MOP": "MOP$", "TWD": "NT$", "KRW": "₩", "SGD": "S$",
}

_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)
_AMOUNT = re.compile(r"-?[0-9]+(?:\.([0-9]+))?", re.ASCII)
# what a person types on a form: thousands grouped by commas (1,234.50) or not
_TYPED = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?", re.ASCII)

# Arithmetic on money must never round silently: plenty of precision, and
# Inexact/Rounded trapped so a lost digit raises instead of shifting a fen.
_EXACT = Context(prec=100, rounding=ROUND_HALF_UP,
                 traps=[InvalidOperation, Overflow, Inexact, Rounded])
# The one context allowed to round, used by to_minor only.
_ROUNDING = Context(prec=100, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow])


class AmountError(ValueError):
    """A money value that cannot be accepted; ``where`` locates it, ``reason`` says why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def exact() -> AbstractContextManager[Context]:
    """A decimal context for money arithmetic that raises rather than round."""
    return localcontext(_EXACT)


def parse_amount(text: str, where: str = "amount") -> Decimal:
    """Parse a non-negative decimal string with at most 6 decimal places.

    Floats, ints and anything but a plain ``"123.45"`` string are refused with
    an :class:`AmountError` (a ``ValueError``) naming ``where``.
    """
    if not isinstance(text, str):
        raise AmountError(where, 'write prices as strings, e.g. "0.05"')
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise AmountError(where, f'{shown(text)} is not a decimal number; write e.g. "0.05"')
    if text.startswith("-"):
        raise AmountError(where, f"must not be negative, got {shown(text)}")
    places = match.group(1) or ""
    if len(places) > MAX_PRICE_PLACES:
        raise AmountError(
            where, f"at most {MAX_PRICE_PLACES} decimal places allowed, got {len(places)} in {shown(text)}")
    return _bounded(Decimal(text), text, where)


def _bounded(amount: Decimal, text: str, where: str) -> Decimal:
    """``amount`` unless it is above MAX_AMOUNT."""
    if amount > MAX_AMOUNT:
        raise AmountError(where, f"{shown(text)} is too large: at most {MAX_AMOUNT:,} allowed")
    return amount


def parse_money(text: object, currency: str = "CNY", where: str = "amount",
                signed: bool = False) -> int:
    """A positive amount of ``currency`` typed or sent as a string → minor units, never rounded.

    The one parser of money a person enters (payments: API, console, CLI): ASCII digits,
    optionally grouped by commas (``"1,234.50"``), at most the currency's decimal places,
    greater than 0 and at most MAX_AMOUNT; anything else is an :class:`AmountError`.
    ``signed``: a leading minus is allowed and the amount must be non-zero instead (an
    adjustment: ``"-12.34"`` a credit, ``"5.00"`` a debit); errors quote it sign and all.
    """
    places = minor_exponent(currency)
    if not isinstance(text, str):
        raise AmountError(where, 'write the amount as a string, e.g. "100.00"')
    negative = signed and text.startswith("-")
    digits = text[1:] if negative else text
    match = _TYPED.fullmatch(digits) if len(text) <= 40 else None
    if match is None:
        raise AmountError(where, f'{shown(text)} is not an amount; write e.g. "1234.50" or "1,234.50"')
    if len(match.group(1) or "") > places:
        raise AmountError(where, f"at most {places} decimal places in {currency}, got {shown(text)}")
    amount = _bounded(Decimal(digits.replace(",", "")), text, where)
    if signed and amount == 0:
        raise AmountError(where, f"must not be zero (it would change nothing), got {shown(text)}")
    if amount <= 0:
        raise AmountError(where, f"must be greater than 0, got {shown(text)}")
    return to_minor(-amount if negative else amount, currency)


def minor_exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (CNY 2, JPY 0, KWD 3)."""
    try:
        return MINOR_UNITS[currency]
    except (KeyError, TypeError):
        raise ValueError(f"unknown ISO 4217 currency {currency!r}") from None


def currency_problem(currency: object) -> str | None:
    """Why ``currency`` is not a usable ISO 4217 code, or None when it is."""
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        return f'must be 3 uppercase letters (ISO 4217) like "CNY", got {shown(currency)}'
    if currency not in MINOR_UNITS:
        return f"{shown(currency)} is not a known ISO 4217 currency"
    return None


def _check_decimal(amount: Decimal | int) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise TypeError(f"money must be Decimal or int, not {type(amount).__name__}")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"money must be finite, got {amount}")
    return amount


def to_minor(amount: Decimal | int, currency: str) -> int:
    """Round ``amount`` once, ROUND_HALF_UP, to an integer count of minor units."""
    exponent = minor_exponent(currency)
    amount = _check_decimal(amount)
    scaled = amount.scaleb(exponent, context=_ROUNDING)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_ROUNDING))


def is_chargeable(amount: Decimal | int, currency: str) -> bool:
    """Whether ``amount`` is a whole number of ``currency``'s minor units (5000.00 CNY yes, 0.005 no)."""
    return from_minor(to_minor(amount, currency), currency) == amount


def from_minor(minor: int, currency: str) -> Decimal:
    """The exact Decimal for ``minor`` units, with the currency's places (49500 → 495.00)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor units must be int, not {type(minor).__name__}")
    return Decimal(minor).scaleb(-minor_exponent(currency), context=_EXACT)


def format_amount(minor: int, currency: str) -> str:
    """Plain decimal string for JSON: ``49500, "CNY"`` → ``"495.00"``; ``-1200`` → ``"-12.00"``."""
    return format(from_minor(minor, currency), "f")


def _with_symbol(magnitude: str, negative: bool, currency: str) -> str:
    symbol = SYMBOLS.get(currency)
    body = f"{symbol}{magnitude}" if symbol else f"{currency} {magnitude}"
    return f"-{body}" if negative else body


def format_display(minor: int, currency: str) -> str:
    """Human text with symbol and thousands separators: ``123450`` → ``"¥1,234.50"``, ``-1200`` → ``"-¥12.00"``."""
    value = from_minor(minor, currency)
    return _with_symbol(f"{value.copy_abs():,.{minor_exponent(currency)}f}", value < 0, currency)


def format_price(amount: Decimal, currency: str) -> str:
    """Display a unit price exactly: at least the currency's places, more when needed (``"¥0.005"``)."""
    amount = _check_decimal(amount)
    places = max(minor_exponent(currency), -amount.normalize(_ROUNDING).as_tuple().exponent)
    return _with_symbol(f"{amount.copy_abs():,.{places}f}", amount < 0, currency)


def bps_fee(minor: int, bps: int) -> int:
    """``bps`` basis points of ``minor`` units, ROUND_HALF_UP (half away from zero)."""
    for name, value in (("minor", minor), ("bps", bps)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if not 0 <= bps <= 10_000:
        raise ValueError(f"bps must be between 0 and 10000, got {bps}")
    quotient, remainder = divmod(abs(minor) * bps, 10_000)
    if 2 * remainder >= 10_000:
        quotient += 1
    return -quotient if minor < 0 else quotient
