"""Disputes (DESIGN §15): reconciliation, parties only, states, deadlines, audit."""
from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.clock import local_day, parse_instant, period_of
from marketplace.metering.models import UsageDigest, UsageEvent
from tests.settlement.conftest import fix_now

PER_UNIT = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.10"}
# the platform's events: a1…a5 on 10-05, a6…a8 on 10-06 (billable), x1 failed (not billable)
PLATFORM = ([(f"a{i}", "2026-10-05T10:00:00+08:00", "ok") for i in range(1, 6)]
            + [(f"a{i}", "2026-10-06T23:59:00+08:00", "ok") for i in range(6, 9)]
            + [("x1", "2026-10-06T12:00:00+08:00", "error")])
# the adopter's ids: a1…a6 match, a6 twice, z1 z2 unknown to the platform, x1 failed there
ADOPTER = [f"a{i}" for i in range(1, 7)] + ["a6", "z1", "z2", "x1"]


def admin(factory):
    """Headers of a platform administrator."""
    return factory.headers("admin", "110000", "read,admin")


def events(app, installation_id, rows):
    """Write the usage events ``rows`` (id, occurred_at, status) of one installation."""
    with app.app_context():
        session = db.session()
        for event_id, at, status in rows:
            when = parse_instant(at)
            session.add(UsageEvent(installation_id=installation_id, event_id=event_id, operation="op",
                                   units=1, status=status, occurred_at=when, period=period_of(when),
                                   day=local_day(when),
                                   duration_ms=1, source="reported", received_at=when))
        session.commit()


@pytest.fixture
def world(app, market, client, factory):
    """Module ``meter`` by 440000, installed by 440300, October's events sealed and settled."""
    from marketplace.metering.digest import seal_days

    installation = market.install(market.module("meter", "440000", PER_UNIT), "440300")
    market.install(market.module("other", "330000", PER_UNIT), "330100")
    events(app, installation, PLATFORM)
    with app.app_context():
        session = db.session()
        seal_days(session, date(2026, 10, 31))
        session.commit()
    settled = client.post("/api/v1/settlements", headers=admin(factory), json={"period": "2026-10"})
    assert settled.status_code == 200
    return {"installation": installation,
            "adopter": factory.headers("adopter", "440300", "read,usage"),
            "owner": factory.headers("publisher", "440000", "read,usage,publish"),
            "other_adopter": factory.headers("adopter", "330100", "read,usage"),
            "other_publisher": factory.headers("publisher", "330000", "read,usage,publish"),
            "admin": admin(factory)}


def open_json(client, headers, ids=ADOPTER, **extra):
    """POST /api/v1/disputes with evidence ids."""
    body = {"period": "2026-10", "module": "meter", "reason": "we did not make these calls",
            "evidence_ids": ids, **extra}
    return client.post("/api/v1/disputes", headers=headers, json=body)


def digest_of(app, installation, day):
    with app.app_context():
        return db.session().scalar(sa.select(UsageDigest.digest).where(
            UsageDigest.installation_id == installation, UsageDigest.day == day))


def test_reconciliation_of_a_crafted_mix(app, client, world):
    answer = open_json(client, world["adopter"])
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["state"] == "open" and body["owners"] == ["440000"]
    rec = body["reconciliation"]
    assert (rec["matched"], rec["only_platform"], rec["only_adopter"], rec["duplicates"]) == (6, 2, 3, 1)
    assert rec["samples"]["only_platform"] == ["a7", "a8"]
    assert rec["samples"]["only_adopter"] == ["x1", "z1", "z2"]
    assert rec["samples"]["duplicates"] == ["a6"] and rec["undated"] == 3
    assert rec["days"] == [
        {"day": "2026-10-05", "platform": 5, "adopter": 5, "sealed": True,
         "digest": digest_of(app, world["installation"], date(2026, 10, 5))},
        {"day": "2026-10-06", "platform": 3, "adopter": 1, "sealed": True,
         "digest": digest_of(app, world["installation"], date(2026, 10, 6))},
    ]
    assert all(len(day["digest"]) == 64 for day in rec["days"])


def test_sealed_days_carry_their_digest_and_a_day_without_events_null(app, market, client,
                                                                      factory, runner):
    """The nightly `usage seal` seals October's days; a dispute shows each one's digest, and
    a day of the adopter's records with no events of the installation (November) shows null."""
    installation = market.install(market.module("meter", "440000", PER_UNIT), "440300")
    events(app, installation, PLATFORM)
    sealed = runner.invoke(["usage", "seal", "--up-to", "2026-10-31"])
    assert sealed.exit_code == 0, sealed.output
    assert client.post("/api/v1/settlements", headers=admin(factory),
                       json={"period": "2026-10"}).status_code == 200
    csv = "id,occurred_at\na1,2026-10-05T10:00:00+08:00\nlate,2026-11-01T10:00:00+08:00\n"
    answer = client.post("/api/v1/disputes?period=2026-10&module=meter&reason=x",
                         data=csv.encode(), content_type="text/csv",
                         headers=factory.headers("adopter", "440300", "read,usage"))
    assert answer.status_code == 201, answer.get_json()
    found = answer.get_json()["reconciliation"]["days"]
    days = {d["day"]: d["digest"] for d in found}
    assert days == {"2026-10-05": digest_of(app, installation, date(2026, 10, 5)),
                    "2026-10-06": digest_of(app, installation, date(2026, 10, 6)),
                    "2026-11-01": None}                    # no events that day
    assert all(len(days[d]) == 64 for d in ("2026-10-05", "2026-10-06"))
    assert [d["sealed"] for d in found] == [True, True, False]


def test_an_unsealed_day_shows_the_digest_sealing_later_writes(app, market, client, factory):
    """Settling seals nothing: the dispute computes each day's digest by metering's chain
    rule, says ``sealed: false``, and sealing the days afterwards writes exactly those."""
    from marketplace.metering.digest import seal_days

    installation = market.install(market.module("meter", "440000", PER_UNIT), "440300")
    events(app, installation, PLATFORM + [("s1", "2026-09-30T09:00:00+08:00", "ok")])
    with app.app_context():                       # September sealed, October not
        session = db.session()
        seal_days(session, date(2026, 9, 30))
        session.commit()
    assert client.post("/api/v1/settlements", headers=admin(factory),
                       json={"period": "2026-10"}).status_code == 200
    answer = open_json(client, factory.headers("adopter", "440300", "read,usage"))
    assert answer.status_code == 201, answer.get_json()
    found = answer.get_json()["reconciliation"]["days"]
    assert [(d["day"], d["sealed"]) for d in found] == [("2026-10-05", False), ("2026-10-06", False)]
    assert digest_of(app, installation, date(2026, 10, 5)) is None
    with app.app_context():
        session = db.session()
        seal_days(session, date(2026, 10, 31))
        session.commit()
    assert [d["digest"] for d in found] == [digest_of(app, installation, date(2026, 10, 5)),
                                           digest_of(app, installation, date(2026, 10, 6))]
    shown = client.get(f"/api/v1/disputes/{answer.get_json()['id']}", headers=admin(factory))
    assert shown.get_json()["reconciliation"]["days"] == found


def test_a_csv_of_records_dates_and_weighs_the_adopters_side(app, client, world):
    csv = ("id,occurred_at,units\n"
           "a1,2026-10-05T10:00:00+08:00,1\n"
           "a7,2026-10-06T23:59:00+08:00,2\n"       # its units differ from the platform's 1
           "z1,2026-10-07T00:30:00+08:00,\n"        # unknown to the platform, dated 10-07
           "a1,2026-10-05T10:00:00+08:00,1\n")      # a duplicate line
    answer = client.post("/api/v1/disputes", headers=world["adopter"], data={
        "period": "2026-10", "module": "meter", "reason": "our log",
        "records": (io.BytesIO(csv.encode()), "log.csv")},
        content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()
    rec = answer.get_json()["reconciliation"]
    assert (rec["matched"], rec["only_platform"], rec["only_adopter"], rec["duplicates"]) == (2, 6, 1, 1)
    assert rec["units_differ"] == 1 and rec["samples"]["units_differ"] == ["a7"]
    assert [(d["day"], d["platform"], d["adopter"]) for d in rec["days"]] == [
        ("2026-10-05", 5, 1), ("2026-10-06", 3, 1), ("2026-10-07", 0, 1)]
    assert rec["days"][2]["digest"] is None


@pytest.mark.parametrize("csv, words", [
    ("event,units\na1,1\n", "columns"),
    ("id,units\na1,1.5\n", "line 2"),
    ("id,occurred_at\na1,2026-10-05\n", "line 2"),
    ("id,units\na1\n", "line 2"),
    ("id,units,id\na1,1,a1\n", "each once"),
    ("", "empty"),
    ("id\n" + "x" * 101 + "\n", "1 to 100"),
])
def test_a_malformed_csv_is_refused_and_names_the_line(client, world, csv, words):
    answer = client.post("/api/v1/disputes?period=2026-10&module=meter&reason=log",
                         headers={**world["adopter"], "Content-Type": "text/csv"}, data=csv.encode())
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "invalid_evidence" and words in answer.get_json()["message"]


def test_a_usage_report_shaped_csv_under_any_file_field_is_taken(client, world):
    """The CSV's other columns are ignored and the one file may have any field name."""
    csv = ("id,module,operation,units,occurred_at\n"
           "a1,meter,op,1,2026-10-05T10:00:00+08:00\n"
           "z1,meter,op,3,2026-10-07T10:00:00+08:00\n")
    answer = client.post("/api/v1/disputes", headers=world["adopter"], data={
        "period": "2026-10", "module": "meter", "reason": "our log",
        "file": (io.BytesIO(csv.encode()), "usage.csv")}, content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()
    rec = answer.get_json()["reconciliation"]
    assert (rec["matched"], rec["only_platform"], rec["only_adopter"]) == (1, 7, 1)
    assert [(d["day"], d["adopter"]) for d in rec["days"]] == [
        ("2026-10-05", 1), ("2026-10-06", 0), ("2026-10-07", 1)]


@pytest.mark.parametrize("files, words", [
    ({}, "one CSV file"),
    ({"records": b"id\na1\n", "more": b"id\na2\n"}, "not 2"),
])
def test_a_multipart_dispute_needs_exactly_one_file(client, world, files, words):
    data = {"period": "2026-10", "module": "meter", "reason": "our log",
            **{name: (io.BytesIO(body), f"{name}.csv") for name, body in files.items()}}
    answer = client.post("/api/v1/disputes", headers=world["adopter"], data=data,
                         content_type="multipart/form-data")
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "invalid_evidence" and words in answer.get_json()["message"]
    assert client.get("/api/v1/disputes", headers=world["adopter"]).get_json()["items"] == []


@pytest.mark.parametrize("how", ["json", "csv"])
def test_no_evidence_says_every_billable_event_is_only_the_platforms(client, world, how):
    """``evidence_ids: []`` (or a CSV of only its header): "we made none of these calls"."""
    if how == "json":
        answer = open_json(client, world["adopter"], ids=[])
    else:
        answer = client.post("/api/v1/disputes?period=2026-10&module=meter&reason=none",
                             headers={**world["adopter"], "Content-Type": "text/csv"},
                             data=b"id,occurred_at\n")
    assert answer.status_code == 201, answer.get_json()
    rec = answer.get_json()["reconciliation"]
    assert (rec["matched"], rec["only_platform"], rec["only_adopter"]) == (0, 8, 0)
    assert [(d["day"], d["platform"], d["adopter"]) for d in rec["days"]] == [
        ("2026-10-05", 5, 0), ("2026-10-06", 3, 0)]


def test_only_the_parties_see_a_dispute(client, world):
    dispute = open_json(client, world["adopter"]).get_json()["id"]
    for who in ("adopter", "owner", "admin"):
        assert client.get(f"/api/v1/disputes/{dispute}", headers=world[who]).status_code == 200
        listed = client.get("/api/v1/disputes", headers=world[who]).get_json()["items"]
        assert [d["id"] for d in listed] == [dispute]
    for who in ("other_adopter", "other_publisher"):
        answer = client.get(f"/api/v1/disputes/{dispute}", headers=world[who])
        assert answer.status_code == 404 and answer.get_json()["error"] == "no_dispute"
        assert client.get("/api/v1/disputes", headers=world[who]).get_json()["items"] == []
        refused = client.post(f"/api/v1/disputes/{dispute}/answer", headers=world[who],
                              json={"answer": "not ours"})
        assert refused.status_code == 404


def test_states_move_open_answered_resolved_and_are_audited(app, client, world):
    from marketplace.accounts.models import AuditEntry

    dispute = open_json(client, world["adopter"]).get_json()["id"]
    url = f"/api/v1/disputes/{dispute}"
    by_adopter = client.post(f"{url}/answer", headers=world["adopter"], json={"answer": "hm"})
    assert by_adopter.status_code == 403 and by_adopter.get_json()["error"] == "owners_only"
    answered = client.post(f"{url}/answer", headers=world["owner"],
                           json={"answer": "a7 and a8 are in our sealed digest of 10-06"})
    assert answered.status_code == 200 and answered.get_json()["state"] == "answered"
    again = client.post(f"{url}/answer", headers=world["owner"], json={"answer": "again"})
    assert again.status_code == 409 and again.get_json()["error"] == "wrong_state"
    assert client.post(f"{url}/resolve", headers=world["owner"],
                       json={"decision": "uphold"}).status_code == 403
    resolved = client.post(f"{url}/resolve", headers=world["admin"],
                           json={"decision": "adjust", "amount": "-0.20"})
    assert resolved.status_code == 200, resolved.get_json()
    body = resolved.get_json()
    assert body["state"] == "resolved" and body["decision"] == "adjust"
    assert body["adjustment"]["amount"] == "-0.20" and body["adjustment"]["booked_period"] is None
    twice = client.post(f"{url}/resolve", headers=world["admin"], json={"decision": "uphold"})
    assert twice.status_code == 409 and twice.get_json()["error"] == "wrong_state"
    with app.app_context():
        actions = db.session().scalars(sa.select(AuditEntry.action).where(
            AuditEntry.subject == f"dispute:{dispute}").order_by(AuditEntry.id)).all()
    assert actions == ["dispute.open", "dispute.answer", "dispute.resolve"]


def test_resolve_validates_decision_and_amount(client, world):
    dispute = open_json(client, world["adopter"]).get_json()["id"]
    assert client.post(f"/api/v1/disputes/{dispute}/answer", headers=world["owner"],
                       json={"answer": "as billed"}).status_code == 200
    url = f"/api/v1/disputes/{dispute}/resolve"
    for body, error in (({"decision": "maybe"}, "invalid_decision"),
                        ({"decision": "adjust"}, "invalid_amount"),
                        ({"decision": "uphold", "amount": "1.00"}, "invalid_amount"),
                        ({"decision": "adjust", "amount": "-1.00"}, "credit_exceeds_charge"),
                        ({"decision": "adjust", "amount": 1}, "invalid_amount"),
                        ({"decision": "uphold", "why": "x"}, "unknown_field")):
        answer = client.post(url, headers=world["admin"], json=body)
        assert answer.get_json()["error"] == error, (body, answer.get_json())
    upheld = client.post(url, headers=world["admin"], json={"decision": "uphold"})
    assert upheld.get_json()["state"] == "resolved" and upheld.get_json()["adjustment"] is None


def test_an_open_dispute_is_resolved_only_after_the_owners_time_to_answer(app, client, world):
    fix_now(app, "2026-11-05T10:00:00+08:00")
    dispute = open_json(client, world["adopter"]).get_json()["id"]
    url = f"/api/v1/disputes/{dispute}/resolve"
    for decision in ({"decision": "uphold"}, {"decision": "adjust", "amount": "-0.10"}):
        early = client.post(url, headers=world["admin"], json=decision)
        assert early.status_code == 409 and early.get_json()["error"] == "wrong_state"
        assert "2026-11-19T02:00:00+00:00" in early.get_json()["message"]   # opened + 14 days
    fix_now(app, "2026-11-19T10:00:00+08:00")                 # the last instant owners may answer
    assert client.post(url, headers=world["admin"], json={"decision": "uphold"}).status_code == 409
    shown = client.get(f"/api/v1/disputes/{dispute}", headers=world["adopter"]).get_json()
    assert shown["state"] == "open" and shown["adjustment"] is None
    fix_now(app, "2026-11-19T10:00:01+08:00")                 # unanswered in time: admin decides
    late = client.post(url, headers=world["admin"], json={"decision": "adjust", "amount": "-0.10"})
    assert late.status_code == 200, late.get_json()
    assert late.get_json()["state"] == "resolved" and late.get_json()["answer"] is None


def test_the_owners_time_to_answer_is_configured(app, client, world):
    app.config["DISPUTE_ANSWER_DAYS"] = 2
    fix_now(app, "2026-11-05T10:00:00+08:00")
    dispute = open_json(client, world["adopter"]).get_json()["id"]
    url = f"/api/v1/disputes/{dispute}/resolve"
    fix_now(app, "2026-11-07T09:59:59+08:00")
    assert client.post(url, headers=world["admin"], json={"decision": "uphold"}).status_code == 409
    fix_now(app, "2026-11-07T10:00:01+08:00")
    assert client.post(url, headers=world["admin"], json={"decision": "uphold"}).status_code == 200


def test_deadlines_and_refusals(app, client, world):
    assert open_json(client, world["adopter"], extra_field=1).get_json()["error"] == "unknown_field"
    assert open_json(client, world["adopter"], ids="a1").get_json()["error"] == "invalid_evidence"
    assert open_json(client, world["adopter"], ids=[""]).get_json()["error"] == "invalid_evidence"
    unknown = client.post("/api/v1/disputes", headers=world["adopter"], json={
        "period": "2026-10", "module": "other", "reason": "x", "evidence_ids": ["a"]})
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "not_installed"
    fix_now(app, "2026-11-20T00:00:00+08:00")
    open_period = client.post("/api/v1/disputes", headers=world["adopter"], json={
        "period": "2026-11", "module": "meter", "reason": "x", "evidence_ids": ["a"]})
    assert open_period.status_code == 409 and open_period.get_json()["error"] == "not_settled"
    assert open_json(client, world["adopter"]).status_code == 201
    assert open_json(client, world["adopter"]).get_json()["error"] == "dispute_exists"
    fix_now(app, "2026-12-03T09:00:01+08:00")                # closed 11-03 09:00 + 30 days
    late = open_json(client, world["other_adopter"])
    assert late.status_code == 409 and late.get_json()["error"] == "dispute_window_closed"


def test_listing_filters_by_state(client, world):
    open_json(client, world["adopter"])
    assert client.get("/api/v1/disputes?state=resolved", headers=world["admin"]).get_json()["items"] == []
    bad = client.get("/api/v1/disputes?state=closed", headers=world["admin"])
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_state"
