"""The install page of a composite: what installing it installs with it, and what each costs.

The plan is the runtime's (:func:`marketplace.runtime.dependencies.plan`): the
modules the composite calls that the adopter has not installed, each an
agreement of its own under its own terms, shown here before the clerk accepts;
the requirements already served by the adopter's installations; the interfaces
with several implementations, to choose from; the ones nothing can serve.
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.accounts.models import Jurisdiction
from marketplace.errors import MarketplaceError
from marketplace.runtime import dependencies
from marketplace.web.consoles import estimate, language

CHOOSE = "choose-"              # form field prefix: choose-<interface> = module name


def chosen(form: Mapping[str, str]) -> dict[str, str]:
    """The interface choices sent with the form (ignored unless well formed)."""
    picks = {key[len(CHOOSE):]: value for key, value in form.items()
             if key.startswith(CHOOSE) and value}
    try:
        return dependencies.check_choose(picks or None)
    except MarketplaceError:
        return {}


def _publisher(session: Session, code: str) -> str:
    return session.scalar(sa.select(Jurisdiction.name).where(Jurisdiction.code == code)) or code


def composite_plan(session: Session, code: str, version, choose: dict[str, str]
                   ) -> dict[str, Any] | None:
    """The plan in page terms; None for a plain module (it installs alone)."""
    if version is None or not dependencies.requirements(version):
        return None
    try:
        found = dependencies.plan(session, code, version, choose)
    except MarketplaceError as exc:
        return {"installs": [], "satisfied": [], "choices": {}, "unavailable": [],
                "error": exc.message, "ready": False, "choose": choose}
    lang = language()
    installs = []
    for step in found.steps:
        if step.requirement is None:
            continue
        module = step.version.module
        installs.append({
            "module": module.name, "title": step.version.title, "version": step.version.version,
            "publisher": _publisher(session, module.publisher_code),
            "target": step.requirement.target, "needed_by": step.needed_by,
            "terms_text": estimate.describe(step.version.terms, lang),
            "cost": estimate.estimate(session, module, step.version.terms)})
    satisfied = [{"target": need.target, "module": item.module.name, "title": item.version.title,
                  "version": item.version.version,
                  "terms_text": estimate.describe(item.terms, lang)}
                 for need, item, _by in found.satisfied]
    return {"installs": installs, "satisfied": satisfied, "choices": found.choices,
            "unavailable": [need.target for need, _by in found.unavailable], "error": "",
            "ready": not found.choices and not found.unavailable, "choose": choose}
