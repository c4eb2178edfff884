"""The deterministic sample licence registry and number verification of one province.

NOT REAL DATA. Every record is derived from a SHA-256 of (province, licence
type, holder id): the same question always gets the same answer, and no real
person's or company's licence is looked up. What *is* real: who may hold each
licence (legal age for driving 18, for marriage 22/20 per 《民法典》 art. 1047),
validity rules (driving licence 6 years, then 10, then long-term; social
security card 10 years), number formats, check digits and issuing authorities.
This file is identical in every province's module; the province comes from
``province.py``.
"""
from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

from . import province as P
from .checks import add_years, age_on, birth_date, credit_code_problem, id_problem, is_enterprise_code

LICENSE_NAMES = {
    "business_license": "营业执照",
    "driving_license": "机动车驾驶证",
    "marriage_certificate": "结婚证",
    "real_estate_certificate": "不动产权证书",
    "social_security_card": "社会保障卡",
}
PERSON_ONLY = {"driving_license", "marriage_certificate", "social_security_card"}
PROVINCE_SHORTS = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀贵黔云滇藏陕秦甘陇青宁新"
MARRIAGE_NUMBER = re.compile(r"J([0-9]{6})-([0-9]{4})-([0-9]{6})")  # fullmatch
REAL_ESTATE_NUMBER = re.compile(r"(.)[（(]([0-9]{4})[）)](\S{2,12}?[市县区])不动产权第([0-9]{7})号")
UNIFIED_REGISTRATION = date(2015, 3, 1)  # 《不动产登记暂行条例》 in force
THREE_IN_ONE = date(2015, 10, 1)  # 三证合一: the credit code becomes the licence number


def _pick_date(start: date, end: date, seed: bytes) -> date:
    """A day in [start, end] chosen by ``seed``."""
    return start + timedelta(days=int.from_bytes(seed, "big") % ((end - start).days + 1))


def _mask(holder: str, person: bool) -> str:
    return holder[:6] + "********" + holder[-4:] if person else holder


def _miss(reason: str) -> dict:
    return {"found": False, "reason": reason, "registry": "deterministic-sample",
            "registry_snapshot": P.SNAPSHOT.isoformat(), "issuing_platform": P.PLATFORM}


def _driving_validity(first_issue: date) -> tuple[date, date | None]:
    """Current validity: 6 years, then 10 years, then long-term (公安部令第162号)."""
    start, end = first_issue, add_years(first_issue, 6)
    if end < P.SNAPSHOT:
        start, end = end, add_years(end, 10)
    if end < P.SNAPSHOT:
        return end, None
    return start, end


def _record(license_type: str, holder: str, person: bool, h: bytes) -> dict | str:
    """Derive the licence from the hash, or return the reason there is none."""
    city_code = sorted(P.CITIES)[h[0] % len(P.CITIES)]
    born = birth_date(holder) if person else None
    valid_from, valid_until, number = None, None, holder
    if born is not None and born > P.SNAPSHOT:
        return "not_eligible"
    if license_type == "business_license":
        if holder[2:4] != P.CODE:
            return "not_in_registry"
        city_code = holder[2:6] + "00" if holder[2:6] + "00" in P.CITIES else city_code
        issued = _pick_date(THREE_IN_ONE, P.SNAPSHOT, h[1:5])
        authority = "市场监督管理局"
    elif license_type == "driving_license":
        if add_years(born, 18) > P.SNAPSHOT:
            return "not_eligible"
        issued = _pick_date(max(add_years(born, 18), date(1995, 1, 1)), P.SNAPSHOT, h[1:5])
        valid_from, valid_until = _driving_validity(issued)
        authority = "公安局交通警察支队"
    elif license_type == "marriage_certificate":
        legal_age = 22 if int(holder[16]) % 2 else 20
        if age_on(born, P.SNAPSHOT) < legal_age:
            return "not_eligible"
        if h[5] % 5 == 0:  # one holder in five has no marriage registration
            return "not_in_registry"
        issued = _pick_date(max(add_years(born, legal_age), date(1981, 1, 1)), P.SNAPSHOT, h[1:5])
        number = f"J{city_code}-{issued.year}-{int.from_bytes(h[6:9], 'big') % 1_000_000:06d}"
        authority = "民政局婚姻登记处"
    elif license_type == "real_estate_certificate":
        if h[5] % 4 == 0:  # one holder in four owns no registered property
            return "not_in_registry"
        start = max(UNIFIED_REGISTRATION, add_years(born, 18) if born else UNIFIED_REGISTRATION)
        if start > P.SNAPSHOT:
            return "not_in_registry"
        issued = _pick_date(start, P.SNAPSHOT, h[1:5])
        serial = int.from_bytes(h[6:9], "big") % 10_000_000
        number = f"{P.SHORT}（{issued.year}）{P.CITIES[city_code]}不动产权第{serial:07d}号"
        authority = "不动产登记中心"
    else:  # social_security_card: third-generation cards from 2017, valid 10 years
        issued = _pick_date(max(date(2017, 1, 1), born), P.SNAPSHOT, h[1:5])
        valid_until = add_years(issued, 10)
        authority = "人力资源和社会保障局"
    return {
        "license_type": license_type,
        "license_name": LICENSE_NAMES[license_type],
        "license_number": number,
        "holder_id_masked": _mask(holder, person),
        "issuing_authority": P.CITIES[city_code] + authority,
        "issuing_region": city_code,
        "issue_date": issued.isoformat(),
        "valid_from": (valid_from or issued).isoformat(),
        "valid_until": valid_until.isoformat() if valid_until else None,
        "status": "valid" if valid_until is None or valid_until >= P.SNAPSHOT else "expired",
    }


def lookup(payload: dict) -> dict:
    """Find the holder's licence of the given type in the sample registry."""
    license_type, holder = payload["license_type"], payload["holder_id"].strip().upper()
    person = id_problem(holder) is None
    if not person and credit_code_problem(holder) is not None:
        return _miss("invalid_holder_id")
    if (license_type in PERSON_ONLY and not person) or (
            license_type == "business_license" and (person or not is_enterprise_code(holder))):
        return _miss("holder_type_mismatch")
    seed = f"{P.CODE}|{license_type}|{holder}".encode("utf-8")
    record = _record(license_type, holder, person, hashlib.sha256(seed).digest())
    if isinstance(record, str):
        return _miss(record)
    return {"found": True, "license": record, "registry": "deterministic-sample",
            "registry_snapshot": P.SNAPSHOT.isoformat(), "issuing_platform": P.PLATFORM}


def _verify_number(license_type: str, number: str) -> tuple[str | None, dict]:
    """(problem or None, decoded details) for one licence number."""
    if license_type in ("driving_license", "social_security_card"):
        problem = id_problem(number)
        return problem, {} if problem else {"region_code": number[:6]}
    if license_type == "business_license":
        problem = credit_code_problem(number) or (None if is_enterprise_code(number) else "invalid_format")
        if problem is None and number[2:4] != P.CODE:
            problem = "issued_by_other_province"
        return problem, {} if problem else {"region_code": number[2:8]}
    if license_type == "marriage_certificate":
        match = MARRIAGE_NUMBER.fullmatch(number)
        if not match:
            return "invalid_format", {}
        region, year, serial = match.groups()
        if region[:2] != P.CODE:
            return "issued_by_other_province", {}
        if not 1950 <= int(year) <= P.SNAPSHOT.year:  # 1950: the first Marriage Law
            return "invalid_date", {}
        return None, {"region_code": region, "year": int(year), "serial": serial}
    match = REAL_ESTATE_NUMBER.fullmatch(number)
    if not match or match.group(1) not in PROVINCE_SHORTS:
        return "invalid_format", {}
    short, year, place, serial = match.groups()
    if short != P.SHORT:
        return "issued_by_other_province", {}
    if not UNIFIED_REGISTRATION.year <= int(year) <= P.SNAPSHOT.year:
        return "invalid_date", {}
    return None, {"year": int(year), "place": place, "serial": serial}


def verify(payload: dict) -> dict:
    """Check a licence number's format and check digit under this province's scheme."""
    license_type = payload["license_type"]
    number = payload["license_number"].strip()
    if license_type in ("business_license", "driving_license", "social_security_card"):
        number = number.upper()
    problem, details = _verify_number(license_type, number)
    result = {"valid": problem is None, "license_type": license_type,
              "license_name": LICENSE_NAMES[license_type], "province": P.NAME, "details": details}
    if problem:
        result["reason"] = problem
    return result
