"""Metering: writing usage events (hot path, SQLAlchemy Core only)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from marketplace.clock import now, period_of
from marketplace.metering.models import UsageEvent

_INSERT = sa.insert(UsageEvent)


def record_call(conn: Connection | Session, *, installation_id: int, event_id: str, operation: str,
                units: int, status: str, occurred_at: datetime | None = None,
                duration_ms: int = 0, source: str = "gateway") -> None:
    """Write one usage event of a gateway call (the caller commits)."""
    occurred_at = occurred_at or now()
    conn.execute(_INSERT, {"installation_id": installation_id, "event_id": event_id,
                           "operation": operation, "units": units, "status": status,
                           "occurred_at": occurred_at, "period": period_of(occurred_at),
                           "duration_ms": duration_ms, "source": source, "received_at": now()})
