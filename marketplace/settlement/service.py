"""Settlement (DESIGN §6): close a period, price every installation, write statements, issue them.

:func:`settle` is one idempotent operation in two phases.  Phase 1 aggregates
usage with one SQL ``GROUP BY``, prices every installation active in the
period, writes charges and statements and closes the period, all in one
transaction under a lock on the period row (a crash leaves nothing; a second
concurrent run waits and then finds the period closed).  Phase 2 hands each
still-pending statement to the provider; provider calls are recorded under
idempotency keys (:mod:`marketplace.settlement.records`), so a rerun after a
crash resumes without calling twice.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.catalog.models import Module
from marketplace.clock import local_day, now, period_bounds, period_ended
from marketplace.errors import Conflict, NotFound
from marketplace.governance.models import ChargeShare
from marketplace.governance.shares import OwnerPart, share_rows, split_lines
from marketplace.metering.digest import genesis
from marketplace.metering.models import UsageDigest, UsageEvent
from marketplace.money import format_amount
from marketplace.runtime.models import Installation
from marketplace.settlement import pricing
from marketplace.settlement.adjustments import adjustment_lines
from marketplace.settlement.agreements import in_force
from marketplace.settlement.models import Charge, Period, Statement, period_lock_key
from marketplace.settlement.providers import Provider
from marketplace.settlement.rules import HOME_CURRENCY, cap_lines, period_currency, pool_terms
from marketplace.settlement.records import insert_ignoring_conflicts, insert_rows
from marketplace.settlement.statements import (SettlementError, check_period,  # noqa: F401
                                               get_statement, statement_csv, statement_json,
                                               statement_lines)

__all__ = ["settle", "check_period", "ensure_open", "usage_totals", "settlement_json",
           "statement_lines", "statement_json", "statement_csv", "get_statement", "Provider",
           "SettlementError", "HOME_CURRENCY"]


# The hot query: one GROUP BY over the period's events, never rows in Python.
USAGE_TOTALS = (sa.select(UsageEvent.installation_id, sa.func.sum(UsageEvent.units))
                .where(UsageEvent.period == sa.bindparam("period"), UsageEvent.status == "ok")
                .group_by(UsageEvent.installation_id))


def ensure_open(session: Session, period: str) -> None:
    """Refuse (409 ``period_closed``) when ``period`` has been settled: closed periods are immutable."""
    state = session.scalar(sa.select(Period.state).where(Period.period == period))
    if state == "closed":
        raise Conflict("period_closed", f"period {period} is settled and closed; "
                                        "usage for it can no longer be reported")


def usage_totals(session: Session, period: str) -> dict[int, int]:
    """U per installation: the sum of units of the period's successful events."""
    return {iid: int(units) for iid, units in session.execute(USAGE_TOTALS, {"period": period})}


def settle(session: Session, period: str, provider: Provider, actor: str = "system",
           fee_bps: int = 0, grace_days: int = 0) -> dict[str, Any]:
    """Settle ``period`` once: price, write statements, close, issue; a rerun changes nothing.

    Commits its own transactions (the session should carry no pending work).
    ``grace_days``: late usage is accepted that long after the end (409 ``grace_period``).
    """
    check_period(period)
    if not period_ended(period):
        raise Conflict("period_open", f"period {period} has not ended yet by the platform clock; "
                                      f"settle it after {period_bounds(period)[1].isoformat()}")
    if grace_days:
        from marketplace.settlement.drafts import check_grace, is_settled

        if not is_settled(session, period):
            check_grace(period, grace_days)
    session.commit()
    try:
        _close(session, period, actor, fee_bps, provider.name)
        _issue_pending(session, period, provider)
    except Exception:
        session.rollback()  # leave nothing half-written and the session usable
        raise
    return settlement_json(session, period)


def _close(session: Session, period: str, actor: str, fee_bps: int, provider_name: str) -> None:
    """Phase 1, one transaction: lock the period, price, write charges + statements, close."""
    # The first statement writes, so SQLite takes its write lock here and a
    # concurrent run waits; PostgreSQL waits on the row lock below.
    session.execute(insert_ignoring_conflicts(session, Period.__table__).values(
        period=period, state="open", closed_by="", totals={}))
    state = session.scalar(sa.select(Period.state).where(Period.period == period).with_for_update())
    if session.get_bind().dialect.name == "postgresql":
        # usage writers hold this lock shared until they commit: wait for them, block new ones
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": period_lock_key(period)})
    if state == "closed":
        session.rollback()
        return
    totals = write_period(session, period, fee_bps, provider_name)
    session.execute(sa.update(Period).where(Period.period == period).values(
        state="closed", closed_at=now(), closed_by=actor, totals=totals))
    _audit_close(session, period, actor, fee_bps, provider_name, totals)
    session.commit()


def _audit_close(session: Session, period: str, actor: str, fee_bps: int, provider_name: str,
                 totals: dict[str, Any]) -> None:
    """One audit entry per close, in its transaction: who settled, with which provider and fee, what it booked."""
    from marketplace.accounts.models import User
    from marketplace.accounts.service import audit

    user = session.scalar(sa.select(User).where(User.email == actor)) if "@" in actor else None
    audit(session, user, "settlement.close", period, provider=provider_name, fee_bps=fee_bps,
          closed_by=actor, **{key: totals[key] for key in ("currency", "lines", "statements",
                                                             "units", "charges_minor", "fees_minor")})


def write_period(session: Session, period: str, fee_bps: int, provider_name: str) -> dict[str, Any]:
    """Price ``period`` and write its charge lines and statements; returns the period's totals.

    The one code path of a statement: settling runs it and commits, a draft
    (:mod:`marketplace.settlement.drafts`) runs it and rolls back. Days are sealed by
    the nightly ``marketplace usage seal``, not here: sealing hashes every event of
    the period in Python (22× the settlement's own time on 500k events); the
    statement's chain head covers the days sealed so far.
    """
    lines, currency, capped = price_period(session, period, fee_bps)
    lines += adjustment_lines(session, period, fee_bps)    # §15: corrections of closed periods
    parts = split_lines(session, period, [ln for _, ln in lines])  # §13: every line, by owner
    statements = _statement_rows(session, period, lines, currency, provider_name, parts)
    if lines:
        ids = _charge_ids(session, len(lines))
        insert_rows(session, Charge.__table__, [
            {"id": cid, "period": period, "installation_id": iid, "module_name": ln.module,
             "kind": ln.kind, "adopter_code": ln.adopter, "publisher_code": ln.publisher,
             "currency": ln.currency, "units": ln.units, "amount_minor": ln.amount_minor,
             "fee_minor": ln.fee_minor, "adjusts_period": getattr(ln, "adjusts_period", "")}
            for cid, (iid, ln) in zip(ids, lines)])
        insert_rows(session, ChargeShare.__table__, share_rows(period, ids, parts))
    if statements:
        insert_rows(session, Statement.__table__, statements)
    totals = _totals([ln for _, ln in lines], currency, len(statements), parts)
    if capped:
        from marketplace.accounts.service import audit
        totals["capped_lines"] = capped          # shown with the period's totals
        for item in capped:
            audit(session, None, "settlement.line_capped", f"{period}:{item['installation']}", **item)
    return totals


def price_period(session: Session, period: str,
                 fee_bps: int) -> tuple[list[tuple[int, pricing.Line]], str, list[dict]]:
    """Every installation active in ``period`` priced per DESIGN §6: ((installation id, line)…),
    currency, and the lines capped at MAX_AMOUNT (:func:`rules.cap_lines`).

    Under the money rules of :mod:`marketplace.settlement.rules` (agreements in force
    at the period's start, one cost-share pool per module, one currency per period).
    """
    start, end = period_bounds(period)
    usage = usage_totals(session, period)
    # in force at some instant of [start, end): one ended at ``start`` ended before the period
    active = sa.and_(Installation.created_at < end,
                     sa.or_(Installation.ended_at.is_(None), Installation.ended_at > start))
    query = (sa.select(Installation.id, Installation.jurisdiction_code, Installation.terms,
                       Installation.created_at, Installation.accepted_at, Installation.module_id,
                       Module.name, Module.publisher_code)
             .join(Module, Module.id == Installation.module_id)
             .where(sa.or_(active, Installation.id.in_(list(usage))))
             .order_by(Installation.id))
    rows = session.execute(query).all()
    agreements = in_force(session, rows, start)
    priced: list[tuple[Any, str, int, int, dict]] = []
    pools: dict[int, list] = defaultdict(list)
    for row in rows:
        (accepted, terms), units = agreements[row.id], usage.get(row.id, 0)
        kind = terms.get("kind", "free")
        if kind == "cost_share":  # split below, one pool per module
            pools[row.module_id].append((row, units, accepted, terms))
            continue
        if kind == "transfer":
            amount = pricing.transfer_fee(terms) if start <= row.created_at < end else 0
        else:
            amount = pricing.price_usage(terms, units)
        priced.append((row, kind, units, amount, terms))
    for members in pools.values():
        terms = pool_terms([(accepted, r.id, t) for r, _, accepted, t in members], start)
        shares = pricing.cost_share(terms, [(r.jurisdiction_code, r.id, u) for r, u, *_ in members])
        priced += [(r, "cost_share", u, shares[r.id], terms) for r, u, *_ in members]
    priced, capped = cap_lines(priced)
    currency = period_currency(priced)
    lines = [(row.id, pricing.Line.priced(row.name, kind, row.jurisdiction_code, row.publisher_code,
                                          units, amount, fee_bps, terms.get("currency") or currency))
             for row, kind, units, amount, terms in priced]
    return sorted(lines, key=lambda item: item[0]), currency, capped


def _chain_heads(session: Session, period: str, adopted: dict[str, list[int]]) -> dict[str, str]:
    """Per adopter, metering's ``statement_head`` over its installations, in one query for all.

    Same value as ``marketplace.metering.digest.statement_head`` (a test pins
    that), computed without one query per installation. Metering is first-party: its
    digest is imported with this module, so a broken import fails loudly, never drops the head.
    """
    last_day = local_day(period_bounds(period)[1] - timedelta(seconds=1))
    d = UsageDigest.__table__.c
    latest = (sa.select(d.installation_id, sa.func.max(d.day).label("day"))
              .where(d.day <= last_day).group_by(d.installation_id).subquery())
    heads = dict(session.execute(sa.select(d.installation_id, d.digest).join(
        latest, sa.and_(d.installation_id == latest.c.installation_id, d.day == latest.c.day))).all())
    result = {}
    for code, ids in adopted.items():
        lines = [f"{i}:{heads.get(i) or genesis(i)}" for i in sorted(set(ids))]
        result[code] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return result


def _statement_rows(session: Session, period: str, lines: list[tuple[int, pricing.Line]],
                    currency: str, provider_name: str, parts: list[list[OwnerPart]]) -> list[dict]:
    """One statement row, in the period's ``currency``, per adopter or owner in ``lines``.

    An owner earns its parts (``parts``, line by line, from :func:`split_lines`).
    """
    acc: dict[str, dict] = {}
    adopted: dict[str, list[int]] = defaultdict(list)
    for (iid, ln), owners in zip(lines, parts):
        adopted[ln.adopter].append(iid)
        for code in (ln.adopter, *(part[0] for part in owners)):
            acc.setdefault(code, {"charges": 0, "earnings": 0, "fees": 0})
        acc[ln.adopter]["charges"] += ln.amount_minor
        acc[ln.adopter]["fees"] += ln.fee_minor
        for code, _, earned, _ in owners:
            acc[code]["earnings"] += earned
    heads = _chain_heads(session, period, adopted)
    rows = []
    for code in sorted(acc):
        item = acc[code]
        rows.append({"period": period, "jurisdiction_code": code, "currency": currency,
                     "total_charges_minor": item["charges"], "total_earnings_minor": item["earnings"],
                     "total_fees_minor": item["fees"], "usage_chain_head": heads.get(code, ""),
                     "provider": provider_name, "provider_status": "pending", "provider_ref": "",
                     "created_at": now()})
    return rows


def _totals(lines: list[pricing.Line], currency: str, statements: int,
            parts: list[list[OwnerPart]]) -> dict[str, Any]:
    """Period totals in its one ``currency``; refuses to close when Σ charges ≠ Σ earnings + Σ fees.

    Earnings are what the owners earn (Σ of their parts), so a split that lost
    or made a fen anywhere stops the close.
    """
    charges = sum(ln.amount_minor for ln in lines)
    earnings = sum(part[2] for owners in parts for part in owners)
    fees = sum(ln.fee_minor for ln in lines)
    if charges != earnings + fees:  # pricing.Line and split() guarantee it per line; this guards sums
        raise SettlementError("unbalanced", f"charges {charges} ≠ earnings {earnings} + fees {fees}")
    return {"currency": currency, "lines": len(lines), "statements": statements,
            "units": sum(ln.units for ln in lines), "charges_minor": charges,
            "earnings_minor": earnings, "fees_minor": fees,
            "charges": format_amount(charges, currency), "earnings": format_amount(earnings, currency),
            "fees": format_amount(fees, currency), "balanced": True}


def _charge_ids(session: Session, count: int) -> list[int]:
    """``count`` fresh ids for charge rows, so their owners' shares can name them before the bulk insert.

    PostgreSQL draws them from the column's sequence; SQLite's one writer holds
    its write lock for the whole close, so the ids after the largest are free.
    """
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(sa.text(
            "SELECT nextval(pg_get_serial_sequence('charges', 'id')) FROM generate_series(1, :n)"),
            {"n": count}))
    first = session.scalar(sa.select(sa.func.coalesce(sa.func.max(Charge.id), 0))) + 1
    return list(range(first, first + count))


def _issue_pending(session: Session, period: str, provider: Provider) -> None:
    """Phase 2: hand every still-pending statement to the provider in one ``issue_all``.

    The ledger books them all in this one transaction; Stripe issues and
    commits each in turn. The statuses it answers are written here.
    """
    pending = session.scalars(sa.select(Statement).where(
        Statement.period == period, Statement.provider_status == "pending")
        .order_by(Statement.jurisdiction_code)).all()
    if not pending:
        return
    by_status: dict[str, list[str]] = defaultdict(list)
    for code, status in provider.issue_all(session, pending).items():
        by_status[status].append(code)
    for status, codes in by_status.items():
        session.execute(sa.update(Statement.__table__).where(
            Statement.period == period, Statement.jurisdiction_code.in_(codes),
            Statement.provider_status == "pending").values(provider_status=status,
                                                           provider=provider.name))
    session.commit()
    session.expire_all()


def get_period(session: Session, period: str) -> Period:
    """A settled (or settling) period row, or NotFound."""
    check_period(period)
    found = session.get(Period, period)
    if found is None or found.state != "closed":
        raise NotFound("not_settled", f"period {period} is not settled; POST /api/v1/settlements")
    return found


def settlement_json(session: Session, period: str) -> dict[str, Any]:
    """The result of settling ``period``: totals and each statement's provider state."""
    found = get_period(session, period)
    rows = session.scalars(sa.select(Statement).where(Statement.period == period)
                           .order_by(Statement.jurisdiction_code)).all()
    return {"period": period, "state": found.state,
            "closed_at": found.closed_at.isoformat() if found.closed_at else None,
            "closed_by": found.closed_by, "totals": found.totals,
            "statements": [{"jurisdiction": s.jurisdiction_code,
                            "total_charges": format_amount(s.total_charges_minor, s.currency),
                            "total_earnings": format_amount(s.total_earnings_minor, s.currency),
                            "net": format_amount(s.net_minor, s.currency), "provider": s.provider,
                            "provider_status": s.provider_status, "provider_ref": s.provider_ref}
                           for s in rows]}


def book_payment(session: Session, actor: Any, config: Any, code: str, amount_minor: int,
                 period: str, direction: str = "in", reference: str = "") -> dict[str, Any]:
    """Book a payment in the built-in ledger and audit it; the caller commits.

    Only while the ledger settles (``config``'s provider): with another provider
    (Stripe) money moves, and is recorded, there. ``actor`` is the user booking it
    (None: the command line).
    """
    from marketplace.plugins import get_ledger, provider_name

    if (name := provider_name(config)) != "ledger":
        raise Conflict("provider_not_ledger", f"the settlement provider is {name}: "
                       "payments move and are recorded there, not in the built-in ledger")
    ledger = get_ledger(config)

    from marketplace.accounts.service import audit
    from marketplace.money import format_display

    currency = payment_currency(session, period)
    result = ledger.record_payment(session, code, amount_minor, period, direction, reference,
                                   currency=currency)
    if result["booked"]:
        audit(session, actor, "ledger.payment", code, amount=format_display(amount_minor, currency),
              period=period, direction=direction, reference=reference)
    return result


def payment_currency(session: Session, period: str) -> str:
    """The currency a payment for ``period`` is booked in: the settled period's, else the home one."""
    found = session.get(Period, check_period(period))
    totals = found.totals if found is not None and found.state == "closed" else {}
    return str((totals or {}).get("currency") or HOME_CURRENCY)
