"""Check digits of the numbers electronic licences carry (shared by every province).

* 公民身份号码 (GB 11643-1999, ISO 7064 MOD 11-2): driving licences and social
  security cards use the holder's identity number as their number;
* 统一社会信用代码 (GB 32100-2015, mod 31): the business licence number.
"""
from __future__ import annotations

from datetime import date

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
PROVINCE_PREFIXES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83",
}


def birth_date(number: str) -> date | None:
    """Birth date encoded in an identity number, None if not a real date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def id_problem(number: str) -> str | None:
    """Why an 18-digit identity number is invalid, or None when it is valid."""
    digits = number[:17]
    if len(number) != 18 or not (digits.isascii() and digits.isdigit()) or number[17] not in "0123456789X":
        return "invalid_format"
    if number[:2] not in PROVINCE_PREFIXES or birth_date(number) is None:
        return "invalid_format"
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS))
    return None if ID_CHECK[total % 11] == number[17] else "checksum_mismatch"


def credit_code_problem(code: str) -> str | None:
    """Why a unified social credit code is invalid, or None when it is valid."""
    if len(code) != 18 or any(ch not in USCC_CHARSET for ch in code) or not code[2:8].isdigit():
        return "invalid_format"
    total = sum(USCC_CHARSET.index(ch) * w for ch, w in zip(code[:17], USCC_WEIGHTS))
    value = 31 - total % 31
    return None if USCC_CHARSET[0 if value == 31 else value] == code[17] else "checksum_mismatch"


def is_enterprise_code(code: str) -> bool:
    """Registered by market regulation (9) as enterprise, sole trader or cooperative."""
    return code[0] == "9" and code[1] in "123"


def age_on(born: date, day: date) -> int:
    """Full years of age on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def add_years(day: date, years: int) -> date:
    """Same day ``years`` later (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
