"""The worked example of README.md (Settlement): three cities, four modules, October 2026.

Publishers 浙江省 (330000) and 广东省 (440000); adopters 深圳市 (440300),
杭州市 (330100) and 上海市 (310000); platform fee 100 bps (1 %).
"""
from __future__ import annotations

FEE_BPS = 100
PERIOD = "2026-10"

FREE = {"kind": "free"}
TRANSFER = {"kind": "transfer", "currency": "CNY", "fee": "12000.00"}
PAY_PER_USE = {"kind": "pay_per_use", "currency": "CNY", "model": "graduated",
               "tiers": [{"up_to": 10000, "unit_price": "0.05"}, {"unit_price": "0.02"}],
               "free_units": 1000, "cap": "5000.00"}
COST_SHARE = {"kind": "cost_share", "currency": "CNY", "period_cost": "10000.00", "basis": "usage"}


def build(market) -> dict[str, int]:
    """Create the modules, installations and usage of the example; returns installation ids."""
    faq = market.module("policy-faq", "330000", FREE)
    archive = market.module("archive-system", "330000", TRANSFER)
    registration = market.module("enterprise-registration", "440000", PAY_PER_USE)
    insurance = market.module("social-insurance-query", "440000", COST_SHARE)
    ids = {
        "faq@440300": market.install(faq, "440300"),
        "faq@310000": market.install(faq, "310000"),
        "archive@440300": market.install(archive, "440300", created="2026-10-08T09:30:00+08:00"),
        "archive@330100": market.install(archive, "330100", created="2026-09-15T14:00:00+08:00"),
        "registration@440300": market.install(registration, "440300"),
        "registration@330100": market.install(registration, "330100"),
        "registration@310000": market.install(registration, "310000"),
        "insurance@440300": market.install(insurance, "440300"),
        "insurance@330100": market.install(insurance, "330100"),
        "insurance@310000": market.install(insurance, "310000"),
    }
    market.usage(ids["faq@440300"], 50, count=100)                 # U = 5,000
    market.usage(ids["faq@310000"], 12, count=100)                 # U = 1,200
    market.usage(ids["archive@440300"], 7, count=10)               # U = 70 (shown, never charged)
    market.usage(ids["archive@330100"], 40)                        # U = 40
    market.usage(ids["registration@440300"], 1000, count=11)       # 11,000 …
    market.usage(ids["registration@440300"], 1000, at="2026-10-01T00:30:00+08:00")  # … +1,000 = 12,000
    market.usage(ids["registration@440300"], 500, at="2026-09-30T23:30:00+08:00")   # September: not counted
    market.usage(ids["registration@440300"], 900, status="error", count=3)          # failed: not billed
    market.usage(ids["registration@330100"], 30000, count=10)      # U = 300,000
    market.usage(ids["registration@330100"], 100, at="2026-11-01T00:10:00+08:00")  # November
    market.usage(ids["registration@310000"], 800)                  # U = 800 (< free units)
    market.usage(ids["insurance@440300"], 2000)                    # U = 2,000
    market.usage(ids["insurance@330100"], 3000)                    # U = 3,000
    market.usage(ids["insurance@310000"], 1000)                    # U = 1,000
    market.usage(ids["insurance@310000"], 5000, status="rejected")  # rejected: not billed
    return ids


SHENZHEN = {
    "jurisdiction": "440300", "period": PERIOD, "currency": "CNY",
    "charges": [
        {"module": "archive-system", "kind": "transfer", "units": 70, "amount": "12000.00"},
        {"module": "enterprise-registration", "kind": "pay_per_use", "units": 12000, "amount": "520.00"},
        {"module": "policy-faq", "kind": "free", "units": 5000, "amount": "0.00"},
        {"module": "social-insurance-query", "kind": "cost_share", "units": 2000, "amount": "3333.33"},
    ],
    "earnings": [],
    "total_charges": "15853.33", "total_earnings": "0.00", "net": "-15853.33",
}
HANGZHOU_CHARGES = [
    {"module": "archive-system", "kind": "transfer", "units": 40, "amount": "0.00"},
    {"module": "enterprise-registration", "kind": "pay_per_use", "units": 300000, "amount": "5000.00"},
    {"module": "social-insurance-query", "kind": "cost_share", "units": 3000, "amount": "5000.00"},
]
SHANGHAI_CHARGES = [
    {"module": "enterprise-registration", "kind": "pay_per_use", "units": 800, "amount": "0.00"},
    {"module": "policy-faq", "kind": "free", "units": 1200, "amount": "0.00"},
    {"module": "social-insurance-query", "kind": "cost_share", "units": 1000, "amount": "1666.67"},
]
ZHEJIANG_EARNINGS = [
    {"module": "archive-system", "adopter": "330100", "amount": "0.00", "fee": "0.00", "owner_share_bps": 10000},
    {"module": "archive-system", "adopter": "440300", "amount": "11880.00", "fee": "120.00", "owner_share_bps": 10000},
    {"module": "policy-faq", "adopter": "310000", "amount": "0.00", "fee": "0.00", "owner_share_bps": 10000},
    {"module": "policy-faq", "adopter": "440300", "amount": "0.00", "fee": "0.00", "owner_share_bps": 10000},
]
GUANGDONG_EARNINGS = [
    {"module": "enterprise-registration", "adopter": "310000", "amount": "0.00", "fee": "0.00", "owner_share_bps": 10000},
    {"module": "enterprise-registration", "adopter": "330100", "amount": "4950.00", "fee": "50.00", "owner_share_bps": 10000},
    {"module": "enterprise-registration", "adopter": "440300", "amount": "514.80", "fee": "5.20", "owner_share_bps": 10000},
    {"module": "social-insurance-query", "adopter": "310000", "amount": "1650.00", "fee": "16.67", "owner_share_bps": 10000},
    {"module": "social-insurance-query", "adopter": "330100", "amount": "4950.00", "fee": "50.00", "owner_share_bps": 10000},
    {"module": "social-insurance-query", "adopter": "440300", "amount": "3300.00", "fee": "33.33", "owner_share_bps": 10000},
]
#: (total_charges, total_earnings, net) per jurisdiction
TOTALS = {
    "310000": ("1666.67", "0.00", "-1666.67"),
    "330000": ("0.00", "11880.00", "11880.00"),
    "330100": ("10000.00", "0.00", "-10000.00"),
    "440000": ("0.00", "15364.80", "15364.80"),
    "440300": ("15853.33", "0.00", "-15853.33"),
}
PERIOD_TOTALS = {"charges": "27520.00", "earnings": "27244.80", "fees": "275.20"}
