"""Usage events (the one big, append-only table) and the daily digest chain."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.clock import local, now
from marketplace.db import Base, BigId, UTCDateTime

EVENT_STATUSES = ("ok", "error", "rejected")


def derive_period_day(occurred_at: datetime) -> tuple[str, date]:
    """The period ``YYYY-MM`` and calendar day of an instant, in the platform zone.

    The one derivation: the column defaults below, reported usage and the gateway use it.
    """
    moment = local(occurred_at)
    return f"{moment.year:04d}-{moment.month:02d}", moment.date()


def _derived_period(context) -> str:
    """Column default: the period of ``occurred_at`` (when a writer omits it)."""
    return derive_period_day(context.get_current_parameters()["occurred_at"])[0]


def _derived_day(context) -> date:
    """Column default: the calendar day of ``occurred_at``."""
    return derive_period_day(context.get_current_parameters()["occurred_at"])[1]


class UsageEvent(Base):
    """One metered fact. ``period`` and ``day`` are derived at write time (platform zone)."""

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key on purpose: every writer checks the installation first, installations
    # are never deleted, and on PostgreSQL the per-row referential check cost ~28 % of ingest.
    installation_id: Mapped[int] = mapped_column()
    event_id: Mapped[str] = mapped_column(sa.String(100))
    operation: Mapped[str] = mapped_column(sa.String(100))
    units: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(10))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    period: Mapped[str] = mapped_column(sa.String(7), default=_derived_period)
    day: Mapped[date] = mapped_column(sa.Date, default=_derived_day)
    duration_ms: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(sa.String(10), default="gateway")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # a composite's sub-call: the event id of the composite call it was made for (DESIGN §14)
    parent_event: Mapped[str | None] = mapped_column(sa.String(100), nullable=True, default=None)

    __table_args__ = (
        sa.UniqueConstraint("installation_id", "event_id", name="uq_usage_events_installation_event"),
        # covering index of settlement's GROUP BY: a period's aggregation reads only its own
        # index entries (an index-only scan), never another period's rows
        sa.Index("ix_usage_events_period_totals", "period", "status", "installation_id", "units"),
        sa.Index("ix_usage_events_installation_day", "installation_id", "day"),
        sa.Index("ix_usage_events_parent_event", "parent_event"),
        sa.CheckConstraint("status in ('ok', 'error', 'rejected')", name="status_known"),
        sa.CheckConstraint("units >= 0", name="units_not_negative"),
    )


class UsageDigest(Base):
    """Per installation and day: a hash chained to the day before (verifiable usage)."""

    __tablename__ = "usage_digests"

    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    previous: Mapped[str] = mapped_column(sa.String(64))
    digest: Mapped[str] = mapped_column(sa.String(64))
    events: Mapped[int] = mapped_column(default=0)
    units: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # a day's units pass 2**31
