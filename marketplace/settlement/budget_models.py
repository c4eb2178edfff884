"""Budgets of pay-per-use installations and their per-period counters (DESIGN §15, issue 19)."""
from __future__ import annotations

from datetime import datetime
from itertools import chain

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from marketplace.clock import now
from marketplace.db import Base, JSONType, UTCDateTime
from marketplace.runtime.models import _BUMP


class Budget(Base):
    """A spending limit per period on one installation, in minor units of its terms' currency."""

    __tablename__ = "budgets"

    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"),
                                                 primary_key=True, autoincrement=False)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    set_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (sa.CheckConstraint("amount >= 0", name="amount_not_negative"),)


class BudgetPeriod(Base):
    """Units taken in one period by a budgeted installation, and the warnings already sent.

    ``units`` is reserved by the gateway before a call runs (given back when the
    call is not billed), so it equals the period's billable units of finished
    calls plus the calls running now. ``terms`` and ``amount`` are what the
    affordable ranges (:class:`BudgetRange`) were computed from.
    """

    __tablename__ = "budget_periods"

    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"),
                                                 primary_key=True, autoincrement=False)
    period: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    units: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    terms: Mapped[dict] = mapped_column(JSONType, default=dict)
    warned: Mapped[int] = mapped_column(default=0)          # 0, 80 or 100 (% of the budget)

    __table_args__ = (sa.CheckConstraint("warned in (0, 80, 100)", name="warned_known"),)


class BudgetRange(Base):
    """One interval [lo, hi] of period unit totals whose price stays within the budget.

    Pricing is monotone except across volume tiers, so the affordable totals are
    a few intervals; ``hi`` NULL means no total is too high (a cap under the budget).
    """

    __tablename__ = "budget_ranges"

    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"),
                                                 primary_key=True, autoincrement=False)
    period: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    lo: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hi: Mapped[int | None] = mapped_column(sa.BigInteger)


@event.listens_for(Session, "after_flush")
def _bump_route_generation(session: Session, _context) -> None:
    """A budget set or cleared changes gateway routes: bump the generation in the same flush."""
    if any(isinstance(item, Budget)
           for item in chain(session.new, session.dirty, session.deleted)):
        session.connection().execute(_BUMP)
