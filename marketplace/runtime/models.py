"""Installations (agreements), idempotent gateway replies, quota counters, the route generation."""
from __future__ import annotations

from datetime import datetime
from itertools import chain

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from marketplace.accounts.models import Jurisdiction
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.clock import now
from marketplace.db import Base, JSONType, UTCDateTime


class Installation(Base):
    """An adopter's acceptance of one module version under a snapshot of its terms."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"), index=True)
    module_id: Mapped[int] = mapped_column(sa.ForeignKey("modules.id"), index=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("module_versions.id"))
    terms: Mapped[dict] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(sa.String(10), default="active")
    config: Mapped[dict] = mapped_column(JSONType, default=dict)
    quota_per_minute: Mapped[int | None] = mapped_column()
    accepted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    module: Mapped[Module] = relationship()
    version: Mapped[ModuleVersion] = relationship()

    __table_args__ = (
        sa.CheckConstraint("state in ('active', 'ended')", name="state_known"),
        sa.Index("uq_installations_active", "jurisdiction_code", "module_id", unique=True,
                 sqlite_where=sa.text("state = 'active'"),
                 postgresql_where=sa.text("state = 'active'")),
    )


class IdempotentReply(Base):
    """An ``Idempotency-Key``: reserved before its call runs, then its first reply (kept 24 h).

    While the call runs, ``status`` is NULL and ``owner`` (the call's event id)
    holds the key until ``lease_until``; a reservation whose call died (its
    process killed) is taken over by the next request once the lease is over.
    """

    __tablename__ = "idempotent_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(sa.String(6))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int | None] = mapped_column()                # NULL: the call is running
    body: Mapped[str] = mapped_column(sa.Text)
    owner: Mapped[str | None] = mapped_column(sa.String(32))   # event id of the reserving call
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    headers: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)

    __table_args__ = (sa.UniqueConstraint("jurisdiction_code", "key"),)


class QuotaCounter(Base):
    """Gateway calls of an installation in its current minute (shared by every worker process)."""

    __tablename__ = "quota_counters"

    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"),
                                                 primary_key=True, autoincrement=False)
    minute: Mapped[int] = mapped_column(sa.BigInteger)     # Unix time // 60
    calls: Mapped[int] = mapped_column(default=0)


class RouteGeneration(Base):
    """One row counting changes to what gateway routes are made of (see ``runtime.routes``).

    Every commit that adds, changes or removes an installation, module, version,
    operation or jurisdiction bumps ``n`` in the same transaction, so a worker
    process holding cached routes learns of any change on its next call (any host).
    """

    __tablename__ = "route_generation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(sa.BigInteger, default=0)


ROUTE_SOURCES = (Installation, Module, ModuleVersion, Operation, Jurisdiction)
_BUMP = sa.update(RouteGeneration.__table__).where(RouteGeneration.__table__.c.id == 1).values(
    n=RouteGeneration.__table__.c.n + 1)


@event.listens_for(Session, "after_flush")
def _bump_route_generation(session: Session, _context) -> None:
    """Bump the generation in the flush's own transaction when a route source changed."""
    if any(isinstance(item, ROUTE_SOURCES)
           for item in chain(session.new, session.dirty, session.deleted)):
        session.connection().execute(_BUMP)
