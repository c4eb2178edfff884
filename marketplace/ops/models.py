"""Tables of operations: bundles kept in the database, daily monitoring rollups."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, JSONType, UTCDateTime


class Artifact(Base):
    """One bundle in the ``db`` artifact store, by sha256."""

    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DailyCalls(Base):
    """Gateway calls of one installation on one day (platform zone), rolled up from usage events.

    ``buckets`` holds cumulative counts of calls at most each bound of
    :data:`marketplace.ops.rollup.BOUNDS_MS`, so percentiles of any sum of rows
    (a module across installations) stay computable.
    """

    __tablename__ = "ops_daily_calls"

    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"),
                                                 primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    calls: Mapped[int] = mapped_column(sa.BigInteger)
    errors: Mapped[int] = mapped_column(sa.BigInteger)
    rejected: Mapped[int] = mapped_column(sa.BigInteger)
    duration_ms: Mapped[int] = mapped_column(sa.BigInteger)     # sum, for the mean
    buckets: Mapped[list] = mapped_column(JSONType)

    __table_args__ = (sa.Index("ix_ops_daily_calls_day", "day"),)


class RolledDay(Base):
    """A day whose rollup is written (and when: days after their end are final)."""

    __tablename__ = "ops_rolled_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
