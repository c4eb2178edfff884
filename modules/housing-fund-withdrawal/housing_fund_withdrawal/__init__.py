"""公积金提取: decide whether and how much housing provident fund an employee may withdraw.

Rules: 《住房公积金管理条例》 art. 24 lists the six grounds for withdrawal;
grounds (二) retirement, (三) disability with the end of employment and
(四) emigration withdraw the whole balance and close the account.
住房城乡建设部 财政部 人民银行《关于放宽提取住房公积金支付房租条件的通知》
(建金〔2015〕19号): renting needs three consecutive months of full deposits and
no home of one's own in the city; the monthly amount is limited locally
(``context.config["rent_monthly_cap"]``, default CNY 2,000.00).
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from marketplace.sdk import ModuleError, hookimpl

FEN = Decimal("0.01")
DEFAULT_RENT_CAP = "2000.00"
CLOSING_REASONS = {"retirement", "disability", "emigration"}
LEGAL_BASIS = {
    "purchase_house": "《住房公积金管理条例》第二十四条第一款第（一）项",
    "build_or_renovate": "《住房公积金管理条例》第二十四条第一款第（一）项",
    "retirement": "《住房公积金管理条例》第二十四条第一款第（二）项",
    "disability": "《住房公积金管理条例》第二十四条第一款第（三）项",
    "emigration": "《住房公积金管理条例》第二十四条第一款第（四）项",
    "loan_repayment": "《住房公积金管理条例》第二十四条第一款第（五）项",
    "rent": "《住房公积金管理条例》第二十四条第一款第（六）项；建金〔2015〕19号",
}
DOCUMENTS = {
    "purchase_house": ["身份证件", "购房合同或不动产权证书", "购房款发票或付款凭证"],
    "build_or_renovate": ["身份证件", "建造、翻建、大修审批文件", "工程预算或费用凭证"],
    "retirement": ["身份证件", "退休证明"],
    "disability": ["身份证件", "劳动能力鉴定结论", "终止劳动关系证明"],
    "emigration": ["身份证件", "出境定居证明（注销户口证明）"],
    "loan_repayment": ["身份证件", "购房借款合同", "还款明细"],
    "rent": ["身份证件", "无房声明（个人承诺）", "住房租赁合同或租赁备案"],
}


def money(value: Decimal) -> str:
    """Decimal string rounded to the fen, half up."""
    return str(value.quantize(FEN, ROUND_HALF_UP))


def _need(payload: dict, key: str):
    if key not in payload:
        raise ModuleError("missing_field", f"提取原因 {payload['reason']} 须提供 {key}")
    return payload[key]


def _rent_cap(config) -> Decimal:
    cap = Decimal(str(config.get("rent_monthly_cap", DEFAULT_RENT_CAP)))
    if cap < 0:
        raise ModuleError("invalid_config", "rent_monthly_cap 不能为负数")
    return cap


def assess(payload: dict, config) -> dict:
    """The withdrawal limit for one ground, or why the employee is not eligible."""
    reason = payload["reason"]
    balance = Decimal(payload["account_balance"])
    refusal, limit = None, balance
    if reason in ("purchase_house", "build_or_renovate"):
        limit = Decimal(_need(payload, "house_price"))
    elif reason == "loan_repayment":
        limit = Decimal(_need(payload, "loan_monthly_payment")) * _need(payload, "months")
    elif reason == "rent":
        if _need(payload, "owns_home_in_city"):
            refusal = "owns_home_in_city"
        elif payload.get("consecutive_months", 0) < 3:
            refusal = "deposits_under_three_months"
        rent = min(Decimal(_need(payload, "monthly_rent")), _rent_cap(config))
        limit = rent * _need(payload, "months")
    if refusal is None and balance <= 0:
        refusal = "no_balance"
    amount = Decimal(0) if refusal else min(balance, limit)
    result = {
        "eligible": refusal is None,
        "max_amount": money(amount),
        "remaining_balance": money(balance - amount),
        "close_account": refusal is None and reason in CLOSING_REASONS,
        "legal_basis": LEGAL_BASIS[reason],
        "documents": DOCUMENTS[reason],
    }
    if refusal:
        result["ineligible_reason"] = refusal
    return result


@hookimpl
def assess_withdrawal(payload, context):
    """Assess a housing provident fund withdrawal: eligibility, maximum amount, documents."""
    return assess(payload, context.config)
