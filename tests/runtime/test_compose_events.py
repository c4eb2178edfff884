"""GET /api/v1/usage/events/{id}: an event and its sub-call tree, the adopter's own only."""
from __future__ import annotations

import pytest

from tests.runtime.composites import publish_nested, step
from tests.runtime.conftest import PAY

@pytest.fixture
def installed(catalog, shenzhen):
    """toy-echo (¥0.01 a unit) ← toy-flow ← toy-outer, all installed for Shenzhen."""
    publish_nested(catalog, PAY)
    return shenzhen.install("toy-outer", install_dependencies=True).json


def event(adopter, event_id):
    return adopter.client.get(f"/api/v1/usage/events/{event_id}", headers=adopter.headers)


def test_an_event_shows_its_steps_with_status_units_and_price(installed, shenzhen):
    reply = shenzhen.invoke("toy-flow", "run", {"catch": True, "steps": [
        step("toy-echo", "echo", {"text": "a"}), step("toy-echo", "refuse", {})]})
    tree = event(shenzhen, reply.headers["X-Usage-Event"])
    assert tree.status_code == 200
    body = tree.json
    assert (body["module"], body["status"], body["units"], body["price"]) == \
        ("toy-flow", "ok", 1, "0.00")
    assert [(s["operation"], s["status"], s["units"], s["price"], s["terms_kind"])
            for s in body["steps"]] == [("echo", "ok", 2, "0.02", "pay_per_use"),
                                        ("refuse", "error", 0, "0.00", "pay_per_use")]
    assert all(s["steps"] == [] for s in body["steps"])


def test_nested_composites_give_a_nested_tree(installed, shenzhen):
    reply = shenzhen.invoke("toy-outer", "run", {"steps": [step("toy-echo", "echo",
                                                                 {"text": "a"})]})
    assert reply.status_code == 200, reply.json
    body = event(shenzhen, reply.headers["X-Usage-Event"]).json
    [inner] = body["steps"]
    assert (inner["module"], [s["module"] for s in inner["steps"]]) == ("toy-flow", ["toy-echo"])


def test_another_jurisdictions_event_is_404_like_a_missing_one(installed, shenzhen, hangzhou):
    reply = shenzhen.invoke("toy-flow", "run", {"steps": []})
    theirs = event(hangzhou, reply.headers["X-Usage-Event"])
    missing = event(hangzhou, "0" * 32)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["error"] == missing.json["error"] == "unknown_event"
    assert event(shenzhen, "x" * 300).status_code == 404


def test_a_failed_step_inside_a_nested_composite_is_located_through_both(installed, shenzhen):
    reply = shenzhen.invoke("toy-outer", "run", {"steps": [step("toy-echo", "refuse", {})]})
    assert (reply.status_code, reply.json["reason"]) == (502, "not_eligible")
    assert reply.json["where"] == "toy-flow/run > toy-echo/refuse"


def installations(adopter) -> dict[str, int]:
    listed = adopter.client.get("/api/v1/installations", headers=adopter.headers).json
    items = listed["items"] if isinstance(listed, dict) else listed
    return {item["module"]: item["id"] for item in items}


def report(adopter, factory, event_id: str, module: str, operation: str, units: int = 7):
    """Self-report one event with ``event_id`` (ids are unique per installation only)."""
    from datetime import datetime, timezone

    headers = {"Authorization": f"Bearer {factory.token(adopter.email, 'usage')}"}
    reply = adopter.client.post("/api/v1/usage", headers=headers, json={"events": [{
        "id": event_id, "module": module, "operation": operation, "units": units,
        "occurred_at": datetime.now(timezone.utc).isoformat()}]})
    assert (reply.status_code, reply.json["accepted"]) == (200, 1), reply.json


def test_a_reported_event_reusing_a_gateway_id_makes_the_lookup_ask_which(installed, shenzhen,
                                                                           factory):
    """hostile3 F2: a reported event with a composite call's id, under another installation,
    no longer shadows the call: without ?installation= the answer is 409 listing both, and
    each ?installation= gives its own event."""
    ids = installations(shenzhen)
    reply = shenzhen.invoke("toy-flow", "run", {"steps": [step("toy-echo", "echo", {"text": "a"})]})
    call = reply.headers["X-Usage-Event"]
    before = event(shenzhen, call).json
    report(shenzhen, factory, call, "toy-echo", "echo")
    ambiguous = event(shenzhen, call)
    assert ambiguous.status_code == 409
    assert ambiguous.json["error"] == "ambiguous_event"
    assert ambiguous.json["installations"] == sorted([ids["toy-flow"], ids["toy-echo"]])
    assert "?installation=" in ambiguous.json["message"]
    gateway = shenzhen.client.get(f"/api/v1/usage/events/{call}?installation={ids['toy-flow']}",
                                  headers=shenzhen.headers)
    assert (gateway.status_code, gateway.json) == (200, before)
    reported = shenzhen.client.get(f"/api/v1/usage/events/{call}?installation={ids['toy-echo']}",
                                   headers=shenzhen.headers)
    assert reported.status_code == 200
    assert (reported.json["installation"], reported.json["module"], reported.json["units"],
            reported.json["parent_event"], reported.json["steps"]) == \
        (ids["toy-echo"], "toy-echo", 7, None, [])   # a reported event has no sub-calls


def test_two_reported_events_with_one_id_are_ambiguous_too(installed, shenzhen, factory):
    ids = installations(shenzhen)
    report(shenzhen, factory, "dupX", "toy-echo", "echo", units=3)
    report(shenzhen, factory, "dupX", "toy-flow", "run", units=4)
    assert event(shenzhen, "dupX").json["installations"] == sorted([ids["toy-echo"],
                                                                    ids["toy-flow"]])
    for module, units in (("toy-echo", 3), ("toy-flow", 4)):
        one = shenzhen.client.get(f"/api/v1/usage/events/dupX?installation={ids[module]}",
                                  headers=shenzhen.headers)
        assert (one.status_code, one.json["module"], one.json["units"]) == (200, module, units)


def test_a_nested_step_is_looked_up_in_its_own_installation(installed, shenzhen, factory):
    """A reported event reusing a sub-call's id neither hides nor replaces that step."""
    ids = installations(shenzhen)
    reply = shenzhen.invoke("toy-outer", "run", {"steps": [step("toy-echo", "echo",
                                                                 {"text": "a"})]})
    root = reply.headers["X-Usage-Event"]
    before = event(shenzhen, root).json
    inner = before["steps"][0]["id"]
    report(shenzhen, factory, inner, "toy-echo", "echo")
    after = event(shenzhen, root)
    assert (after.status_code, after.json) == (200, before)
    assert after.json["steps"][0]["steps"][0]["module"] == "toy-echo"
    assert event(shenzhen, inner).status_code == 409


def test_installation_of_another_tenant_is_404_like_a_missing_id(installed, shenzhen, hangzhou):
    assert hangzhou.install("toy-echo").status_code == 201
    theirs = installations(hangzhou)["toy-echo"]
    mine = installations(shenzhen)
    reply = shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    call = reply.headers["X-Usage-Event"]
    other = hangzhou.invoke("toy-echo", "echo", {"text": "y"}).headers["X-Usage-Event"]
    missing = event(shenzhen, "0" * 32)
    for path in (f"{call}?installation={theirs}", f"{other}?installation={theirs}",
                 f"{call}?installation={mine['toy-flow']}", f"{call}?installation=999999999",
                 f"{call}?installation={2**63 - 1}"):
        answer = shenzhen.client.get(f"/api/v1/usage/events/{path}", headers=shenzhen.headers)
        assert (answer.status_code, answer.json["error"]) == (404, missing.json["error"]), path
    back = hangzhou.client.get(f"/api/v1/usage/events/{call}?installation={mine['toy-echo']}",
                               headers=hangzhou.headers)
    assert (back.status_code, back.json["error"]) == (404, "unknown_event")


def test_a_single_match_answers_as_before_with_or_without_its_installation(installed, shenzhen):
    mine = installations(shenzhen)
    call = shenzhen.invoke("toy-echo", "echo", {"text": "x"}).headers["X-Usage-Event"]
    plain = event(shenzhen, call)
    named = shenzhen.client.get(f"/api/v1/usage/events/{call}?installation={mine['toy-echo']}",
                                headers=shenzhen.headers)
    assert plain.status_code == named.status_code == 200
    assert plain.json == named.json
    assert plain.json["installation"] == mine["toy-echo"]
    for bad in ("abc", "0", "-1", "1.5", "１", "9" * 30, str(2**63),
                f"{mine['toy-echo']}&installation={mine['toy-echo']}"):
        answer = shenzhen.client.get(f"/api/v1/usage/events/{call}?installation={bad}",
                                     headers=shenzhen.headers)
        assert (answer.status_code, answer.json["error"]) == (422, "invalid_query"), bad
