"""Draft statements and the grace period (DESIGN §15).

A draft is the statement a period would have if it were settled now: it is
computed by :func:`marketplace.settlement.service.write_period`, the very code
that settling runs (pricing, co-owners' split, adjustments), on a connection of
its own whose transaction is always rolled back. So a draft equals the final
statement whenever nothing changes in between, and nothing a draft writes is
ever kept.

Grace: for ``MARKETPLACE_GRACE_DAYS`` days after a period ends (platform time
zone), late usage for it is still accepted and settling it answers 409
``grace_period``.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.clock import now, period_bounds
from marketplace.errors import Conflict, NotFound
from marketplace.settlement.models import Period
from marketplace.settlement.records import insert_ignoring_conflicts
from marketplace.settlement.rules import HOME_CURRENCY
from marketplace.settlement.statements import (check_period, empty_statement, has_statement,
                                               statement_csv_of, statement_json)

MAX_GRACE_DAYS = 366


def grace_ends(period: str, grace_days: int) -> datetime:
    """The instant (UTC) after which ``period`` may be settled: its end plus ``grace_days`` days.

    Days are counted in the platform zone from the period's end (midnight of the
    1st of the next month there), so the boundary is a platform-zone midnight.
    """
    return period_bounds(period)[1] + timedelta(days=grace_days)


def check_grace(period: str, grace_days: int) -> None:
    """Refuse (409 ``grace_period``) to settle ``period`` while its grace days run."""
    if grace_days and now() < (until := grace_ends(period, grace_days)):
        raise Conflict("grace_period", f"period {period} is in its grace period of {grace_days} "
                                       f"days (late usage is still accepted); settle it after "
                                       f"{until.isoformat()}")


def is_settled(session: Session, period: str) -> bool:
    """Whether ``period`` is closed (settled)."""
    return session.scalar(sa.select(Period.state).where(Period.period == period)) == "closed"


def check_started(period: str) -> None:
    """Refuse (404 ``period_not_started``) a period that has not begun by the platform clock."""
    start = period_bounds(period)[0]
    if now() < start:
        raise NotFound("period_not_started", f"period {period} has not started yet: it begins "
                                             f"{start.isoformat()}; there is no statement to show")


def statement(session: Session, period: str, code: str, fee_bps: int = 0) -> dict[str, Any]:
    """The statement of ``code`` for ``period``: ``final`` when settled, else a ``draft`` from usage so far.

    A registered jurisdiction with no lines in a started period has an empty
    statement (no lines, totals zero) in that state; an unknown one is 404
    ``unknown_jurisdiction``.
    """
    from marketplace.accounts.service import get_jurisdiction

    check_period(period)
    if is_settled(session, period):
        if has_statement(session, period, code):
            return {**statement_json(session, period, code), "state": "final"}
        get_jurisdiction(session, code)
        totals = session.scalar(sa.select(Period.totals).where(Period.period == period)) or {}
        return {**empty_statement(period, code, totals.get("currency") or HOME_CURRENCY),
                "state": "final"}
    check_started(period)
    get_jurisdiction(session, code)
    return draft(session, period, code, fee_bps)


def statement_csv(session: Session, period: str, code: str, fee_bps: int = 0) -> tuple[str, str]:
    """(CSV text, state) of :func:`statement`."""
    body = statement(session, period, code, fee_bps)
    return statement_csv_of(body, code), body["state"]


def draft(session: Session, period: str, code: str, fee_bps: int = 0) -> dict[str, Any]:
    """The draft statement of ``code``: ``write_period`` on a throwaway transaction, then read back."""
    from marketplace.settlement.service import write_period

    scratch = Session(bind=session.get_bind())
    try:
        scratch.execute(insert_ignoring_conflicts(scratch, Period.__table__).values(
            period=period, state="open", closed_by="", totals={}))
        totals = write_period(scratch, period, fee_bps, "draft")
        body = (statement_json(scratch, period, code) if has_statement(scratch, period, code)
                else empty_statement(period, code, totals.get("currency") or HOME_CURRENCY))
    finally:
        scratch.rollback()
        scratch.close()
    body.pop("provider", None)   # nothing is handed to a provider before settlement
    body["state"] = "draft"
    body["as_of"] = now().isoformat()
    return body


def month_to_date(session: Session, code: str, fee_bps: int = 0) -> dict[str, Any] | None:
    """The draft of the current period for ``code`` (None when it has no lines yet)."""
    from marketplace.clock import period_of

    period = period_of(now())
    try:
        body = statement(session, period, code, fee_bps)
    except NotFound:
        return None
    return body if body["charges"] or body["earnings"] else None
