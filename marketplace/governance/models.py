"""Ownership of modules (DESIGN §13): owners with shares, kept as a history by period.

An :class:`Ownership` is one recorded decision "from ``effective_period`` on, these
owners hold these shares and the module cost this much to build". Rows are never
updated or deleted: the owners in force for a period are those of the newest
decision effective at or before it. :class:`ChargeShare` is the settlement's split
of one charge line's publisher side among the owners in force.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.clock import now
from marketplace.db import Base, UTCDateTime
from marketplace.settlement.models import PERIOD_CANONICAL


class Ownership(Base):
    """One ownership decision of a module, in force from ``effective_period`` until the next."""

    __tablename__ = "module_ownerships"

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(sa.ForeignKey("modules.id"))
    effective_period: Mapped[str] = mapped_column(sa.String(7))
    build_cost_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    recorded_by: Mapped[str] = mapped_column(sa.String(254), default="system")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    owners: Mapped[list["Owner"]] = relationship(order_by="Owner.jurisdiction_code",
                                                 cascade="all, delete-orphan")

    __table_args__ = (
        sa.Index("ix_module_ownerships_module_period", "module_id", "effective_period"),
        sa.CheckConstraint(PERIOD_CANONICAL.replace("period", "effective_period"),
                           name="period_canonical"),
        sa.CheckConstraint("build_cost_minor >= 0", name="build_cost_not_negative"),
    )


class Owner(Base):
    """One owner of an ownership decision: a jurisdiction and its share in basis points."""

    __tablename__ = "module_owners"

    ownership_id: Mapped[int] = mapped_column(sa.ForeignKey("module_ownerships.id"),
                                              primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"),
                                                   primary_key=True)
    share_bps: Mapped[int] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.CheckConstraint("share_bps > 0 AND share_bps <= 10000", name="share_in_range"),
    )


class ChargeShare(Base):
    """One owner's part of a charge line, written at settlement: earnings (of amount − fee) and fee.

    Both are split by the owner's share with :func:`marketplace.governance.shares.split`,
    so over a line's owners Σ earnings = amount − fee and Σ fee = fee, exactly.
    """

    __tablename__ = "charge_shares"

    charge_id: Mapped[int] = mapped_column(sa.ForeignKey("charges.id"), primary_key=True)
    owner_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"), primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(7))
    share_bps: Mapped[int] = mapped_column(sa.Integer)
    earnings_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    fee_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # its part of the line's fee

    __table_args__ = (
        sa.Index("ix_charge_shares_period_owner", "period", "owner_code"),
        sa.CheckConstraint("share_bps > 0 AND share_bps <= 10000", name="share_in_range"),
    )
