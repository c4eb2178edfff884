"""Operational monitoring (运行监测, DESIGN §16): gateway calls per installation and day.

Rolled up from ``usage_events`` by one SQL aggregation per refresh, never one
row per call and never a write on the gateway path. A day is rolled on first
read; a day still open (today, or ended less than ``SETTLE_MARGIN`` ago) is
rolled again when its rollup is older than ``REFRESH``. Latency percentiles
come from cumulative counts at fixed bounds (:data:`BOUNDS_MS`): "p95 ≤ 250 ms".
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from marketplace import clock, db
from marketplace.accounts.models import Jurisdiction
from marketplace.catalog.models import Module, ModuleVersion
from marketplace.errors import MarketplaceError
from marketplace.metering.models import UsageEvent
from marketplace.metering.series import Viewer, visible_to
from marketplace.ops.models import DailyCalls, RolledDay
from marketplace.runtime.models import Installation

BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
REFRESH = timedelta(seconds=60)         # an open day's rollup is at most this old on read
SETTLE_MARGIN = timedelta(minutes=10)   # a call's event is committed within this of its day
MAX_DAYS = 366


def _day_end(day: date) -> datetime:
    """The instant a platform-zone day ends."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), clock.zone())


def stale_days(session: Session, start: date, end: date) -> list[date]:
    """Days of [start, end] (not after today) whose rollup is missing or may have grown."""
    today = clock.local_day(clock.now())
    moment = clock.now()
    rolled = dict(session.execute(sa.select(RolledDay.day, RolledDay.rolled_at).where(
        RolledDay.day.between(start, end))).all())
    days, day = [], start
    while day <= min(end, today):
        at = rolled.get(day)
        if at is None or (at < _day_end(day) + SETTLE_MARGIN and moment - at >= REFRESH):
            days.append(day)
        day += timedelta(days=1)
    return days


def roll(session: Session, start: date, end: date) -> int:
    """Recompute the rollup of every day in [start, end]; rows written (committed)."""
    events = UsageEvent.__table__.c
    status = events.status
    columns = [events.installation_id, events.day, sa.func.count(),
               sa.func.sum(sa.case((status == "error", 1), else_=0)),
               sa.func.sum(sa.case((status == "rejected", 1), else_=0)),
               sa.func.sum(events.duration_ms)]
    columns += [sa.func.sum(sa.case((events.duration_ms <= bound, 1), else_=0))
                for bound in BOUNDS_MS]
    query = (sa.select(*columns)
             # one index range per installation (usage events have no index led by day)
             .where(events.installation_id.in_(sa.select(Installation.id)),
                    events.day.between(start, end), events.source == "gateway")
             .group_by(events.installation_id, events.day))
    rows = [{"installation_id": r[0], "day": r[1], "calls": r[2], "errors": int(r[3] or 0),
             "rejected": int(r[4] or 0), "duration_ms": int(r[5] or 0),
             "buckets": [int(n or 0) for n in r[6:]]} for r in session.execute(query)]
    stamp = clock.now()
    days, day = [], start
    while day <= end:
        days.append({"day": day, "rolled_at": stamp})
        day += timedelta(days=1)
    try:
        with db.sqlite_write_turn(session.connection()):
            session.execute(sa.delete(DailyCalls).where(DailyCalls.day.between(start, end)))
            session.execute(sa.delete(RolledDay).where(RolledDay.day.between(start, end)))
            if rows:
                session.execute(sa.insert(DailyCalls), rows)
            session.execute(sa.insert(RolledDay), days)
            session.commit()
    except IntegrityError:          # another host rolled the same days at the same moment
        session.rollback()
    return len(rows)


def refresh(session: Session, start: date, end: date) -> None:
    """Roll the stale days of [start, end] (one aggregation over their span)."""
    days = stale_days(session, start, end)
    if days:
        roll(session, days[0], days[-1])


def percentile(buckets: list[int], calls: int, q: float) -> int | None:
    """The smallest bound at or under which ``q`` of the calls ended (None: beyond the last)."""
    if calls <= 0:
        return None
    wanted = q * calls
    for bound, under in zip(BOUNDS_MS, buckets):
        if under >= wanted:
            return bound
    return None


def window(start: date | None, end: date | None) -> tuple[date, date]:
    """The days asked for (default: the last 7 days to today), at most MAX_DAYS."""
    today = clock.local_day(clock.now())
    end = end or today
    start = start or end - timedelta(days=6)
    if start > end:
        raise MarketplaceError("invalid_window", "from must not be after to")
    if (end - start).days >= MAX_DAYS:
        raise MarketplaceError("invalid_window", f"ask for at most {MAX_DAYS} days at a time")
    return start, end


def _summary(calls: int, errors: int, rejected: int, duration: int, buckets: list[int]) -> dict:
    """Calls, error rate and latency of a group of rows."""
    return {"calls": calls, "errors": errors, "rejected": rejected,
            "error_rate": round(errors / calls, 4) if calls else 0.0,
            "mean_ms": round(duration / calls, 1) if calls else None,
            "p50_ms": percentile(buckets, calls, 0.50), "p95_ms": percentile(buckets, calls, 0.95)}


def monitoring(session: Session, viewer: Viewer, *, module: str | None = None,
               start: date | None = None, end: date | None = None) -> dict:
    """Per day and installation (and per module) what ``viewer`` may see, rolled up first."""
    start, end = window(start, end)
    refresh(session, start, end)
    query = (sa.select(DailyCalls, Module.name, Installation.jurisdiction_code, Installation.id,
                       ModuleVersion.title, Jurisdiction.name)
             .join(Installation, Installation.id == DailyCalls.installation_id)
             .join(Module, Module.id == Installation.module_id)
             .join(ModuleVersion, ModuleVersion.id == Installation.version_id)
             .join(Jurisdiction, Jurisdiction.code == Installation.jurisdiction_code)
             .where(DailyCalls.day.between(start, end))
             .order_by(DailyCalls.day, Module.name, Installation.jurisdiction_code))
    query = visible_to(viewer, query)
    if module:
        query = query.where(Module.name == module)
    days: list[dict] = []
    modules: dict[tuple, list] = {}
    titles: dict[str, str] = {}
    for row, name, adopter, iid, title, adopter_name in session.execute(query):
        days.append({"day": row.day.isoformat(), "module": name, "title": title,
                     "adopter": adopter, "adopter_name": adopter_name, "installation": iid,
                     **_summary(row.calls, row.errors, row.rejected, row.duration_ms,
                                row.buckets)})
        titles.setdefault(name, title)
        total = modules.setdefault((row.day, name), [0, 0, 0, 0, [0] * len(BOUNDS_MS)])
        for i, value in enumerate((row.calls, row.errors, row.rejected, row.duration_ms)):
            total[i] += value
        total[4] = [a + b for a, b in zip(total[4], row.buckets)]
    per_module = [{"day": day.isoformat(), "module": name, "title": titles[name],
                   **_summary(*total)}
                  for (day, name), total in sorted(modules.items())]
    return {"from": start.isoformat(), "to": end.isoformat(), "bounds_ms": list(BOUNDS_MS),
            "installations": days, "modules": per_module}
