"""Installations (agreements) and idempotent gateway replies."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.catalog.models import Module, ModuleVersion
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
    """The first reply to a gateway call with an ``Idempotency-Key`` (kept 24 h)."""

    __tablename__ = "idempotent_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(sa.String(6))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(sa.Text)
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
