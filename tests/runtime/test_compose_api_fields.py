"""What the API shows of composites (DESIGN §2, §8, §14): every node of an event tree names its
event (``id``), installation and ``parent_event``; the module card lists ``requires`` and an
``adopter_count``. Each answer conforms to the OpenAPI document's schema for its route."""
from __future__ import annotations

import jsonschema
import pytest

from tests.runtime.composites import publish_nested, step
from tests.runtime.conftest import PAY

def conforms(app, path: str, body) -> None:
    """``body`` validates against the 200 schema of GET ``path`` in /api/v1/openapi.json."""
    from marketplace.openapi import spec

    with app.app_context():
        document = spec()
    pointer = ("#/paths/" + path.replace("~", "~0").replace("/", "~1")
               + "/get/responses/200/content/application~1json/schema")
    jsonschema.Draft202012Validator({**document, "$ref": pointer}).validate(body)


@pytest.fixture
def installed(catalog, shenzhen):
    """toy-echo (¥0.01 a unit) ← toy-flow ← toy-outer, all installed for Shenzhen."""
    publish_nested(catalog, PAY)
    assert shenzhen.install("toy-outer", install_dependencies=True).status_code == 201
    listed = shenzhen.client.get("/api/v1/installations", headers=shenzhen.headers).json
    items = listed["items"] if isinstance(listed, dict) else listed
    return {item["module"]: item["id"] for item in items}


def event(adopter, event_id):
    reply = adopter.client.get(f"/api/v1/usage/events/{event_id}", headers=adopter.headers)
    assert reply.status_code == 200, reply.json
    return reply.json


def test_every_node_names_its_event_installation_and_parent(app, installed, shenzhen):
    reply = shenzhen.invoke("toy-outer", "run", {"steps": [step("toy-echo", "echo",
                                                                 {"text": "a"})]})
    assert reply.status_code == 200, reply.json
    root_id = reply.headers["X-Usage-Event"]
    root = event(shenzhen, root_id)
    assert (root["id"], root["event_id"], root["parent_event"]) == (root_id, root_id, None)
    assert root["installation"] == installed["toy-outer"]
    [inner] = root["steps"]
    assert inner["id"] == inner["event_id"] != root_id
    assert (inner["parent_event"], inner["installation"]) == (root_id, installed["toy-flow"])
    [leaf] = inner["steps"]
    assert leaf["id"] == leaf["event_id"] not in (root_id, inner["id"])
    assert (leaf["parent_event"], leaf["installation"]) == (inner["id"], installed["toy-echo"])
    assert leaf["steps"] == []
    conforms(app, "/api/v1/usage/events/{event_id}", root)


def test_a_sub_call_read_on_its_own_still_names_its_composite(app, installed, shenzhen):
    reply = shenzhen.invoke("toy-flow", "run", {"catch": True, "steps": [
        step("toy-echo", "echo", {"text": "a"}), step("toy-echo", "refuse", {})]})
    root_id = reply.headers["X-Usage-Event"]
    steps = event(shenzhen, root_id)["steps"]
    assert [(s["operation"], s["parent_event"], s["installation"]) for s in steps] \
        == [("echo", root_id, installed["toy-echo"]), ("refuse", root_id, installed["toy-echo"])]
    alone = event(shenzhen, steps[0]["id"])
    assert (alone["id"], alone["parent_event"], alone["steps"]) == (steps[0]["id"], root_id, [])
    conforms(app, "/api/v1/usage/events/{event_id}", alone)


def test_a_direct_call_has_no_parent(installed, shenzhen):
    reply = shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    assert reply.status_code == 200, reply.json
    body = event(shenzhen, reply.headers["X-Usage-Event"])
    assert (body["id"], body["parent_event"], body["installation"], body["steps"]) == \
        (reply.headers["X-Usage-Event"], None, installed["toy-echo"], [])


def test_another_jurisdiction_still_gets_404_for_a_sub_call(installed, shenzhen, hangzhou):
    reply = shenzhen.invoke("toy-outer", "run", {"steps": [step("toy-echo", "echo",
                                                                 {"text": "a"})]})
    inner = event(shenzhen, reply.headers["X-Usage-Event"])["steps"][0]
    for event_id in (reply.headers["X-Usage-Event"], inner["id"], inner["steps"][0]["id"]):
        theirs = hangzhou.client.get(f"/api/v1/usage/events/{event_id}", headers=hangzhou.headers)
        assert (theirs.status_code, theirs.json["error"]) == (404, "unknown_event")


def card(client, name: str) -> dict:
    reply = client.get(f"/api/v1/modules/{name}")
    assert reply.status_code == 200, reply.json
    return reply.json


def test_the_card_lists_requires_from_the_manifest(app, client, installed):
    flow = card(client, "toy-flow")
    assert flow["requires"] == [
        {"module": "toy-echo", "operations": ["echo", "crash", "bad_output", "refuse", "hang"]},
        {"interface": "gov.toy", "operations": ["echo"]}]
    assert card(client, "toy-outer")["requires"] == [{"module": "toy-flow",
                                                      "operations": ["run"]}]
    assert card(client, "toy-echo")["requires"] == []
    conforms(app, "/api/v1/modules/{name}", flow)


def test_the_card_counts_adopters_as_a_plain_number(app, client, installed, hangzhou):
    echo = card(client, "toy-echo")
    assert echo["adopter_count"] == echo["adopters"]["count"] == 1
    assert hangzhou.install("toy-echo").status_code == 201
    echo = card(client, "toy-echo")
    assert echo["adopter_count"] == echo["adopters"]["count"] == 2
    assert [j["code"] for j in echo["adopters"]["jurisdictions"]] == ["330100", "440300"]
    conforms(app, "/api/v1/modules/{name}", echo)
