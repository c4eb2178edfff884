"""What an agreement will cost: the settlement area's pricing applied to sample monthly usage."""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.catalog.models import Module
from marketplace.runtime.models import Installation
from marketplace.settlement import pricing

SAMPLE_UNITS = (1_000, 10_000, 100_000)


def describe(terms: Mapping, lang: str) -> str:
    """Terms in plain words (the pricing area's wording); raw kind when terms are odd."""
    try:
        return pricing.describe_terms(terms, lang)
    except (ValueError, KeyError):
        return str(terms.get("kind", ""))


def estimate(session: Session, module: Module, terms: Mapping, units: int | None = None) -> dict[str, Any]:
    """Sample monthly charges: ``rows`` of (units or label, minor), plus the currency and kind."""
    kind, currency = terms.get("kind", "free"), terms.get("currency", "CNY")
    rows: list[dict[str, Any]] = []
    if kind == "pay_per_use":
        levels = sorted({*SAMPLE_UNITS, *([units] if units and units > 0 else [])})
        rows = [{"units": n, "minor": pricing.price_usage(terms, n), "per": "month"} for n in levels]
    elif kind == "transfer":
        rows = [{"units": None, "minor": pricing.transfer_fee(terms), "per": "once"}]
    elif kind == "cost_share":
        adopters = session.scalar(sa.select(sa.func.count()).select_from(Installation).where(
            Installation.module_id == module.id, Installation.state == "active")) or 0
        n = adopters + 1  # the existing adopters and you, using it alike
        split = pricing.cost_share(terms, [(f"{i:06d}", i, 1) for i in range(n)])
        rows = [{"units": None, "minor": max(split.values()),
                 "per": "month", "adopters": n}]
    else:
        rows = [{"units": None, "minor": 0, "per": "month"}]
    return {"kind": kind, "currency": currency, "rows": rows}
