"""Rules of the 企业开办一件事 application: name, legal representative, capital, scope.

Sources: 《企业名称登记管理规定》(2020) and its 实施办法 (2023), 《公司法》(2023
revision, art. 47: 有限责任公司 shareholders pay in full within five years),
《合伙企业法》 arts. 15 and 62, and the 经营范围规范表述 catalogue (许可项目).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal

from marketplace.sdk import ModuleError

from .credit_code import PROVINCES

NAME_FORMS = {
    "有限责任公司": ("有限责任公司", "有限公司"),
    "股份有限公司": ("股份有限公司", "股份公司"),
    "合伙企业": ("（普通合伙）", "（有限合伙）", "（特殊普通合伙）"),
    "个人独资企业": (),
}
# 字词须报国务院批准 (名称规定 art. 12) and names no enterprise may use (art. 11).
NEEDS_STATE_COUNCIL = ("中国", "中华", "中央", "全国", "国家")
FORBIDDEN_WORDS = ("共产党", "人民政府", "国务院", "解放军", "武警")

# 一件事 checklist: every item after the licence runs in parallel (并联办理).
CHECKLIST = (
    ("营业执照", "市场监督管理局", 1),
    ("公章刻制", "公安局（印章刻制备案）", 1),
    ("税务登记/发票申领", "税务局", 1),
    ("社保登记", "人力资源和社会保障局", 1),
    ("公积金登记", "住房公积金管理中心", 1),
    ("银行开户预约", "开户银行", 1),
)

# 经营范围 keywords that are 许可项目: (keyword, permit, authority).
LICENSED_SCOPES = (
    ("食品销售", "食品经营许可证", "市场监督管理局"),
    ("餐饮服务", "食品经营许可证", "市场监督管理局"),
    ("道路货物运输", "道路运输经营许可证", "交通运输局"),
    ("人力资源服务", "人力资源服务许可证", "人力资源和社会保障局"),
    ("危险化学品经营", "危险化学品经营许可证", "应急管理局"),
    ("第三类医疗器械经营", "医疗器械经营许可证", "市场监督管理局"),
    ("药品零售", "药品经营许可证", "药品监督管理局"),
    ("药品批发", "药品经营许可证", "药品监督管理局"),
    ("出版物零售", "出版物经营许可证", "新闻出版局"),
    ("建设工程施工", "建筑业企业资质证书", "住房和城乡建设局"),
    ("增值电信业务", "增值电信业务经营许可证", "通信管理局"),
    ("烟草制品零售", "烟草专卖零售许可证", "烟草专卖局"),
)

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def _issue(where: str, message: str) -> dict:
    """One problem found in the application."""
    return {"field": where, "message": message}


def _normalise_name(name: str) -> str:
    """Use full-width parentheses, as the name register does."""
    return name.strip().replace("(", "（").replace(")", "）")


def check_company_name(name: str, company_type: str) -> list[dict]:
    """Check the enterprise name against the organisation form and restricted words."""
    issues = []
    forms = NAME_FORMS[company_type]
    if company_type == "个人独资企业":
        if "公司" in name or "有限" in name:
            issues.append(_issue("company_name", "个人独资企业名称不得使用“有限”“公司”字样"))
    elif not name.endswith(forms):
        issues.append(_issue("company_name", f"{company_type}名称须以{'或'.join(forms)}结尾"))
    if company_type == "有限责任公司" and name.endswith(("股份有限公司", "股份公司")):
        issues.append(_issue("company_name", "有限责任公司名称不得使用“股份”字样"))
    for word in FORBIDDEN_WORDS:
        if word in name:
            issues.append(_issue("company_name", f"企业名称不得使用“{word}”"))
    for word in NEEDS_STATE_COUNCIL:
        if word in name:
            issues.append(_issue("company_name", f"名称冠以“{word}”须报国务院批准，不能在本事项办理"))
    if not any("\u4e00" <= ch <= "\u9fff" for ch in name):
        issues.append(_issue("company_name", "企业名称应当使用规范汉字"))
    return issues


def check_id_number(id_number: str) -> bool:
    """GB 11643-1999 check digit (ISO 7064 MOD 11-2) of an 18-character id."""
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(id_number[:17], ID_WEIGHTS))
    return ID_CHECK[total % 11] == id_number[17].upper()


def age_on(id_number: str, day: date) -> int | None:
    """Full years of age on ``day`` from the id's birth date, None if the date is invalid."""
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_legal_representative(rep: dict, applied: date | None) -> list[dict]:
    """The legal representative needs a valid id and full civil capacity (18+)."""
    id_number = rep["id_number"].upper()
    if not check_id_number(id_number):
        return [_issue("legal_representative.id_number", "居民身份号码校验码错误")]
    if id_number[:2] not in PROVINCES:
        return [_issue("legal_representative.id_number", "居民身份号码地址码无效")]
    if applied is not None:
        age = age_on(id_number, applied)
        if age is None:
            return [_issue("legal_representative.id_number", "居民身份号码出生日期无效")]
        if age < 18:
            return [_issue("legal_representative", "法定代表人须年满十八周岁")]
    return []


def check_scope(items: list[str]) -> tuple[list[dict], list[dict]]:
    """Return (issues, permits required after the licence) for the business scope."""
    issues, permits, seen = [], [], set()
    for item in items:
        text = item.strip()
        if text in seen:
            issues.append(_issue("business_scope", f"经营范围重复：{text}"))
        seen.add(text)
        for keyword, permit, authority in LICENSED_SCOPES:
            if keyword not in text:
                continue
            if "仅销售预包装食品" in text:
                # 《食品安全法》art. 35 (2021): pre-packaged food only needs a filing, not a licence.
                permits.append({"scope_item": text, "permit": "仅销售预包装食品经营者备案",
                                "authority": authority, "kind": "filing"})
            else:
                permits.append({"scope_item": text, "permit": permit, "authority": authority,
                                "kind": "licence"})
    return issues, permits


def application_id(payload: dict) -> str:
    """Deterministic id: same application, same id (safe for retries)."""
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12].upper()
    return f"QYKB-{payload['region_code']}-{digest}"


def assess(payload: dict) -> dict:
    """Validate an application; raise ModuleError listing every problem, else accept it."""
    applied = date.fromisoformat(payload["application_date"]) if "application_date" in payload else None
    name = _normalise_name(payload["company_name"])
    company_type = payload["company_type"]
    issues = check_company_name(name, company_type)
    issues += check_legal_representative(payload["legal_representative"], applied)
    capital = Decimal(payload["registered_capital"])
    if capital <= 0:
        issues.append(_issue("registered_capital", "注册资本（出资额）必须大于零"))
    if payload["region_code"][:2] not in PROVINCES:
        issues.append(_issue("region_code", "行政区划代码无效"))
    scope_issues, permits = check_scope(payload["business_scope"])
    issues += scope_issues
    if issues:
        raise ModuleError("invalid_application", "；".join(f"{i['field']}: {i['message']}" for i in issues))
    want_bank = payload.get("need_bank_account", True)
    checklist = [
        {"item": item, "authority": authority, "time_limit_working_days": days, "status": "pending"}
        for item, authority, days in CHECKLIST
        if want_bank or item != "银行开户预约"
    ]
    result = {
        "application_id": application_id(payload),
        "status": "accepted",
        "company_name": name,
        "company_type": company_type,
        "registered_capital": f"{capital:.2f}",
        "checklist": checklist,
        "permits_required": permits,
        "total_time_limit_working_days": checklist[0]["time_limit_working_days"]
        + max(c["time_limit_working_days"] for c in checklist[1:]),
    }
    if applied is not None and company_type == "有限责任公司":
        try:
            deadline = applied.replace(year=applied.year + 5)
        except ValueError:  # 29 February
            deadline = applied.replace(year=applied.year + 5, day=28)
        result["capital_contribution_deadline"] = deadline.isoformat()
    return result
