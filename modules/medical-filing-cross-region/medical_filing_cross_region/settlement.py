"""Estimate the fund's share of one visit under a cross-region filing (直接结算测算)."""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from marketplace.sdk import ModuleError

from .rules import ratio_reduction

FEN = Decimal("0.01")


def coverage_problem(payload: dict, visit: date) -> str | None:
    """Why the filing does not cover the visit date, or None when it does."""
    if visit < date.fromisoformat(payload["valid_from"]):
        return "before_filing"
    if payload.get("valid_until") and visit > date.fromisoformat(payload["valid_until"]):
        return "filing_expired"
    if payload.get("cancelled_on") and visit >= date.fromisoformat(payload["cancelled_on"]):
        return "filing_cancelled"
    return None


def estimate(payload: dict, config) -> dict:
    """Fund payment = (eligible − deductible) × adjusted ratio, capped; the rest is self-paid."""
    total = Decimal(payload["total_expense"])
    eligible = Decimal(payload["eligible_expense"])
    deductible = Decimal(payload.get("deductible", "0"))
    if eligible > total:
        raise ModuleError("invalid_expense", "政策范围内费用不能大于医疗总费用")
    points = ratio_reduction(payload["filing_type"], config)
    ratio = max(0, payload["base_ratio_percent"] - points)
    problem = coverage_problem(payload, date.fromisoformat(payload["visit_date"]))
    fund = Decimal(0)
    if problem is None:
        fund = (max(Decimal(0), eligible - deductible) * ratio / 100).quantize(FEN, ROUND_HALF_UP)
        if payload.get("remaining_cap") is not None:
            fund = min(fund, Decimal(payload["remaining_cap"]))
    result = {
        "covered": problem is None,
        "effective_ratio_percent": ratio,
        "fund_payment": f"{fund:.2f}",
        "self_payment": f"{total - fund:.2f}",
    }
    if problem:
        result["reason"] = problem
    return result
