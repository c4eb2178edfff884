"""Unified social credit code (统一社会信用代码), GB 32100-2015.

Layout of the 18 characters:
position 1 registration authority (登记管理部门), 2 organisation type
(机构类别), 3-8 administrative division of the registering office (GB/T 2260),
9-17 subject identifier (主体标识码, an organisation code per GB 11714 with its
own check digit at position 17), 18 check character over positions 1-17.
"""
from __future__ import annotations

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714-1997 organisation code

# Registration authority code → (name, {organisation type code → name}), GB 32100-2015 annex.
AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": ("司法行政", {"1": "律师执业机构", "2": "公证处", "3": "基层法律服务所", "4": "司法鉴定机构",
                    "5": "仲裁委员会", "9": "其他"}),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": ("旅游", {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"}),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("市场监督管理（原工商）", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": ("农业农村", {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}),
    "Y": ("其他", {"1": "其他"}),
}

PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}


def check_character(first17: str) -> str:
    """Return the GB 32100 check character for 17 code characters."""
    total = sum(CHARSET.index(ch) * w for ch, w in zip(first17, WEIGHTS))
    value = 31 - total % 31
    return CHARSET[0 if value == 31 else value]


def organization_check_digit(body8: str) -> str:
    """Return the GB 11714 check digit of an 8-character organisation code body."""
    total = sum((int(ch) if ch.isdigit() else ord(ch) - 55) * w for ch, w in zip(body8, ORG_WEIGHTS))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def analyse(raw: str) -> dict:
    """Validate a credit code and describe its parts; never raises for bad input."""
    code = raw.strip().upper()
    result: dict = {"credit_code": code, "valid": False}
    if len(code) != 18:
        result["reason"] = "invalid_length"
        return result
    bad = [ch for ch in code if ch not in CHARSET]
    if bad:
        result["reason"] = "invalid_characters"
        return result
    authority = AUTHORITIES.get(code[0])
    if authority is None:
        result["reason"] = "unknown_registration_authority"
        return result
    region = code[2:8]
    result.update(
        registration_authority={"code": code[0], "name": authority[0]},
        organization_type={"code": code[1], "name": authority[1].get(code[1], "未定义")},
        region_code=region,
        province=PROVINCES.get(region[:2], ""),
        organization_code=f"{code[8:16]}-{code[16]}",
        organization_code_valid=organization_check_digit(code[8:16]) == code[16],
        check_character=code[17],
        expected_check_character=check_character(code[:17]),
    )
    if code[1] not in authority[1]:
        result["reason"] = "unknown_organization_type"
    elif not region.isdigit() or region[:2] not in PROVINCES:
        result["reason"] = "invalid_region_code"
    elif result["expected_check_character"] != code[17]:
        result["reason"] = "checksum_mismatch"
    else:
        result["valid"] = True
    return result
