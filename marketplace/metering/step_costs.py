"""One call and its composite sub-calls, each with what it costs under its own agreement.

The cost of a call is what it added to its installation's charge for the month
(DESIGN §6 pricing of the period's units with and without it): pay-per-use
tiers, free units and caps apply as settlement will apply them. Transfer and
free terms cost nothing per call; a cost-share pool is split at settlement,
so a single call has no price of its own (``minor`` is None).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.catalog.models import Module, ModuleVersion
from marketplace.errors import Conflict
from marketplace.metering.models import UsageEvent
from marketplace.money import format_amount
from marketplace.runtime.models import Installation
from marketplace.settlement import pricing

MAX_STEPS = 100


def _period_units(session: Session, installation_id: int, period: str) -> int:
    """Billable units of an installation in one period so far."""
    return int(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(UsageEvent.units), 0)).where(
        UsageEvent.installation_id == installation_id, UsageEvent.period == period,
        UsageEvent.status == "ok")) or 0)


def _cost(session: Session, event: UsageEvent, terms: dict) -> int | None:
    """What this event added to its installation's charge of its period (minor units)."""
    kind = terms.get("kind")
    if event.status != "ok" or event.units == 0 or kind in ("free", "transfer"):
        return 0
    if kind != "pay_per_use":
        return None
    total = _period_units(session, event.installation_id, event.period)
    return pricing.price_usage(terms, total) - pricing.price_usage(terms, max(0, total - event.units))


def _row(session: Session, event: UsageEvent) -> dict[str, Any]:
    name, title, terms = session.execute(
        sa.select(Module.name, ModuleVersion.title, Installation.terms)
        .join(Module, Module.id == Installation.module_id)
        .join(ModuleVersion, ModuleVersion.id == Installation.version_id)
        .where(Installation.id == event.installation_id)).one()
    terms = dict(terms or {})
    return {"event_id": event.event_id, "installation": event.installation_id,
            "parent_event": event.parent_event, "module": name, "title": title,
            "operation": event.operation, "status": event.status, "units": event.units,
            "terms_kind": terms.get("kind", "free"), "currency": terms.get("currency", "CNY"),
            "minor": _cost(session, event, terms), "occurred_at": event.occurred_at}


def call_tree(session: Session, code: str, event_id: str,
              installation: int | None = None) -> dict[str, Any] | None:
    """The jurisdiction's call ``event_id`` with its sub-calls in order; None if not theirs.

    Event ids are unique per installation only: ``installation`` picks the one meant.
    Without it, a gateway call is preferred over a reported event of the same id (see
    :func:`event_installations` for telling the caller instead). Only gateway calls have
    sub-calls: a reported event that reuses a composite call's id shows no steps.
    """
    mine = sa.select(Installation.id).where(Installation.jurisdiction_code == code)
    query = sa.select(UsageEvent).where(UsageEvent.event_id == event_id,
                                        UsageEvent.installation_id.in_(mine))
    if installation is not None:
        query = query.where(UsageEvent.installation_id == installation)
    root = session.scalars(query.order_by(sa.case((UsageEvent.source == "gateway", 0), else_=1),
                                          UsageEvent.installation_id).limit(1)).first()
    if root is None:
        return None
    children = [] if root.source != "gateway" else session.scalars(
        sa.select(UsageEvent).where(
            UsageEvent.parent_event == event_id, UsageEvent.installation_id.in_(mine))
        .order_by(UsageEvent.occurred_at, UsageEvent.id).limit(MAX_STEPS))
    steps = [_row(session, child) for child in children]
    out = _row(session, root)
    out["steps"] = steps
    known = [s["minor"] for s in [out, *steps] if s["minor"] is not None]
    out["total_minor"] = sum(known)
    out["total_complete"] = len(known) == len(steps) + 1
    return out


MAX_EVENT_ID = 200                      # longer ids match no event (reported ids are ≤ 100)
MAX_NESTING = 5                         # composites inside composites (publish allows 4)
MAX_ROW_ID = 2**31 - 1                  # installation ids are 32-bit: a larger one names none


def event_installations(session: Session, code: str, event_id: str,
                        installation: int | None = None) -> list[int]:
    """The jurisdiction's installations holding an event ``event_id`` (ascending; only
    ``installation``, if given and theirs). Ids are unique per installation only, so a
    reported event may share its id with a gateway call of another installation."""
    if not event_id or len(event_id) > MAX_EVENT_ID or (installation or 0) > MAX_ROW_ID:
        return []
    query = (sa.select(UsageEvent.installation_id)
             .join(Installation, Installation.id == UsageEvent.installation_id)
             .where(UsageEvent.event_id == event_id, Installation.jurisdiction_code == code))
    if installation is not None:
        query = query.where(UsageEvent.installation_id == installation)
    return list(session.scalars(query.order_by(UsageEvent.installation_id)))


def event_tree(session: Session, code: str, event_id: str,
               installation: int | None = None) -> dict[str, Any] | None:
    """JSON of the jurisdiction's event ``event_id`` and its sub-calls, nested; None if not theirs.

    ``installation`` (one of the jurisdiction's) says whose event ``event_id`` is; without it,
    an id held by events of two or more of its installations is a 409 ``ambiguous_event``
    listing them, never a silent pick.

    Each node: the event (``id`` = ``event_id``, ``installation``, ``parent_event`` —
    the composite call's event id, null for a call made directly — module, operation,
    status, units, occurred_at), its installation's terms kind and ``price`` (a decimal
    string, null where a call has no price of its own: a cost-share pool is split at
    settlement), and ``steps``.
    """
    found = event_installations(session, code, event_id, installation)
    if not found:
        return None
    if len(found) > 1:
        raise Conflict("ambiguous_event",
                       f"usage event id {event_id[:100]!r} names events of {len(found)} of your "
                       f"installations ({', '.join(map(str, found))}): add ?installation= with "
                       "the one you mean", installations=found)
    tree = call_tree(session, code, event_id, found[0])
    return None if tree is None else _node(session, code, tree, 1)


def _node(session: Session, code: str, node: dict[str, Any], depth: int) -> dict[str, Any]:
    minor = node["minor"]
    steps = []
    for step in node["steps"]:
        sub = (call_tree(session, code, step["event_id"], step["installation"])
               if depth < MAX_NESTING else None)
        steps.append(_node(session, code, sub if sub is not None else {**step, "steps": []},
                           depth + 1))
    return {"id": node["event_id"], "event_id": node["event_id"],
            "installation": node["installation"], "parent_event": node["parent_event"],
            "module": node["module"],
            "operation": node["operation"], "status": node["status"], "units": node["units"],
            "occurred_at": node["occurred_at"].isoformat(), "terms_kind": node["terms_kind"],
            "currency": node["currency"],
            "price": None if minor is None else format_amount(minor, node["currency"]),
            "steps": steps}
