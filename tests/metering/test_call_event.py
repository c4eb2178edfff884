"""The gateway's event writer derives period and day in the platform zone."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.clock import parse_instant
from marketplace.metering.models import UsageEvent
from marketplace.metering.service import call_event
from marketplace.runtime.commits import CallWrite, GroupCommit
from marketplace.runtime.routes import statements


def test_gateway_events_fall_in_the_platform_zone_period_and_day(app, modules):
    installation = modules.install(modules.module())
    engine = app.extensions["db"].engine
    commits = GroupCommit(engine, statements(engine.dialect))     # the gateway's own writer
    connection = engine.raw_connection()
    try:
        for event_id, when in [("last", "2026-10-31T23:59:59+08:00"),
                               ("first", "2026-11-01T00:00:00+08:00")]:
            commits.write(connection, CallWrite(call_event(
                installation_id=installation, event_id=event_id, operation="submit_application",
                units=1, status="ok", occurred_at=parse_instant(when))))
    finally:
        connection.close()
    with app.app_context():
        rows = db.session().execute(
            sa.select(UsageEvent.event_id, UsageEvent.period, UsageEvent.day,
                      UsageEvent.occurred_at).order_by(UsageEvent.event_id)).all()
    assert [(r.event_id, r.period, r.day.isoformat()) for r in rows] == [
        ("first", "2026-11", "2026-11-01"), ("last", "2026-10", "2026-10-31")]
    assert rows[1].occurred_at == parse_instant("2026-10-31T23:59:59+08:00")  # stored as UTC
