"""Pension transfer arithmetic of 《城镇企业职工基本养老保险关系转移接续暂行办法》(国办发〔2009〕66号).

* 第四条: the individual account moves in full; the pooled fund moves 12% of the
  actual contribution wages from January 1998 on (months, if under a year);
* 第六条: where benefits are claimed: the hukou region when the insurance is
  there; else the current region after 10 years (120 months) of contributions
  there; else the most recent earlier region with 10 years; else the hukou region;
* concurrent contributions in two places count once; the other months are
  refunded (清退) by the region that collected them;
* 国发〔2005〕38号: the individual account took 11% of the wage before 2006 and
  8% from 2006, used only to estimate the account when no balance is given.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from marketplace.sdk import ModuleError

FEN = Decimal("0.01")
POOLED_RATE = Decimal("0.12")
POOLED_FROM = 1998 * 12  # month index of 1998-01
EIGHT_PERCENT_FROM = 2006 * 12
MUNICIPALITIES = ("11", "12", "31", "50")
TEN_YEARS = 120


def month_index(text: str) -> int:
    """'YYYY-MM' → months since year 0 (so consecutive months differ by one)."""
    year, month = int(text[:4]), int(text[5:7])
    return year * 12 + month - 1


def month_text(index: int) -> str:
    """Inverse of :func:`month_index`."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def pooling_region(code: str) -> str:
    """A city's 4-digit prefix, or the 2-digit prefix of a municipality."""
    return code[:2] if code[:2] in MUNICIPALITIES else code[:4]


def money(value: Decimal) -> str:
    """A decimal string rounded to the fen, half up."""
    return str(value.quantize(FEN, ROUND_HALF_UP))


def assign_months(segments: list[dict]) -> tuple[dict[int, int], list[dict]]:
    """Give each calendar month to one segment: the one that started first (then listed first).

    Returns (month → segment index, duplicate periods dropped from later segments).
    """
    owner: dict[int, int] = {}
    dropped: dict[int, list[int]] = {}
    order = sorted(range(len(segments)), key=lambda i: (month_index(segments[i]["from"]), i))
    for i in order:
        first, last = month_index(segments[i]["from"]), month_index(segments[i]["to"])
        if first > last:
            raise ModuleError("invalid_segment", f"segments[{i}]: from 晚于 to")
        for month in range(first, last + 1):
            if month in owner:
                dropped.setdefault(i, []).append(month)
            else:
                owner[month] = i
    duplicates = []
    for i in sorted(dropped):
        months = dropped[i]
        start = prev = months[0]
        for month in months[1:] + [None]:
            if month is not None and month == prev + 1:
                prev = month
                continue
            duplicates.append({"region": segments[i]["region"], "from": month_text(start),
                               "to": month_text(prev), "months": prev - start + 1})
            if month is not None:
                start = prev = month
    return owner, sorted(duplicates, key=lambda d: (d["from"], d["region"]))


def benefit_region(owner: dict[int, int], segments: list[dict], hukou: str | None) -> tuple[str | None, str]:
    """Apply 第六条 to find where the pension will be claimed, with the rule used."""
    months_in: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    for month, i in owner.items():
        pool = pooling_region(segments[i]["region"])
        months_in[pool] = months_in.get(pool, 0) + 1
        last_seen[pool] = max(last_seen.get(pool, month), month)
    region_of = {pooling_region(s["region"]): s["region"] for s in segments}
    current = max(last_seen, key=last_seen.get)
    if hukou and pooling_region(hukou) == current:
        return region_of[current], "hukou"
    for pool in sorted(last_seen, key=last_seen.get, reverse=True):
        if months_in[pool] >= TEN_YEARS:
            return region_of[pool], "ten_years_current" if pool == current else "ten_years_previous"
    return (hukou, "hukou_fallback") if hukou else (None, "hukou_required")


def compute(payload: dict) -> dict:
    """Merge contribution segments and compute the transferable funds."""
    segments = payload["segments"]
    owner, duplicates = assign_months(segments)
    wages = [Decimal(s["monthly_wage"]) for s in segments]
    by_region: dict[str, dict] = {}
    wage_total, account_estimate, pooled_months = Decimal(0), Decimal(0), 0
    for month in sorted(owner):
        i = owner[month]
        row = by_region.setdefault(segments[i]["region"], {
            "region": segments[i]["region"], "months": 0, "pooled_months": 0, "_wages": Decimal(0)})
        row["months"] += 1
        if month >= POOLED_FROM:
            row["pooled_months"] += 1
            row["_wages"] += wages[i]
            wage_total += wages[i]
            pooled_months += 1
            rate = Decimal("0.08") if month >= EIGHT_PERCENT_FROM else Decimal("0.11")
            account_estimate += wages[i] * rate
    for row in by_region.values():
        row["pooled_fund"] = money(row.pop("_wages") * POOLED_RATE)
    pooled = (wage_total * POOLED_RATE).quantize(FEN, ROUND_HALF_UP)
    given = payload.get("personal_account_balance")
    personal = Decimal(given) if given is not None else account_estimate.quantize(FEN, ROUND_HALF_UP)
    region, rule = benefit_region(owner, segments, payload.get("hukou_region"))
    total_months = len(owner)
    return {
        "total_months": total_months,
        "contribution_years": {"years": total_months // 12, "months": total_months % 12},
        "pooled_months": pooled_months,
        "average_monthly_wage": money(wage_total / pooled_months) if pooled_months else "0.00",
        "pooled_fund_transfer": money(pooled),
        "personal_account_transfer": money(personal),
        "personal_account_estimated": given is None,
        "total_transfer": money(pooled + personal),
        "by_region": list(by_region.values()),
        "duplicate_periods": duplicates,
        "benefit_region": region,
        "benefit_region_rule": rule,
    }
