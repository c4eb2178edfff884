"""Rules of 异地就医备案 (cross-region medical treatment filing).

Source: 国家医保局、财政部《关于进一步做好基本医疗保险跨省异地就医直接结算工作的通知》
(医保发〔2022〕22号):
* 异地长期居住人员 (异地安置退休、异地长期居住、常驻异地工作) file once; the
  filing stays valid until cancelled, and may not be changed or cancelled within
  six months of filing (参保地可设置时限, 原则上6个月);
* 临时外出就医人员 (异地转诊、其他临时外出就医) get a filing valid for six months;
* the insured region may lower the reimbursement ratio for temporary cases:
  referrals by at most 10 percentage points, other temporary cases by at most 20;
* 就医地目录、参保地政策: the destination's drug and service catalogue, the insured
  region's deductible, ratio and cap.

Periods are counted as 《民法典》 arts. 201-202 count them: the first day is not
counted and a six-month period ends on the corresponding day of the sixth month
(the month's last day when that month has no such day).
"""
from __future__ import annotations

import calendar
import hashlib
from datetime import date, timedelta

from marketplace.sdk import ModuleError

LONG_TERM = ("异地长期居住", "常驻异地工作")
TEMPORARY = ("异地转诊", "临时外出就医")
# filing type → (policy ceiling of the ratio reduction in percentage points, config key)
REDUCTION_CEILING = {"异地长期居住": 0, "常驻异地工作": 0, "异地转诊": 10, "临时外出就医": 20}
CONFIG_KEYS = {"异地转诊": "referral_reduction_points", "临时外出就医": "temporary_reduction_points"}
DOCUMENTS = {
    "异地长期居住": ["有效身份证件或医保电子凭证", "异地居住证明（户籍或居住证）或个人承诺书"],
    "常驻异地工作": ["有效身份证件或医保电子凭证", "异地工作证明（单位派出或劳动合同）或个人承诺书"],
    "异地转诊": ["有效身份证件或医保电子凭证", "参保地定点医疗机构开具的转诊转院证明"],
    "临时外出就医": ["有效身份证件或医保电子凭证", "个人承诺书"],
}
MUNICIPALITIES = ("11", "12", "31", "50")  # one pooling region per municipality
PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
}
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the end of a shorter month."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def pooling_region(code: str) -> str:
    """The 统筹区 of a division code: the city (4 digits), or the whole municipality."""
    return code[:2] if code[:2] in MUNICIPALITIES else code[:4]


def check_region(field: str, code: str) -> None:
    """Refuse a code whose province part is not a real province-level division."""
    if code[:2] not in PROVINCES:
        raise ModuleError("invalid_region", f"{field}: 行政区划代码 {code} 无效")


def check_insured_id(number: str) -> str:
    """Return the normalised id number, or refuse it when its check digit is wrong."""
    number = number.upper()
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS))
    if ID_CHECK[total % 11] != number[17]:
        raise ModuleError("invalid_insured_id", "参保人身份号码校验码错误")
    return number


def ratio_reduction(filing_type: str, config) -> int:
    """Percentage points the ratio drops for this filing type, from config within the ceiling."""
    ceiling = REDUCTION_CEILING[filing_type]
    key = CONFIG_KEYS.get(filing_type)
    points = ceiling if key is None else config.get(key, ceiling)
    if not isinstance(points, int) or not 0 <= points <= ceiling:
        raise ModuleError("invalid_config", f"{key} 须为 0 至 {ceiling} 之间的整数（医保发〔2022〕22号）")
    return points


def filing_id(insured_id: str, insured_region: str, destination: str, kind: str, start: str) -> str:
    """Deterministic filing number: the same filing always gets the same id."""
    key = "|".join((insured_id, insured_region, destination, kind, start))
    return f"YDBA-{insured_region}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12].upper()}"


def file_record(payload: dict, config) -> dict:
    """Accept a filing; return its id, validity window and ratio adjustment."""
    insured_id = check_insured_id(payload["insured_id"])
    insured, destination = payload["insured_region"], payload["destination_region"]
    check_region("insured_region", insured)
    check_region("destination_region", destination)
    if pooling_region(insured) == pooling_region(destination):
        raise ModuleError("same_pooling_region", "就医地与参保地属同一统筹区，无需办理异地就医备案")
    kind = payload["filing_type"]
    start = date.fromisoformat(payload["start_date"])
    long_term = kind in LONG_TERM
    six_months = add_months(start, 6)
    return {
        "filing_id": filing_id(insured_id, insured, destination, kind, payload["start_date"]),
        "status": "filed",
        "insured_id_masked": insured_id[:6] + "********" + insured_id[-4:],
        "filing_type": kind,
        "category": "异地长期居住人员" if long_term else "临时外出就医人员",
        "scope": "跨省" if insured[:2] != destination[:2] else "省内跨市",
        "valid_from": start.isoformat(),
        "valid_until": None if long_term else six_months.isoformat(),
        "change_allowed_from": (six_months + timedelta(days=1) if long_term else start).isoformat(),
        "reimbursement_ratio_adjustment_points": -ratio_reduction(kind, config),
        "policy": "就医地目录、参保地政策：起付标准、支付比例、最高支付限额执行参保地规定",
        "documents": DOCUMENTS[kind],
    }
