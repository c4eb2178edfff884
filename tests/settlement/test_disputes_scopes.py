"""Which tokens reach statements, disputes and usage events (DESIGN §14–§15 name no scope).

An ``admin`` token counts as ``read``: it reads any statement, every dispute and its own
usage events. A publisher's ``publish`` token sees and answers its module's disputes; the
adopter opens one with ``usage`` or ``read``. Visibility stays the parties' (see
test_disputes.py): the scopes only decide who gets past the token check.
"""
from __future__ import annotations

import pytest

PER_UNIT = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.10"}


@pytest.fixture
def settled(app, market, client, factory):
    """Module ``meter`` by 440000, used by 440300 (events e1…e4) and by the administrators'
    jurisdiction 110000 (e5) in October, October settled."""
    version = market.module("meter", "440000", PER_UNIT)
    installation = market.install(version, "440300")
    market.usage(installation, 3, count=4)
    market.usage(market.install(version, "110000"), 1)
    answer = client.post("/api/v1/settlements", json={"period": "2026-10"},
                         headers=factory.headers("admin", "110000", "admin"))
    assert answer.status_code == 200, answer.get_json()
    return installation


def _open(client, headers):
    return client.post("/api/v1/disputes", headers=headers, json={
        "period": "2026-10", "module": "meter", "reason": "we made fewer calls",
        "evidence_ids": ["e1", "e2"]})


def test_an_admin_only_token_reads_statements_and_disputes(client, factory, settled):
    admin = factory.headers("admin", "110000", "admin")
    statement = client.get("/api/v1/statements/2026-10?jurisdiction=440300", headers=admin)
    assert statement.status_code == 200, statement.get_json()
    assert statement.get_json()["total_charges"] == "1.20"
    own = client.get("/api/v1/statements/2026-10", headers=admin)     # its own jurisdiction's
    assert own.status_code == 200 and own.get_json()["total_charges"] == "0.10"
    assert client.get("/api/v1/statements/2026-10?jurisdiction=440300&format=csv",
                      headers=admin).status_code == 200
    opened = _open(client, factory.headers("adopter", "440300", "usage"))
    assert opened.status_code == 201, opened.get_json()
    number = opened.get_json()["id"]
    listed = client.get("/api/v1/disputes", headers=admin)
    assert listed.status_code == 200 and [d["id"] for d in listed.get_json()["items"]] == [number]
    assert client.get(f"/api/v1/disputes/{number}", headers=admin).status_code == 200


def test_a_publish_only_token_sees_and_answers_its_modules_dispute(client, factory, settled):
    opened = _open(client, factory.headers("adopter", "440300", "read"))     # read opens too
    assert opened.status_code == 201, opened.get_json()
    number = opened.get_json()["id"]
    owner = factory.headers("publisher", "440000", "publish")
    assert [d["id"] for d in client.get("/api/v1/disputes", headers=owner).get_json()["items"]] \
        == [number]
    assert client.get(f"/api/v1/disputes/{number}", headers=owner).status_code == 200
    answer = client.post(f"/api/v1/disputes/{number}/answer", json={"answer": "our log agrees"},
                         headers=owner)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["state"] == "answered"


def test_a_read_only_adopter_cannot_answer_and_other_scopes_are_refused(client, factory,
                                                                        settled):
    adopter = factory.headers("adopter", "440300", "read")
    number = _open(client, adopter).get_json()["id"]
    refused = client.post(f"/api/v1/disputes/{number}/answer", json={"answer": "mine"},
                          headers=adopter)
    assert refused.status_code == 403 and refused.get_json()["error"] == "owners_only"
    for scopes in ("invoke", "install", "install invoke usage"):
        owner = factory.headers("publisher", "440000", scopes)
        answer = client.post(f"/api/v1/disputes/{number}/answer", json={"answer": "x"},
                             headers=owner)
        assert answer.status_code == 403, scopes
        assert answer.get_json() == {"error": "missing_scope", "message": (
            "the token lacks scope 'publish' or 'read'; issue one with --scopes publish")}
    stranger = factory.headers("publisher", "330000", "publish")      # the scope, not a party
    assert client.post(f"/api/v1/disputes/{number}/answer", json={"answer": "x"},
                       headers=stranger).status_code == 404
    shown = client.get(f"/api/v1/disputes/{number}", headers=adopter).get_json()
    assert shown["state"] == "open"


def test_opening_needs_usage_or_read(client, factory, settled):
    for scopes in ("invoke", "install", "publish"):
        answer = _open(client, factory.headers("adopter" if scopes != "publish" else "publisher",
                                               "440300", scopes))
        assert answer.status_code == 403 and answer.get_json()["error"] == "missing_scope", scopes
        assert "'usage' or 'read'" in answer.get_json()["message"]


def test_usage_events_read_with_read_usage_invoke_or_admin(client, factory, settled):
    """One's own event by any of the clerk scopes or admin; an admin token sees its own
    jurisdiction's events only (another's is a 404 like a missing one); publish alone is
    refused."""
    for scopes in ("read", "usage", "invoke"):
        answer = client.get("/api/v1/usage/events/e1",
                            headers=factory.headers("adopter", "440300", scopes))
        assert answer.status_code == 200, (scopes, answer.get_json())
        assert answer.get_json()["event_id"] == "e1"
    admin = factory.headers("admin", "110000", "admin")
    own = client.get("/api/v1/usage/events/e5", headers=admin)
    assert own.status_code == 200 and own.get_json()["event_id"] == "e5"
    other = client.get("/api/v1/usage/events/e1", headers=admin)
    assert other.status_code == 404 and other.get_json()["error"] == "unknown_event"
    publish = client.get("/api/v1/usage/events/e1",
                         headers=factory.headers("publisher", "440300", "publish"))
    assert publish.status_code == 403 and publish.get_json()["error"] == "missing_scope"
