"""POST /api/v1/usage (DESIGN §7): validation reasons, dedup, partial success, periods."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.metering.models import UsageEvent
from marketplace.settlement.models import Period
from tests.metering.conftest import event


@pytest.fixture
def adopter(factory, modules):
    """Shenzhen adopter headers, with enterprise-registration installed."""
    version = modules.module()
    modules.install(version, "440300")
    return factory.headers("adopter", "440300", "usage read")


def brief(rejected: list[dict]) -> list[dict]:
    """Rejections without their field and message (checked on their own elsewhere)."""
    return [{k: r[k] for k in ("index", "id", "reason")} for r in rejected]


def post(client, headers, events):
    """Send a batch; returns (status, json)."""
    response = client.post("/api/v1/usage", json={"events": events}, headers=headers)
    return response.status_code, response.get_json()


def stored(app, **where):
    """Rows of usage_events as dicts."""
    with app.app_context():
        query = sa.select(UsageEvent.__table__).order_by(UsageEvent.id)
        for key, value in where.items():
            query = query.where(getattr(UsageEvent, key) == value)
        return [dict(r._mapping) for r in db.session().execute(query)]


def test_accepts_a_batch_and_stores_units_period_and_day(client, app, adopter):
    status, body = post(client, adopter, [event("e1", units=3), event("e2", units=0)])
    assert status == 200
    assert body == {"accepted": 2, "duplicates": 0, "rejected": []}
    rows = stored(app)
    assert [(r["event_id"], r["units"], r["status"], r["period"], r["source"]) for r in rows] == [
        ("e1", 3, "ok", "2026-10", "reported"), ("e2", 0, "ok", "2026-10", "reported")]
    assert rows[0]["day"].isoformat() == "2026-10-05"


def test_same_batch_twice_counts_once(client, app, adopter):
    batch = [event(f"e{i}") for i in range(10)]
    assert post(client, adopter, batch)[1] == {"accepted": 10, "duplicates": 0, "rejected": []}
    assert post(client, adopter, batch)[1] == {"accepted": 0, "duplicates": 10, "rejected": []}
    assert len(stored(app)) == 10


def test_dedup_across_batches_and_inside_one_batch(client, app, adopter):
    post(client, adopter, [event("a"), event("b")])
    status, body = post(client, adopter, [event("b", units=9), event("c"), event("c")])
    assert body == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert {r["event_id"]: r["units"] for r in stored(app)} == {"a": 1, "b": 1, "c": 1}


def test_dedup_is_per_installation(client, app, factory, modules, adopter):
    modules.install(modules.module("social-insurance", operations={"enrol": 1}), "330100")
    hangzhou = factory.headers("adopter", "330100", "usage")
    modules.install(modules.module("other-module", operations={"submit_application": 1}), "440300")
    assert post(client, adopter, [event("same"), event("same", module="other-module")])[1]["accepted"] == 2
    assert post(client, hangzhou, [event("same", module="social-insurance", operation="enrol")])[1][
        "accepted"] == 1


def test_missing_units_take_the_operations_weight(client, app, adopter):
    post(client, adopter, [event("w", operation="query_status", units=None)])
    assert stored(app)[0]["units"] == 2


@pytest.mark.parametrize("bad, reason, where", [
    (event("x", module="no-such-module"), "not_installed", "module"),
    (event("x", operation="no_such_operation"), "unknown_operation", "operation"),
    (event("x", units=-1), "invalid_units", "units"),
    (event("x", units=1.5), "invalid_units", "units"),
    (event("x", units=True), "invalid_units", "units"),
    (event("x", units="3"), "invalid_units", "units"),
    (event("x", occurred_at="2026-10-05T08:00:00"), "invalid", "occurred_at"),
    (event("x", occurred_at="yesterday"), "invalid", "occurred_at"),
    (event("", units=1), "invalid", "id"),
    (event("x" * 101), "invalid", "id"),
    ({"module": "enterprise-registration", "operation": "submit_application", "units": 1,
      "occurred_at": "2026-10-05T08:00:00+08:00"}, "invalid", "id"),
    (event("x", status="maybe"), "invalid", "status"),
    (event("x", duration_ms=-5), "invalid", "duration_ms"),
    ("not an object", "invalid", None),
])
def test_each_rejection_reason_names_the_field_and_what_to_fix(client, app, adopter, bad, reason,
                                                               where):
    status, body = post(client, adopter, [event("good"), bad])
    assert status == 200
    assert body["accepted"] == 1
    [rejection] = body["rejected"]
    message = rejection.pop("message")
    assert rejection == {"index": 1, "id": bad.get("id") if isinstance(bad, dict) else None,
                         "reason": reason, **({"field": where} if where else {})}
    assert message and (where is None or where in message or reason != "invalid")
    assert [r["event_id"] for r in stored(app)] == ["good"]


def test_in_future_beyond_five_minutes(client, app, adopter):
    soon = (datetime.now(timezone.utc) + timedelta(minutes=4)).isoformat()
    later = (datetime.now(timezone.utc) + timedelta(minutes=6)).isoformat()
    status, body = post(client, adopter, [event("soon", occurred_at=soon), event("later", occurred_at=later)])
    assert body["accepted"] == 1
    assert brief(body["rejected"]) == [{"index": 1, "id": "later", "reason": "in_future"}]


def test_period_closed(client, app, adopter):
    with app.app_context():
        db.session().add(Period(period="2026-09", state="closed"))
        db.session().commit()
    status, body = post(client, adopter, [event("sep", occurred_at="2026-09-30T10:00:00+08:00"),
                                          event("oct", occurred_at="2026-10-01T10:00:00+08:00")])
    assert brief(body["rejected"]) == [{"index": 0, "id": "sep", "reason": "period_closed"}]
    assert body["accepted"] == 1


def test_not_installed_before_the_agreement_or_after_it_ended(client, factory, modules):
    since = datetime(2026, 10, 10, tzinfo=timezone.utc)
    modules.install(modules.module(), "440300", since=since,
                    ended_at=datetime(2026, 10, 20, tzinfo=timezone.utc))
    headers = factory.headers("adopter", "440300", "usage")
    body = post(client, headers, [event("before", occurred_at="2026-10-09T00:00:00Z"),
                                  event("during", occurred_at="2026-10-15T00:00:00Z"),
                                  event("after", occurred_at="2026-10-21T00:00:00Z")])[1]
    assert body["accepted"] == 1
    assert [(r["id"], r["reason"]) for r in body["rejected"]] == [
        ("before", "not_installed"), ("after", "not_installed")]


def test_other_jurisdictions_installation_does_not_count(client, factory, modules):
    modules.install(modules.module(), "330100")
    headers = factory.headers("adopter", "440300", "usage")
    assert post(client, headers, [event("x")])[1]["rejected"][0]["reason"] == "not_installed"


def test_period_boundaries_in_the_platform_zone(client, app, adopter):
    post(client, adopter, [event("oct", occurred_at="2026-10-31T23:59:59+08:00"),
                           event("nov", occurred_at="2026-11-01T00:00:00+08:00"),
                           event("utc", occurred_at="2026-10-31T16:00:00Z")])
    rows = {r["event_id"]: (r["period"], r["day"].isoformat()) for r in stored(app)}
    assert rows == {"oct": ("2026-10", "2026-10-31"), "nov": ("2026-11", "2026-11-01"),
                    "utc": ("2026-11", "2026-11-01")}


def test_more_than_a_thousand_events_is_refused_whole(client, app, adopter):
    response = client.post("/api/v1/usage", json={"events": [event(f"e{i}") for i in range(1001)]},
                           headers=adopter)
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_many_events"
    assert stored(app) == []


def test_a_thousand_events_are_fine(client, app, adopter):
    body = post(client, adopter, [event(f"e{i}") for i in range(1000)])[1]
    assert body["accepted"] == 1000


def test_body_must_hold_a_list_of_events(client, adopter):
    response = client.post("/api/v1/usage", json={"events": "nope"}, headers=adopter)
    assert response.status_code == 400
    assert set(response.get_json()) == {"error", "message"}


def test_needs_usage_scope(client, factory, modules):
    modules.install(modules.module(), "440300")
    response = client.post("/api/v1/usage", json={"events": [event("x")]},
                           headers=factory.headers("adopter", "440300", "read"))
    assert response.status_code == 403
    assert client.post("/api/v1/usage", json={"events": []}).status_code == 401


def test_period_closed_by_a_settlement_racing_the_batch_is_rejected(client, app, adopter,
                                                                     monkeypatch):
    """Settlement commits between validation and the write: the event must not slip in."""
    from marketplace.metering import service, writer

    real_insert = writer.insert_new
    engine = app.extensions["db"].engine

    def settle_first(session, rows, **kwargs):
        with engine.begin() as other:        # another process closes September meanwhile
            other.execute(sa.insert(Period.__table__).values(
                period="2026-09", state="closed", closed_by="race", totals={}))
        monkeypatch.setattr(service.writer, "insert_new", real_insert)
        return real_insert(session, rows, **kwargs)

    monkeypatch.setattr(service.writer, "insert_new", settle_first)
    status, body = post(client, adopter, [event("late", occurred_at="2026-09-30T10:00:00+08:00")])
    assert status == 200
    assert body["accepted"] == 0
    assert brief(body["rejected"]) == [{"index": 0, "id": "late", "reason": "period_closed"}]
    assert stored(app, event_id="late") == []


def test_nul_in_an_event_id_rejects_that_event_only(client, app, adopter):
    status, body = post(client, adopter, [event("bad\x00id"), event("good")])
    assert status == 200 and body["accepted"] == 1
    assert brief(body["rejected"]) == [{"index": 0, "id": "bad\x00id", "reason": "invalid"}]


def test_an_event_with_a_field_it_does_not_have_is_rejected_on_its_own(client, app, adopter):
    """README: JSON bodies may not carry fields a route does not list, inside events too."""
    status, body = post(client, adopter, [
        event("parented", parent_event="01a2371979a07cb79e96276b8a752844"),
        event("good", status="ok", duration_ms=5),
        event("foo", foo=1, bar=None),
        event("every-known-field", units=2, status="error", duration_ms=0)])
    assert status == 200
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    first, second = body["rejected"]
    assert {k: first[k] for k in ("index", "id", "reason", "field")} == {
        "index": 0, "id": "parented", "reason": "invalid", "field": "parent_event"}
    assert {k: second[k] for k in ("index", "id", "reason", "field")} == {
        "index": 2, "id": "foo", "reason": "invalid", "field": "foo"}
    assert "parent_event" in first["message"] and "duration_ms" in first["message"]
    assert "foo, bar" in second["message"]
    rows = stored(app)
    assert [r["event_id"] for r in rows] == ["good", "every-known-field"]
    assert all(r["parent_event"] is None for r in rows)


def test_an_unknown_field_is_named_safely_whatever_its_name(client, app, adopter):
    """A long, NUL-bearing or lone-surrogate field name refuses its event with a readable,
    UTF-8 answer (never a 500)."""
    raw = ('{"events":[{"id":"a","module":"enterprise-registration","operation":"submit_application",'
           '"occurred_at":"2026-10-05T08:00:00+08:00","\\ud800x":1,"' + "k" * 5000 + '":2,'
           '"n\\u0000ul":3}, {"id":"b","module":"enterprise-registration",'
           '"operation":"submit_application","occurred_at":"2026-10-05T08:00:00+08:00"}]}')
    response = client.post("/api/v1/usage", data=raw.encode(), headers={
        **adopter, "Content-Type": "application/json"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 1
    [rejection] = body["rejected"]
    assert (rejection["index"], rejection["reason"], rejection["field"]) == (0, "invalid", "\\ud800x")
    assert len(rejection["message"]) < 600 and "kkk…" in rejection["message"]
    assert [r["event_id"] for r in stored(app)] == ["b"]
