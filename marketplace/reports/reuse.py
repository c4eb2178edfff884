"""The reuse report (DESIGN §13, 考核指标): what co-building and reuse earned and saved in a year.

Rules, stated once:

* The year's money is what its **settled** months (``YYYY-01`` … ``YYYY-12``, closed
  periods) wrote: earnings are the owners' parts (``charge_shares``), charges the
  adopters' lines, in the home currency (CNY) only; a line in another currency is
  left out and counted in ``other_currency_lines``.
* A module counts in a year when a version of it was published (approved, or
  uploaded without review) before the year ended; a later year's modules are not
  in an earlier year's report.
* Owners and build cost are those **in force at the reference period**: the year's
  December, or the current month while the year runs (a module without
  ownership decisions: its publisher, 10,000 bps, build cost 0).
* A module's **adopters** are the distinct jurisdictions with an installation of
  it active at some instant of the year (an owner that adopts counts); construction
  avoided = build cost × adopters that are not owners (jurisdiction codes compared
  whole: a city of an owning province is another jurisdiction).
* Per jurisdiction: modules owned (count, and Σ shares as modules "by share"),
  distinct **other** jurisdictions adopting them, its earnings and its charges.
"""
from __future__ import annotations

import io
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace import csvsafe
from marketplace.accounts.models import Jurisdiction
from marketplace.catalog.models import Module, ModuleVersion
from marketplace.clock import now, period_bounds, period_of
from marketplace.errors import MarketplaceError
from marketplace.governance.models import ChargeShare, Ownership
from marketplace.governance.shares import FULL_SHARE, owners_for_period
from marketplace.money import format_amount
from marketplace.runtime.models import Installation
from marketplace.settlement.models import Charge, Period
from marketplace.settlement.rules import HOME_CURRENCY

YEAR = re.compile(r"2[0-9]{3}")
CSV_COLUMNS = ("section", "key", "name", "modules_owned", "modules_owned_by_share",
               "adopting_jurisdictions", "adopters", "adopters_not_owners", "build_cost",
               "recovered", "construction_avoided", "earnings", "charges")


class ReportError(MarketplaceError):
    """A report that cannot be made from what was asked (400)."""


def check_year(text: str | None) -> int:
    """The year asked for (absent: the current one), or 400 ``invalid_year``; 2000–2999 only."""
    if text is None:
        return int(period_of(now())[:4])
    if not isinstance(text, str) or not YEAR.fullmatch(text):
        raise ReportError("invalid_year", "year must be four digits from 2000 to 2999, e.g. "
                          "?year=2026", details=[{"where": "query.year", "message": "not a year"}])
    return int(text)


def reference_period(year: int) -> str:
    """The month whose owners and build cost the report uses: December, or now within the year."""
    current = period_of(now())
    return min(f"{year}-12", max(f"{year}-01", current))


def _adopters(session: Session, year: int) -> dict[int, set[str]]:
    """Per module id, the jurisdictions with an installation active at some instant of ``year``."""
    start, end = period_bounds(f"{year}-01")[0], period_bounds(f"{year}-12")[1]
    rows = session.execute(sa.select(Installation.module_id, Installation.jurisdiction_code)
                           .where(Installation.created_at < end,
                                  sa.or_(Installation.ended_at.is_(None), Installation.ended_at > start))
                           .distinct())
    found: dict[int, set[str]] = defaultdict(set)
    for module_id, code in rows:
        found[module_id].add(code)
    return found


def _build_costs(session: Session, module_ids: list[int], period: str) -> dict[int, int]:
    """Per module, the build cost of its newest ownership decision effective by ``period``."""
    rows = session.execute(sa.select(Ownership.module_id, Ownership.build_cost_minor)
                           .where(Ownership.module_id.in_(module_ids),
                                  Ownership.effective_period <= period)
                           .order_by(Ownership.module_id, Ownership.effective_period, Ownership.id))
    return {module_id: cost for module_id, cost in rows}  # the last per module wins


def _settled(session: Session, year: int) -> list[str]:
    """The closed periods of ``year``, in order."""
    return list(session.scalars(sa.select(Period.period).where(
        Period.state == "closed", Period.period.between(f"{year}-01", f"{year}-12"))
        .order_by(Period.period)))


def _money(session: Session, periods: list[str]) -> tuple[dict, dict, dict, int]:
    """(earnings by owner, recovered by module name, charges by adopter, lines in another currency)."""
    if not periods:
        return {}, {}, {}, 0
    in_year, home = Charge.period.in_(periods), Charge.currency == HOME_CURRENCY
    shares = session.execute(sa.select(ChargeShare.owner_code, Charge.module_name,
                                       sa.func.sum(ChargeShare.earnings_minor))
                             .join(Charge, Charge.id == ChargeShare.charge_id)
                             .where(ChargeShare.period.in_(periods), home)
                             .group_by(ChargeShare.owner_code, Charge.module_name)).all()
    earnings: dict[str, int] = defaultdict(int)
    recovered: dict[str, int] = defaultdict(int)
    for owner, module, minor in shares:
        earnings[owner] += int(minor)
        recovered[module] += int(minor)
    charges = {code: int(minor) for code, minor in session.execute(
        sa.select(Charge.adopter_code, sa.func.sum(Charge.amount_minor))
        .where(in_year, home).group_by(Charge.adopter_code))}
    other = session.scalar(sa.select(sa.func.count()).select_from(Charge)
                           .where(in_year, Charge.currency != HOME_CURRENCY)) or 0
    return earnings, recovered, charges, int(other)


def _modules(session: Session, year: int) -> list[Any]:
    """Every module with a version published by the end of ``year``: (id, name, publisher_code,
    title of the newest version published by then)."""
    end = period_bounds(f"{year}-12")[1]
    published_at = sa.func.coalesce(ModuleVersion.reviewed_at, ModuleVersion.created_at)
    titles = dict(session.execute(sa.select(ModuleVersion.module_id, ModuleVersion.title)
                                  .where(ModuleVersion.state == "published", published_at < end)
                                  .order_by(ModuleVersion.module_id, ModuleVersion.id)).all())
    rows = session.execute(sa.select(Module.id, Module.name, Module.publisher_code)
                           .where(Module.id.in_(list(titles))).order_by(Module.name)).all()
    return [(mid, name, publisher, titles[mid]) for mid, name, publisher in rows]


def _by_share(bps: int) -> str:
    """Σ shares in basis points as modules: 14,000 bps → "1.4000" (exact, four places)."""
    return str((Decimal(bps) / FULL_SHARE).quantize(Decimal("0.0001")))


def compute(session: Session, year: int) -> dict[str, Any]:
    """The reuse report of ``year`` with amounts in minor units (rules in the module docstring)."""
    ref, periods = reference_period(year), _settled(session, year)
    modules = _modules(session, year)
    owners = owners_for_period(session, {mid: publisher for mid, _, publisher, _ in modules}, ref)
    costs = _build_costs(session, [mid for mid, *_ in modules], ref)
    adopters = _adopters(session, year)
    earnings, recovered, charges, other = _money(session, periods)
    owned: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "bps": 0, "adopting": set()})
    module_rows = []
    for mid, name, _, title in modules:
        users, codes = adopters.get(mid, set()), {code for code, _ in owners[mid]}
        for code, bps in owners[mid]:
            owned[code]["count"] += 1
            owned[code]["bps"] += bps
            owned[code]["adopting"] |= users - {code}
        module_rows.append({
            "module": name, "title": title,
            "owners": [{"code": code, "share_bps": bps} for code, bps in owners[mid]],
            "adopters": len(users), "adopters_not_owners": len(users - codes),
            "build_cost": costs.get(mid, 0), "recovered": recovered.get(name, 0),
            "construction_avoided": costs.get(mid, 0) * len(users - codes)})
    codes = sorted(set(owned) | set(earnings) | set(charges))
    names = dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name)
                                 .where(Jurisdiction.code.in_(codes))).all()) if codes else {}
    return {
        "year": year, "currency": HOME_CURRENCY, "owners_as_of": ref, "settled_periods": periods,
        "jurisdictions": [{
            "code": code, "name": names.get(code, ""), "modules_owned": owned[code]["count"],
            "modules_owned_by_share": _by_share(owned[code]["bps"]),
            "adopting_jurisdictions": len(owned[code]["adopting"]),
            "earnings": earnings.get(code, 0), "charges": charges.get(code, 0)} for code in codes],
        "modules": module_rows,
        "totals": {key: sum(m[key] for m in module_rows)
                   for key in ("build_cost", "recovered", "construction_avoided")},
        "other_currency_lines": other,
    }


MONEY = ("build_cost", "recovered", "construction_avoided", "earnings", "charges")


def reuse_report(session: Session, year: int) -> dict[str, Any]:
    """The reuse report of ``year`` as the API answers it: amounts as strings like "1200000.00"."""
    report = compute(session, year)
    cur = report["currency"]

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        return {k: format_amount(v, cur) if k in MONEY else v for k, v in row.items()}
    return {**report, "jurisdictions": [shown(j) for j in report["jurisdictions"]],
            "modules": [shown(m) for m in report["modules"]], "totals": shown(report["totals"])}


def reuse_csv(report: dict[str, Any]) -> str:
    """The report as CSV: one row per jurisdiction, then per module, then the totals."""
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for j in report["jurisdictions"]:
        writer.writerow(("jurisdiction", j["code"], j["name"], j["modules_owned"],
                         j["modules_owned_by_share"], j["adopting_jurisdictions"], "", "", "", "", "",
                         j["earnings"], j["charges"]))
    for m in report["modules"]:
        writer.writerow(("module", m["module"], m["title"], "", "", "", m["adopters"],
                         m["adopters_not_owners"], m["build_cost"], m["recovered"],
                         m["construction_avoided"], "", ""))
    t = report["totals"]
    writer.writerow(("total", report["year"], report["currency"], "", "", "", "", "", t["build_cost"],
                     t["recovered"], t["construction_avoided"], "", ""))
    return out.getvalue()
