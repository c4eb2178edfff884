"""The daily digest chain: sealing, chain heads, and detection of tampered events."""
from __future__ import annotations

import hashlib
from datetime import date

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.metering import digest, service, writer
from marketplace.metering.models import UsageDigest, UsageEvent
from tests.metering.conftest import event
from tests.metering.test_ingest import brief

EVENTS = UsageEvent.__table__


@pytest.fixture
def sealed(app, modules):
    """Shenzhen's installation with events on Oct 5, 6 and 8, sealed through Oct 31; yields its id."""
    installation = modules.install(modules.module(), "440300")
    with app.app_context():
        session = db.session()
        service.ingest(session, "440300", [
            event("e1", units=1, occurred_at="2026-10-05T08:00:00+08:00"),
            event("e2", units=2, occurred_at="2026-10-05T09:00:00+08:00"),
            event("e3", units=3, occurred_at="2026-10-06T09:00:00+08:00"),
            event("e4", units=4, occurred_at="2026-10-08T09:00:00+08:00")])
        assert digest.seal_days(session, date(2026, 10, 31)) == 3
        session.commit()
    return installation


def check(app, installation=None):
    """Problems found by verify."""
    with app.app_context():
        return digest.verify(db.session(), installation)


def tamper(app, statement):
    """Change the events table behind the marketplace's back."""
    with app.app_context():
        db.session().execute(statement)
        db.session().commit()


def test_chain_is_the_documented_hash(app, sealed):
    with app.app_context():
        rows = db.session().execute(sa.select(UsageDigest).order_by(UsageDigest.day)).scalars().all()
    first = hashlib.sha256(f"govmarket:{sealed}".encode()).hexdigest()
    assert rows[0].previous == first
    assert rows[0].digest == hashlib.sha256(
        f"{first}\ne1:1:ok\ne2:2:ok".encode()).hexdigest()
    assert [r.previous for r in rows[1:]] == [r.digest for r in rows[:-1]]
    assert [(r.day.isoformat(), r.events, r.units) for r in rows] == [
        ("2026-10-05", 2, 3), ("2026-10-06", 1, 3), ("2026-10-08", 1, 4)]


def test_untouched_events_verify_clean(app, sealed):
    assert check(app) == []


def test_chain_head_is_the_last_sealed_day_of_the_period(app, sealed):
    with app.app_context():
        session = db.session()
        last = session.scalar(sa.select(UsageDigest.digest).where(UsageDigest.day == date(2026, 10, 8)))
        assert digest.chain_head(session, sealed, "2026-10") == last
        assert digest.chain_head(session, sealed, "2026-09") == digest.genesis(sealed)
        assert len(digest.statement_head(session, [sealed], "2026-10")) == 64


def test_detects_an_edited_event(app, sealed):
    tamper(app, sa.update(EVENTS).where(EVENTS.c.event_id == "e3").values(units=30))
    problems = check(app)
    assert [(p.installation_id, p.day, p.kind) for p in problems] == [(sealed, date(2026, 10, 6), "edited")]


def test_detects_a_deleted_event(app, sealed):
    tamper(app, sa.delete(EVENTS).where(EVENTS.c.event_id == "e1"))
    assert [(p.day, p.kind) for p in check(app)] == [(date(2026, 10, 5), "deleted")]


def test_detects_an_inserted_event_on_a_sealed_day_and_on_an_empty_one(app, sealed):
    with app.app_context():
        for event_id, day in (("x1", date(2026, 10, 6)), ("x2", date(2026, 10, 7))):
            writer.insert_new(db.session(), [{
                "installation_id": sealed, "event_id": event_id, "operation": "submit_application",
                "units": 1, "status": "ok", "occurred_at": service._instant(f"{day}T10:00:00+08:00"),
                "period": "2026-10", "day": day, "duration_ms": 0, "source": "reported",
                "received_at": service.now()}])
        db.session().commit()
    assert [(p.day, p.kind) for p in check(app)] == [(date(2026, 10, 6), "inserted"),
                                                     (date(2026, 10, 7), "inserted")]


def test_reported_usage_for_a_sealed_day_is_refused(app, client, factory, sealed):
    headers = factory.headers("adopter", "440300", "usage")
    body = client.post("/api/v1/usage", headers=headers, json={"events": [
        event("late", occurred_at="2026-10-07T10:00:00+08:00")]}).get_json()
    assert brief(body["rejected"]) == [{"index": 0, "id": "late", "reason": "period_closed"}]


def test_sealing_again_adds_only_new_days_and_links_them(app, sealed):
    with app.app_context():
        session = db.session()
        service.ingest(session, "440300", [event("n1", occurred_at="2026-11-02T10:00:00+08:00")])
        assert digest.seal_days(session, date(2026, 11, 2)) == 1
        assert digest.seal_days(session, date(2026, 11, 2)) == 0
        session.commit()
    assert check(app, sealed) == []


def test_today_cannot_be_sealed(app, sealed):
    from marketplace.clock import local_day, now
    from marketplace.errors import MarketplaceError

    with app.app_context(), pytest.raises(MarketplaceError):
        digest.seal_days(db.session(), local_day(now()))
