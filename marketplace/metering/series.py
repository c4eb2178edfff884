"""Usage views: series by day or month, aggregated in SQL, filtered by who may see what."""
from __future__ import annotations

import calendar
import io
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace import clock, csvsafe
from marketplace.catalog.models import Module
from marketplace.errors import MarketplaceError
from marketplace.metering.models import UsageEvent
from marketplace.runtime.models import Installation

GRANULARITIES = {"day": "day", "month": "period"}  # granularity → key of each series point
SERIES_FIELDS = ("module", "operation", "adopter", "events", "units")


@dataclass(frozen=True)
class Viewer:
    """Who asks: adopters see their own usage, publishers also their modules' usage, admins all."""

    role: str
    jurisdiction_code: str


def visible_to(viewer: Viewer, query: sa.Select) -> sa.Select:
    """``query`` (joined to Installation and Module) limited to what ``viewer`` may see:
    adopters their own installations, publishers also their modules' adopters, admins all."""
    if viewer.role == "publisher":
        return query.where(sa.or_(Module.publisher_code == viewer.jurisdiction_code,
                                  Installation.jurisdiction_code == viewer.jurisdiction_code))
    if viewer.role != "admin":
        return query.where(Installation.jurisdiction_code == viewer.jurisdiction_code)
    return query


def parse_day(text: str | None, end: bool = False) -> date | None:
    """A ``YYYY-MM-DD`` day, or a ``YYYY-MM`` month (its first day, or last with ``end``)."""
    if not text:
        return None
    try:
        if len(text) == 7:
            year, month = clock.parse_period(text)
            return date(year, month, calendar.monthrange(year, month)[1] if end else 1)
        return clock.parse_day(text)
    except ValueError:
        raise MarketplaceError("invalid_date",
                               f"{text[:40]!r} is not a day like 2026-10-05 or a month like 2026-10 "
                               "(years 2000–2999)") from None


def usage_series(session: Session, viewer: Viewer, *, module: str | None = None,
                 operation: str | None = None, start: date | None = None, end: date | None = None,
                 granularity: str = "day", adopter: str | None = None) -> list[dict]:
    """Events and billable units per bucket, module, operation and adopter, visible to ``viewer``.

    ``units`` counts successful (``ok``) events only, as settlement does; ``events`` counts all.
    """
    if granularity not in GRANULARITIES:
        raise MarketplaceError("invalid_granularity", "granularity must be day or month")
    if start and end and start > end:            # an empty answer would look like "no usage"
        raise MarketplaceError("invalid_range", f"from ({start}) is after to ({end}): "
                               "swap them or widen the range",
                               details=[{"where": "query.from", "message": "after query.to"}])
    events = UsageEvent.__table__.c
    bucket = events.day if granularity == "day" else events.period
    billable = sa.func.sum(sa.case((events.status == "ok", events.units), else_=0))
    query = (sa.select(bucket, Module.name, events.operation, Installation.jurisdiction_code,
                       sa.func.count(), billable)
             .select_from(UsageEvent.__table__)
             .join(Installation, Installation.id == events.installation_id)
             .join(Module, Module.id == Installation.module_id)
             .group_by(bucket, Module.name, events.operation, Installation.jurisdiction_code)
             .order_by(bucket, Module.name, Installation.jurisdiction_code, events.operation))
    query = visible_to(viewer, query)
    if adopter:
        query = query.where(Installation.jurisdiction_code == adopter)
    if module:
        query = query.where(Module.name == module)
    if operation:
        query = query.where(events.operation == operation)
    if start:
        query = query.where(events.day >= start)
    if end:
        query = query.where(events.day <= end)
    key = GRANULARITIES[granularity]
    return [{key: b.isoformat() if isinstance(b, date) else b, "module": m, "operation": o,
             "adopter": a, "events": n, "units": int(u or 0)}
            for b, m, o, a, n, u in session.execute(query)]


def series_csv(points: list[dict], granularity: str = "day") -> str:
    """The series as CSV with a header line."""
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    columns = (GRANULARITIES[granularity], *SERIES_FIELDS)
    writer.writerow(columns)
    for point in points:
        writer.writerow([point[c] for c in columns])
    return out.getvalue()
