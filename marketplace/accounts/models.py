"""Tenants, people and machine credentials."""
from __future__ import annotations

from datetime import datetime
from itertools import chain

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from marketplace.clock import now
from marketplace.db import Base, JSONType, UTCDateTime

ROLES = ("publisher", "adopter", "admin")
LEVELS = ("province", "city", "county")
SCOPES = ("read", "publish", "install", "invoke", "usage", "admin")
ROLE_SCOPES = {
    "publisher": {"read", "publish", "usage", "install", "invoke"},
    "adopter": {"read", "install", "invoke", "usage"},
    "admin": set(SCOPES),
}


class Jurisdiction(Base):
    """A tenant: a GB/T 2260 administrative division."""

    __tablename__ = "jurisdictions"

    code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[str] = mapped_column(sa.String(10))
    parent_code: Mapped[str | None] = mapped_column(
        sa.ForeignKey("jurisdictions.code"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    parent: Mapped["Jurisdiction | None"] = relationship(remote_side=[code])

    __table_args__ = (
        sa.CheckConstraint("length(code) = 6", name="code_six_digits"),
        sa.CheckConstraint("level in ('province', 'city', 'county')", name="level_known"),
    )

    @property
    def province_code(self) -> str:
        """The code of the province this division belongs to."""
        return self.code[:2] + "0000"


class User(Base):
    """A person of one jurisdiction with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(10))
    jurisdiction_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    jurisdiction: Mapped[Jurisdiction] = relationship()

    __table_args__ = (
        sa.CheckConstraint("role in ('publisher', 'adopter', 'admin')", name="role_known"),
    )

    # flask-login protocol
    @property
    def is_active(self) -> bool:
        """Inactive users cannot log in."""
        return self.active

    @property
    def is_authenticated(self) -> bool:
        """A loaded user is authenticated."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Loaded users are never anonymous."""
        return False

    def get_id(self) -> str:
        """Session id: the user id plus a password fingerprint, so a password change logs out."""
        return f"{self.id}:{self.password_hash[-12:]}"


class ApiToken(Base):
    """A machine credential: random, shown once, stored as a SHA-256 digest."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    prefix: Mapped[str] = mapped_column(sa.String(12))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def scope_set(self) -> set[str]:
        """The scopes as a set."""
        return set(self.scopes.split())


class AuditEntry(Base):
    """Who did what to which thing, and when. Append-only."""

    __tablename__ = "audit_journal"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(sa.String(254), default="system")
    jurisdiction_code: Mapped[str | None] = mapped_column(sa.String(6))
    action: Mapped[str] = mapped_column(sa.String(50), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    detail: Mapped[dict] = mapped_column(JSONType, default=dict)


class LoginThrottle(Base):
    """Password attempts charged to one key (an address, or an account at an address) in a window.

    The key is a SHA-256 digest, so the table holds neither e-mails nor addresses.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer)


class LoginSession(Base):
    """A console session: the signed cookie holds its secret, this row its digest; logout revokes it."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Who a token stands for: a change to any of these ends every cached authentication.
_CREDENTIAL_FIELDS = {"ApiToken": ("revoked_at", "scopes", "user_id", "token_hash"),
                      "User": ("active", "role", "email", "jurisdiction_code")}
# The runtime's generation row (route_generation id 1): workers compare their cached
# tokens against it on every call, as they do their routes (accounts.auth).
_GENERATION = sa.table("route_generation", sa.column("id"), sa.column("n"))
BUMP_GENERATION = (sa.update(_GENERATION).where(_GENERATION.c.id == 1)
                   .values(n=_GENERATION.c.n + 1))


@event.listens_for(Session, "after_flush")
def _bump_on_credential_change(session: Session, _context) -> None:
    """A revoked token, a disabled user or a changed role reaches every worker at its next call."""
    for item in chain(session.dirty, session.deleted):
        fields = _CREDENTIAL_FIELDS.get(type(item).__name__, ())
        if fields and (item in session.deleted or any(
                sa.inspect(item).attrs[name].history.has_changes() for name in fields)):
            session.connection().execute(BUMP_GENERATION)
            return
