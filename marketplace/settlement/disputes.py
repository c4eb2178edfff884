"""Disputes (DESIGN §15): an adopter contests a closed period's usage of one module with evidence.

States ``open → answered → resolved``. The adopter opens one within
``MARKETPLACE_DISPUTE_DAYS`` of the period's close, with its own event ids (or a
CSV of its records); the platform reconciles them with its billable events of
that installation and period, per day with the day's digest
(:mod:`marketplace.metering.digest`). The module's owners answer; an
administrator resolves it (``uphold``, or ``adjust`` which creates an
adjustment). Only the three parties see a dispute; to anyone else it does not
exist (404). Every step is audited.

An administrator resolves an ``answered`` dispute; an ``open`` one only once its
owners' time to answer (``MARKETPLACE_DISPUTE_ANSWER_DAYS``, default 14, from its
opening) has passed without an answer; before that it is 409 ``wrong_state``.
Each step is one conditional UPDATE of the state, so of racing steps one wins and
the others are 409 ``wrong_state``; opening takes the installation's lock
(:func:`marketplace.settlement.adjustments.lock_installation`), so one dispute of
an installation and period is open at a time.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from marketplace.accounts.models import User
from marketplace.catalog.models import Module
from marketplace.clock import as_utc, now
from marketplace.errors import Conflict, Forbidden, MarketplaceError, NotFound
from marketplace.metering.models import UsageEvent
from marketplace.settlement.correction_models import Adjustment, Dispute
from marketplace.settlement.evidence import Record
from marketplace.settlement.models import Charge, Period
from marketplace.settlement.statements import check_period

SAMPLE = 20          # ids listed per side in a reconciliation (the counts are exact)


def _audit(session: Session, actor: User | None, action: str, dispute: Dispute, **detail) -> None:
    from marketplace.accounts.service import audit

    audit(session, actor, action, f"dispute:{dispute.id}", period=dispute.period,
          module=dispute.module_name, adopter=dispute.adopter_code, **detail)


def owners(session: Session, dispute: Dispute) -> list[str]:
    """The codes of the module's owners in the disputed period (its publisher when sole owner)."""
    from marketplace.governance.shares import owners_in_force

    return [code for code, _ in owners_in_force(session, dispute.module_id, dispute.period)]


def visible(session: Session, dispute: Dispute, code: str | None) -> bool:
    """Whether ``code`` (None: an operator) is a party: the adopter, an owner, or an admin."""
    return code is None or code == dispute.adopter_code or code in owners(session, dispute)


def get(session: Session, dispute_id: int, code: str | None) -> Dispute:
    """Dispute ``dispute_id`` if ``code`` may see it, else 404 (a stranger learns nothing)."""
    found = session.get(Dispute, dispute_id) if 0 < dispute_id <= 2**31 - 1 else None
    if found is None or not visible(session, found, code):
        raise NotFound("no_dispute", f"no dispute {dispute_id} that you are a party to")
    return found


def open_dispute(session: Session, actor: User | None, code: str, period: str, module: str,
                 reason: str, records: list[Record], window_days: int) -> Dispute:
    """Open a dispute of ``code`` on its usage of ``module`` in closed ``period``; caller commits."""
    check_period(period)
    closed = session.get(Period, period)
    if closed is None or closed.state != "closed":
        raise Conflict("not_settled", f"period {period} is not settled; its draft statement still "
                                      "follows usage: dispute it once it is closed")
    deadline = as_utc(closed.closed_at) + timedelta(days=window_days)
    if now() > deadline:
        raise Conflict("dispute_window_closed", f"disputes of {period} were open until "
                                                f"{deadline.isoformat()} ({window_days} days after "
                                                "its close); ask the operator for an adjustment")
    if not reason.strip():
        raise MarketplaceError("reason_required", "say what is wrong with the usage (reason)")
    found = session.execute(sa.select(Module.id, Charge.installation_id).join(
        Charge, Charge.module_name == Module.name).where(
        Module.name == module, Charge.period == period, Charge.adopter_code == code,
        Charge.kind != "adjustment").order_by(Charge.installation_id)).all()
    if not found:
        raise NotFound("not_installed", f"you had no installation of {module[:64]} billed in {period}")
    module_id, installation_id = found[-1]
    from marketplace.settlement.adjustments import lock_installation

    lock_installation(session, installation_id)        # the check below and the insert, atomic
    if session.scalar(sa.select(Dispute.id).where(
            Dispute.period == period, Dispute.installation_id == installation_id,
            Dispute.state != "resolved")) is not None:
        raise Conflict("dispute_exists", f"a dispute of {module} in {period} is already open; "
                                         "add to it through the operator or wait for its resolution")
    item = Dispute(period=period, installation_id=installation_id, module_id=module_id,
                   module_name=module, adopter_code=code, state="open", reason=reason,
                   reconciliation=reconcile(session, [i for _, i in found], period, records),
                   opened_by=actor.email if actor else "cli", opened_at=now(), answer="",
                   answered_by="", decision="", resolved_by="")
    session.add(item)
    session.flush()
    rec = item.reconciliation
    _audit(session, actor, "dispute.open", item, reason=reason, matched=rec["matched"],
           only_platform=rec["only_platform"], only_adopter=rec["only_adopter"])
    return item


def reconcile(session: Session, installation_ids: Iterable[int], period: str,
              records: list[Record]) -> dict[str, Any]:
    """Compare the adopter's records with the platform's billable events, in total and per day.

    ``matched``: ids on both sides; ``only_platform``/``only_adopter``: on one
    side only; ``duplicates``: records repeating an id already listed. Per day
    (the platform zone): platform events, the adopter's records dated that day
    (its own ``occurred_at``, else the platform's day of a matched id), the day's
    digest (:mod:`marketplace.metering.digest`: the sealed one, or while the day is
    not sealed yet the one sealing would write, computed from the events now; None
    on a day the installation has no events) and ``sealed`` saying which.
    """
    ids = sorted(set(installation_ids))
    e = UsageEvent.__table__.c
    platform: dict[str, tuple] = {}
    for event_id, day, units in session.execute(sa.select(e.event_id, e.day, e.units).where(
            e.installation_id.in_(ids), e.period == period, e.status == "ok")):
        platform[event_id] = (day, units)
    counts = Counter(r.event_id for r in records)
    theirs = {r.event_id: r for r in records}
    matched = sorted(set(theirs) & set(platform))
    days: dict[Any, dict[str, int]] = {}
    for day, _ in platform.values():
        days.setdefault(day, {"platform": 0, "adopter": 0})["platform"] += 1
    undated = 0
    for event_id, record in theirs.items():
        day = record.day or (platform[event_id][0] if event_id in platform else None)
        if day is None:
            undated += 1
            continue
        days.setdefault(day, {"platform": 0, "adopter": 0})["adopter"] += 1
    digests = _digests(session, ids, list(days))
    units_differ = sorted(i for i in matched if theirs[i].units is not None
                          and theirs[i].units != platform[i][1])
    return {
        "matched": len(matched),
        "only_platform": len(set(platform) - set(theirs)),
        "only_adopter": len(set(theirs) - set(platform)),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "units_differ": len(units_differ),
        "undated": undated,
        "platform_units": sum(u for _, u in platform.values()),
        "days": [{"day": day.isoformat(), "platform": c["platform"], "adopter": c["adopter"],
                  "digest": digests.get(day, (None, False))[0],
                  "sealed": digests.get(day, (None, False))[1]} for day, c in sorted(days.items())],
        "samples": {"only_platform": sorted(set(platform) - set(theirs))[:SAMPLE],
                    "only_adopter": sorted(set(theirs) - set(platform))[:SAMPLE],
                    "duplicates": sorted(i for i, n in counts.items() if n > 1)[:SAMPLE],
                    "units_differ": units_differ[:SAMPLE]},
    }


def _digests(session: Session, ids: list[int], days: list) -> dict[Any, tuple[str, bool]]:
    """``{day: (digest, sealed)}``: the day's digest of the installation whose events it holds
    (the newest when several), sealed or computed now by metering's own chain rule."""
    from marketplace.metering.digest import day_digests

    if not days:
        return {}
    span = (min(days), max(days))
    found: dict[Any, tuple[str, bool]] = {}
    for installation_id in ids:          # ascending: a later installation's digest wins a shared day
        found.update(day_digests(session, installation_id, span))
    return found


def answer(session: Session, actor: User | None, dispute_id: int, code: str | None,
           text: str, sees_all: bool = False) -> Dispute:
    """The owners' answer (``open → answered``) by jurisdiction ``code``; caller commits.

    Only an owner answers (403 ``owners_only``): the adopter, and an administrator who sees
    every dispute (``sees_all``) but whose jurisdiction is no owner, too. ``code`` None is
    the server's CLI recording an answer the owners gave. ``answered_by`` keeps the
    answering jurisdiction (``cli`` for the CLI); the audit entry names the user.
    """
    item = get(session, dispute_id, None if sees_all else code)
    if code is not None and code not in owners(session, item):
        raise Forbidden("owners_only", "only the owners of the disputed module answer a dispute"
                        + ("; an administrator resolves it" if sees_all else ""))
    if not text.strip():
        raise MarketplaceError("answer_required", "write the answer (answer)")
    _move(session, item, "open", "answered")
    item.answer, item.answered_by, item.answered_at = text, code or "cli", now()
    _audit(session, actor, "dispute.answer", item, answer=text, answered_by=code or "cli")
    return item


ANSWER_DAYS = 14     # default of MARKETPLACE_DISPUTE_ANSWER_DAYS


def answer_deadline(item: Dispute, answer_days: int = ANSWER_DAYS):
    """Until when the owners may answer before an administrator may resolve without them."""
    return as_utc(item.opened_at) + timedelta(days=answer_days)


def resolve(session: Session, actor: User | None, dispute_id: int, decision: str,
            amount_minor: int | None = None, reason: str = "",
            answer_days: int = ANSWER_DAYS) -> Dispute:
    """An administrator's decision (``answered → resolved``); ``adjust`` books an adjustment;
    caller commits.

    An ``open`` dispute is resolved only after ``answer_days`` from its opening
    (its owners let the time pass); before that it is 409 ``wrong_state``.
    """
    from marketplace.settlement import adjustments

    item = get(session, dispute_id, None)
    if decision not in ("uphold", "adjust"):
        raise MarketplaceError("invalid_decision", "decision must be uphold or adjust")
    if (decision == "adjust") != (amount_minor is not None):
        raise MarketplaceError("invalid_amount", "adjust needs an amount (a credit like \"-12.34\"); "
                                                 "uphold takes none")
    deadline = answer_deadline(item, answer_days)
    unanswered = now() > deadline
    if item.state == "open" and not unanswered:
        raise Conflict("wrong_state", f"dispute {item.id} is open: its owners may answer until "
                                      f"{deadline.isoformat()} ({answer_days} days after it was "
                                      "opened); resolve it once it is answered or after that")
    _move(session, item, ("open", "answered") if unanswered else "answered", "resolved")
    if decision == "adjust":
        adjustments.create(session, actor, item.period, item.installation_id, amount_minor,
                           reason or f"dispute {item.id}: {item.reason}"[:1000], dispute_id=item.id)
    item.decision, item.resolved_by, item.resolved_at = decision, actor.email if actor else "cli", now()
    _audit(session, actor, "dispute.resolve", item, decision=decision)
    return item


def _move(session: Session, item: Dispute, allowed: str | tuple[str, ...], to: str) -> None:
    """Change the state with one conditional UPDATE (of racing steps one wins), or 409
    ``wrong_state`` naming the state it is in."""
    allowed = (allowed,) if isinstance(allowed, str) else allowed
    moved = session.execute(sa.update(Dispute).where(Dispute.id == item.id,
                                                     Dispute.state.in_(allowed))
                            .values(state=to).execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        state = session.scalar(sa.select(Dispute.state).where(Dispute.id == item.id))
        raise Conflict("wrong_state", f"dispute {item.id} is {state}; it cannot become {to}")
    set_committed_value(item, "state", to)


def list_for(session: Session, code: str | None, state: str | None = None) -> list[Dispute]:
    """The disputes ``code`` is a party to (None: all), newest first."""
    query = sa.select(Dispute).order_by(Dispute.id.desc()).limit(500)
    if state is not None:
        query = query.where(Dispute.state == state)
    if code is None:
        return list(session.scalars(query))
    from marketplace.governance.models import Owner, Ownership

    owned = sa.select(Module.id).where(Module.publisher_code == code).union(
        sa.select(Ownership.module_id).join(Owner, Owner.ownership_id == Ownership.id)
        .where(Owner.jurisdiction_code == code))
    rows = session.scalars(query.where(sa.or_(Dispute.adopter_code == code,
                                              Dispute.module_id.in_(owned)))).all()
    return [d for d in rows if visible(session, d, code)]


def dispute_json(session: Session, item: Dispute) -> dict[str, Any]:
    """A dispute as its parties see it."""
    adjustment = session.scalar(sa.select(Adjustment).where(Adjustment.dispute_id == item.id))
    return {"id": item.id, "state": item.state, "period": item.period, "module": item.module_name,
            "installation": item.installation_id, "adopter": item.adopter_code,
            "owners": owners(session, item), "reason": item.reason,
            "opened_at": item.opened_at.isoformat(), "reconciliation": item.reconciliation,
            "answer": item.answer or None,
            "answered_at": item.answered_at.isoformat() if item.answered_at else None,
            "answered_by": item.answered_by or None,
            "decision": item.decision or None,
            "resolved_at": item.resolved_at.isoformat() if item.resolved_at else None,
            "adjustment": None if adjustment is None else {
                "id": adjustment.id, "amount": _amount(adjustment),
                "booked_period": adjustment.booked_period or None}}


def _amount(adjustment: Adjustment) -> str:
    from marketplace.money import format_amount

    return format_amount(adjustment.amount_minor, adjustment.currency)

