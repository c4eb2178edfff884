"""Periods, priced charge lines and statements."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.clock import now
from marketplace.db import Base, JSONType, UTCDateTime


# DESIGN §12: a period is stored only as the canonical YYYY-MM of 2000–2999, so no second
# spelling of a month can be settled again (migration 0015 holds the same text).
PERIOD_CANONICAL = (
    "length(period) = 7 AND substr(period, 5, 1) = '-'"
    " AND trim(substr(period, 1, 4), '0123456789') = ''"
    " AND substr(period, 1, 4) BETWEEN '2000' AND '2999'"
    " AND substr(period, 6, 2) IN ('01', '02', '03', '04', '05', '06', '07', '08', '09', '10',"
    " '11', '12')")


class Period(Base):
    """A calendar month in the platform zone: ``open`` until settled, then ``closed``."""

    __tablename__ = "periods"

    period: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(10), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(sa.String(254), default="")
    totals: Mapped[dict] = mapped_column(JSONType, default=dict)

    __table_args__ = (
        sa.CheckConstraint("state in ('open', 'settling', 'closed')", name="state_known"),
        sa.CheckConstraint(PERIOD_CANONICAL, name="period_canonical"),
    )


class Charge(Base):
    """One priced line: what an installation's adopter owes its publisher for a period."""

    __tablename__ = "charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.ForeignKey("periods.period"), index=True)
    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"))
    module_name: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(20))
    adopter_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"), index=True)
    publisher_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"), index=True)
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    units: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    fee_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # DESIGN §15: an ``adjustment`` line names the closed period it corrects ("" otherwise);
    # one line per installation and period, plus one per period it adjusts
    adjusts_period: Mapped[str] = mapped_column(sa.String(7), default="", server_default="")

    __table_args__ = (sa.UniqueConstraint("period", "installation_id", "adjusts_period"),)

    @property
    def earnings_minor(self) -> int:
        """What the publisher earns: the amount less the platform fee."""
        return self.amount_minor - self.fee_minor


class Statement(Base):
    """Per (jurisdiction, period): totals as adopter and as publisher, and provider state."""

    __tablename__ = "statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.ForeignKey("periods.period"), index=True)
    jurisdiction_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"))
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    total_charges_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total_earnings_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total_fees_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    usage_chain_head: Mapped[str] = mapped_column(sa.String(64), default="")
    provider: Mapped[str] = mapped_column(sa.String(20), default="ledger")
    provider_status: Mapped[str] = mapped_column(sa.String(30), default="pending")
    provider_ref: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (sa.UniqueConstraint("period", "jurisdiction_code"),)

    @property
    def net_minor(self) -> int:
        """Earnings less charges (negative: the jurisdiction pays)."""
        return self.total_earnings_minor - self.total_charges_minor


JOURNAL_ACCOUNTS = ("receivable", "payable", "platform_fee", "cash")


class JournalEntry(Base):
    """One double-entry journal line of the ledger provider (append-only)."""

    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(7), index=True)
    account: Mapped[str] = mapped_column(sa.String(20))
    jurisdiction_code: Mapped[str | None] = mapped_column(sa.ForeignKey("jurisdictions.code"))
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    debit_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    credit_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    ref: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (
        sa.Index("ix_journal_entries_jurisdiction_account", "jurisdiction_code", "account"),
        sa.CheckConstraint("account in ('receivable', 'payable', 'platform_fee', 'cash')",
                           name="account_known"),
        sa.CheckConstraint("debit_minor >= 0 and credit_minor >= 0", name="amounts_not_negative"),
    )


class ProviderRecord(Base):
    """One call to a settlement provider, keyed by its idempotency key so it happens once."""

    __tablename__ = "provider_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    object_type: Mapped[str] = mapped_column(sa.String(30))
    period: Mapped[str | None] = mapped_column(sa.String(7), index=True)
    jurisdiction_code: Mapped[str | None] = mapped_column(sa.String(6))
    external_id: Mapped[str] = mapped_column(sa.String(100), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default="requested")
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (
        sa.CheckConstraint("status in ('requested', 'done', 'failed')", name="status_known"),
    )


def period_lock_key(period: str) -> int:
    """PostgreSQL advisory-lock key of a period: usage writers share it, settlement takes it alone."""
    return 0x676D_0000_0000 + int(period.replace("-", ""))  # "gm" namespace + YYYYMM
