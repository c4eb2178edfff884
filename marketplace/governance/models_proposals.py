"""Joint decisions (联合决策, DESIGN §13): proposals and the votes of the jurisdictions that decide.

A :class:`Proposal` asks the owners of a module to change its owners (``owners``)
or the terms of its next version (``terms``). Every jurisdiction that must
decide gets one :class:`ProposalVote` row when the proposal is made, its
``decision`` empty until a publisher of that jurisdiction votes: a second vote
finds the row taken, so it is refused whatever the timing. ``open_kind`` holds
the kind while the proposal is open and NULL afterwards; the unique
``(module_id, open_kind)`` lets only one open proposal of each kind per module
exist, also when two are made at the same instant.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.clock import now
from marketplace.db import Base, JSONType, UTCDateTime

PROPOSAL_KINDS = ("owners", "terms")
PROPOSAL_STATES = ("open", "accepted", "rejected", "expired")
DECISIONS = ("approve", "reject")


class Proposal(Base):
    """A joint decision asked of a module's owners: new owners and build cost, or new terms."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(sa.ForeignKey("modules.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    state: Mapped[str] = mapped_column(sa.String(10), default="open", index=True)
    # the kind while open, NULL once decided: unique per module (one open proposal per kind)
    open_kind: Mapped[str | None] = mapped_column(sa.String(10))
    # owners: {"owners": [{"code", "share_bps"}], "build_cost_minor": int | None};
    # terms: {"terms": {…the [terms] table…}}
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    proposer_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"))
    proposed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # accepted owners proposals: the period the new owners are in force from
    effective_period: Mapped[str | None] = mapped_column(sa.String(7))
    # bumped by every vote before it reads the proposal: votes on one proposal queue up
    revision: Mapped[int] = mapped_column(default=0)

    votes: Mapped[list["ProposalVote"]] = relationship(
        back_populates="proposal", order_by="ProposalVote.jurisdiction_code",
        cascade="all, delete-orphan")

    __table_args__ = (
        sa.UniqueConstraint("module_id", "open_kind"),
        sa.CheckConstraint("kind in ('owners', 'terms')", name="kind_known"),
        sa.CheckConstraint("state in ('open', 'accepted', 'rejected', 'expired')",
                           name="state_known"),
        sa.CheckConstraint("(state = 'open') = (open_kind IS NOT NULL)", name="open_kind_when_open"),
    )


class ProposalVote(Base):
    """One jurisdiction that must decide a proposal, with its share then and its decision."""

    __tablename__ = "proposal_votes"

    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id"), primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"),
                                                   primary_key=True, index=True)
    # its share among the owners when the proposal was made (0: a proposed new owner)
    share_bps: Mapped[int] = mapped_column(default=0)
    decision: Mapped[str | None] = mapped_column(sa.String(10))
    voted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    voted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    proposal: Mapped[Proposal] = relationship(back_populates="votes")

    __table_args__ = (
        sa.CheckConstraint("decision IS NULL OR decision in ('approve', 'reject')",
                           name="decision_known"),
        sa.CheckConstraint("share_bps >= 0 AND share_bps <= 10000", name="share_in_range"),
    )
