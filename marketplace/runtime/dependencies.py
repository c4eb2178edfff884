"""What a composite needs installed (DESIGN §14): missing dependencies, the plan, required_by.

A composite's ``[[requires]]`` are satisfied for an adopter by its own active
installations: of the module named, or of any module implementing the
interface named. Installing a composite without them is refused 409
``missing_dependencies``; with ``install_dependencies`` the plan (each missing
module's newest published version and its terms, dependencies of dependencies
first) is installed in the caller's one transaction, each an agreement of its
own. An interface with several implementations needs ``choose`` (409
``choice_needed`` otherwise). Ending an installation that an active composite
still needs is refused 409 ``required_by``. Pure domain logic (no Flask).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.catalog.manifest import NAME_RE, IMPLEMENTS_RE, Requirement, requirements_of
from marketplace.catalog.models import Module, ModuleVersion
from marketplace.errors import Conflict, MarketplaceError
from marketplace.runtime.models import Installation

MAX_NESTING = 5                 # composites inside composites (publish allows 4)


def requirements(version: ModuleVersion) -> tuple[Requirement, ...]:
    """The ``[[requires]]`` of a module version (empty for a plain module)."""
    return requirements_of((version.manifest or {}).get("requires"))


def _active(session: Session, code: str) -> list[Installation]:
    return list(session.scalars(sa.select(Installation).where(
        Installation.jurisdiction_code == code, Installation.state == "active")))


def satisfies(item: Installation, requirement: Requirement) -> bool:
    """Whether an installation serves a requirement (its module, or its interface)."""
    if requirement.module:
        return item.module.name == requirement.module
    return item.module.implements == requirement.interface


def candidates(session: Session, interface: str) -> list[str]:
    """Names of the modules implementing ``interface`` with a published version, sorted."""
    return sorted(set(session.scalars(sa.select(Module.name).join(ModuleVersion).where(
        ModuleVersion.implements == interface, ModuleVersion.state == "published",
        ModuleVersion.yanked_at.is_(None)))))


def check_choose(choose: Any) -> dict[str, str]:
    """``{"interface": "module"}`` as sent, checked whole."""
    if choose is None:
        return {}
    if not isinstance(choose, dict) or len(choose) > 32 or not all(
            isinstance(k, str) and IMPLEMENTS_RE.fullmatch(k) and isinstance(v, str)
            and NAME_RE.fullmatch(v) for k, v in choose.items()):
        raise MarketplaceError("invalid_request", '"choose" maps interfaces to module names, '
                               'e.g. {"gov.e-license-lookup": "e-license-guangdong"}')
    return dict(choose)


@dataclass
class Step:
    """One installation the plan makes: a version, and the requirement it serves."""

    version: ModuleVersion
    requirement: Requirement | None          # None: the module asked for itself
    needed_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON of a planned installation (terms shown before acceptance)."""
        return {"module": self.version.module.name, "version": self.version.version,
                "title": self.version.title, "terms": self.version.terms,
                "requirement": self.requirement.to_dict() if self.requirement else None,
                "needed_by": self.needed_by or None}


@dataclass
class Plan:
    """What installing a module would do for an adopter."""

    steps: list[Step] = field(default_factory=list)            # dependencies first
    satisfied: list[tuple[Requirement, Installation, str]] = field(default_factory=list)
    choices: dict[str, list[str]] = field(default_factory=dict)    # interface → candidates
    unavailable: list[tuple[Requirement, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON of the plan, for the console and the dry run."""
        return {"installs": [s.to_dict() for s in self.steps],
                "satisfied": [{"requirement": r.to_dict(), "installation": i.id,
                               "module": i.module.name, "needed_by": by}
                              for r, i, by in self.satisfied],
                "choices_needed": self.choices,
                "unavailable": [{**r.to_dict(), "needed_by": by} for r, by in self.unavailable],
                "ready": not self.choices and not self.unavailable}


def plan(session: Session, code: str, version: ModuleVersion,
         choose: dict[str, str] | None = None) -> Plan:
    """The installations installing ``version`` for ``code`` needs, dependencies first."""
    from marketplace.runtime.service import pick_version

    choose = choose or {}
    active = _active(session, code)
    out = Plan()
    planned: dict[str, Step] = {}

    def visit(current: ModuleVersion, requirement: Requirement | None, needed_by: str,
              depth: int) -> None:
        if depth > MAX_NESTING:
            raise Conflict("too_deep", f"{current.module.name} nests composites more than "
                           f"{MAX_NESTING - 1} deep")
        for need in requirements(current):
            found = next((i for i in active if satisfies(i, need)), None)
            if found is not None:
                out.satisfied.append((need, found, current.module.name))
                continue
            names = [need.module] if need.module else candidates(session, need.interface)
            if need.interface and len(names) > 1:
                names = [choose[need.interface]] if choose.get(need.interface) in names else names
            if any(planned.get(n) for n in names):        # another step installs it already
                continue
            if not names:
                out.unavailable.append((need, current.module.name))
                continue
            if len(names) > 1:
                out.choices[need.interface] = names
                continue
            module = session.scalar(sa.select(Module).where(Module.name == names[0]))
            try:
                chosen = pick_version(session, module, None) if module else None
            except MarketplaceError:
                chosen = None
            if chosen is None:
                out.unavailable.append((need, current.module.name))
                continue
            planned[names[0]] = Step(chosen, need, current.module.name)
            visit(chosen, need, current.module.name, depth + 1)
            out.steps.append(planned[names[0]])
        if requirement is None:
            out.steps.append(Step(current, None))
    visit(version, None, "", 1)
    return out


def missing_dependencies(session: Session, code: str, version: ModuleVersion,
                         choose: dict[str, str] | None = None) -> Conflict:
    """409 ``missing_dependencies``: what is missing, and how to install it all at once."""
    found = plan(session, code, version, choose)
    missing = [{**s.requirement.to_dict(), "install": s.version.module.name,
                "version": s.version.version, "terms": s.version.terms, "needed_by": s.needed_by}
               for s in found.steps if s.requirement is not None]
    missing += [{**r.to_dict(), "needed_by": by} for r, by in found.unavailable]
    missing += [{"interface": i, "candidates": c} for i, c in found.choices.items()]
    names = ", ".join(r.target for r in requirements(version)
                      if not any(satisfies(i, r) for i in _active(session, code)))
    return Conflict("missing_dependencies", f"{version.module.name} calls {names}, not installed "
                    f"for {code}; install them first, or with it (\"install_dependencies\": "
                    "true and \"accept_terms\": true for each one's terms listed in missing; "
                    "command line: --with-dependencies)", missing=missing)


def require_satisfied(session: Session, code: str, version: ModuleVersion) -> None:
    """Refuse 409 missing_dependencies unless every requirement has an active installation."""
    needs = requirements(version)
    if not needs:
        return
    active = _active(session, code)
    if not all(any(satisfies(i, need) for i in active) for need in needs):
        raise missing_dependencies(session, code, version)


def ready(found: Plan, version: ModuleVersion) -> None:
    """Refuse a plan that cannot be installed: a choice to make, or nothing to install."""
    if found.choices:
        raise Conflict("choice_needed", "several modules implement an interface "
                       f"{version.module.name} needs; name one with \"choose\": "
                       '{"interface": "module"}', choices=found.choices)
    if found.unavailable:
        names = ", ".join(r.target for r, _ in found.unavailable)
        raise Conflict("missing_dependencies", f"no published module can serve {names}",
                       missing=[{**r.to_dict(), "needed_by": by} for r, by in found.unavailable])


def required_by(session: Session, item: Installation) -> list[str]:
    """Names of the adopter's active composites that still need ``item`` (none: may end)."""
    active = [i for i in _active(session, item.jurisdiction_code) if i.id != item.id]
    needers = []
    for other in active:
        for need in requirements(other.version):
            if satisfies(item, need) and not any(satisfies(i, need) for i in active):
                needers.append(other.module.name)
                break
    return sorted(needers)


def still_served(session: Session, code: str, touched: set[str]) -> None:
    """Refuse 409 ``required_by`` when a change (new version, other implementation) leaves an
    active composite's requirement on a ``touched`` module or interface unserved: no active
    installation of it whose version has every operation the composite calls."""
    active = _active(session, code)
    needers = []
    for other in active:
        for need in requirements(other.version):
            if need.target in touched and not any(
                    satisfies(i, need) and set(need.operations) <= {op.name for op in
                                                                    i.version.operations}
                    for i in active):
                needers.append(other.module.name)
                break
    if needers:
        raise Conflict("required_by", f"{', '.join(sorted(needers))} would lose operations "
                       f"of {', '.join(sorted(t for t in touched if t))} they call; keep the "
                       "installation as it is, or uninstall them first",
                       required_by=sorted(needers))
