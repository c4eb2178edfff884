"""Corrections of closed periods (DESIGN §15): adjustments and disputes."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.clock import now
from marketplace.db import Base, JSONType, UTCDateTime

DISPUTE_STATES = ("open", "answered", "resolved")
DECISIONS = ("uphold", "adjust")


class Adjustment(Base):
    """A debit (> 0) or credit (< 0) on an installation's closed period, booked into a later settlement.

    ``booked_period`` stays empty until the next settlement of a period after
    ``period`` books it as a charge line of kind ``adjustment``; the closed
    statement of ``period`` itself never changes.
    """

    __tablename__ = "adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.ForeignKey("periods.period"), index=True)
    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"), index=True)
    module_name: Mapped[str] = mapped_column(sa.String(64))
    adopter_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"))
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(1000))
    dispute_id: Mapped[int | None] = mapped_column(sa.ForeignKey("disputes.id"))
    created_by: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    booked_period: Mapped[str] = mapped_column(sa.String(7), default="", index=True)
    # the request's Idempotency-Key: a retried POST answers the adjustment it made, once
    key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)

    __table_args__ = (sa.CheckConstraint("amount_minor <> 0", name="amount_not_zero"),)


class Dispute(Base):
    """An adopter's contest of a closed period's usage of one module: open → answered → resolved."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.ForeignKey("periods.period"), index=True)
    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"))
    module_id: Mapped[int] = mapped_column(sa.ForeignKey("modules.id"), index=True)
    module_name: Mapped[str] = mapped_column(sa.String(64))
    adopter_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"), index=True)
    state: Mapped[str] = mapped_column(sa.String(10), default="open")
    reason: Mapped[str] = mapped_column(sa.String(1000))
    reconciliation: Mapped[dict] = mapped_column(JSONType, default=dict)
    opened_by: Mapped[str] = mapped_column(sa.String(254))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    answer: Mapped[str] = mapped_column(sa.String(1000), default="")
    answered_by: Mapped[str] = mapped_column(sa.String(254), default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str] = mapped_column(sa.String(10), default="")
    resolved_by: Mapped[str] = mapped_column(sa.String(254), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("state in ('open', 'answered', 'resolved')", name="state_known"),
        sa.CheckConstraint("decision in ('', 'uphold', 'adjust')", name="decision_known"),
    )
