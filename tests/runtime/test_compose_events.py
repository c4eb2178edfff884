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
