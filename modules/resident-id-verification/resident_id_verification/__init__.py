"""居民身份核验: offline checks of an 18-digit citizen identity number (GB 11643-1999).

The number is address code (6, GB/T 2260) + birth date (8, YYYYMMDD) +
sequence (3, odd = male, even = female) + check digit computed with
ISO 7064 MOD 11-2. Residence permits for Hong Kong, Macao (810000, 820000)
and Taiwan (830000) residents use the same structure.
"""
from __future__ import annotations

from datetime import date

from marketplace.sdk import hookimpl

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2**(17-i) mod 11
CHECK_DIGITS = "10X98765432"  # indexed by weighted sum mod 11
EARLIEST_BIRTH = date(1870, 1, 1)

PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
    "83": "台湾地区",
}
DOCUMENT_KINDS = {"81": "港澳居民居住证", "82": "港澳居民居住证", "83": "台湾居民居住证"}


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return CHECK_DIGITS[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def upgrade_15(old: str) -> str:
    """Turn a first-generation 15-digit number (births 19xx) into its 18-digit form."""
    body = old[:6] + "19" + old[6:]
    return body + check_digit(body)


def mask(number: str) -> str:
    """Keep the first 6 and last 4 characters only, as display rules require."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)


def parse_birth(digits: str) -> date | None:
    """Birth date from YYYYMMDD, None when it is not a real calendar date."""
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def age_on(born: date, day: date) -> int:
    """Full years of age on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _invalid(result: dict, reason: str) -> dict:
    result.update(valid=False, reason=reason)
    return result


def verify(number: str, as_of: date | None) -> dict:
    """Verify one identity number; return facts decoded from it and a reason when invalid."""
    number = number.strip().upper()
    result: dict = {"valid": False, "id_masked": mask(number)}
    if len(number) == 15 and number.isascii() and number.isdigit():
        result["upgraded_id_number"] = upgrade_15(number)
        return _invalid(result, "legacy_15_digit")
    if len(number) != 18:
        return _invalid(result, "invalid_length")
    if not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in "0123456789X":
        return _invalid(result, "invalid_characters")
    region, province = number[:6], PROVINCES.get(number[:2])
    if province is None:
        return _invalid(result, "invalid_region")
    born = parse_birth(number[6:14])
    sequence = int(number[14:17])
    result.update(
        region_code=region,
        province=province,
        document_kind=DOCUMENT_KINDS.get(number[:2], "居民身份证"),
        gender="male" if sequence % 2 else "female",
        gender_zh="男" if sequence % 2 else "女",
        check_digit=number[17],
        expected_check_digit=check_digit(number[:17]),
    )
    if born is None or born < EARLIEST_BIRTH:
        return _invalid(result, "invalid_birth_date")
    result["birth_date"] = born.isoformat()
    if as_of is not None:
        if born > as_of:
            return _invalid(result, "birth_date_in_future")
        result["age"] = age_on(born, as_of)
        result["adult"] = result["age"] >= 18
    if result["expected_check_digit"] != number[17]:
        return _invalid(result, "checksum_mismatch")
    result["valid"] = True
    return result


@hookimpl
def verify_id(payload, context):
    """Check an identity number's structure, birth date and check digit; optionally give the age."""
    as_of = date.fromisoformat(payload["as_of"]) if payload.get("as_of") else None
    return verify(payload["id_number"], as_of)
