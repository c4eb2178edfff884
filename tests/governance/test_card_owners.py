"""The module card after an accepted owners proposal (DESIGN §13): owners and build cost are
both those in force by the platform clock; the accepted change shows beside them as
``next_owners``, ``next_build_cost`` and ``owners_effective_period`` until its period starts."""
from __future__ import annotations

import jsonschema

from tests.governance.proposals_support import (JS, SH, ZJ, fixed_now,  # noqa: F401
                                                owners_body, world)

NEXT = "2026-12"
NAMES = {ZJ: "浙江省", SH: "上海市", JS: "江苏省"}


def card(world) -> dict:
    reply = world.client.get(f"/api/v1/modules/{world.module}")
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    _conforms(world.app, body)
    return body


def _conforms(app, body: dict) -> None:
    """The card validates against the OpenAPI document's schema of GET /api/v1/modules/{name}."""
    from marketplace.openapi import spec

    with app.app_context():
        document = spec()
    pointer = "#/paths/~1api~1v1~1modules~1{name}/get/responses/200/content/application~1json/schema"
    jsonschema.Draft202012Validator({**document, "$ref": pointer}).validate(body)


def listed(*owners: tuple[str, int]) -> list[dict]:
    return [{"code": code, "name": NAMES[code], "share_bps": bps} for code, bps in sorted(owners)]


def accept(world, body: dict) -> dict:
    made = world.propose(ZJ, body)
    assert made.status_code == 201, made.get_json()
    pid = made.get_json()["id"]
    for code in made.get_json()["needed"]:
        reply = world.vote(code, pid)
        assert reply.status_code == 200, reply.get_json()
    decided = reply.get_json()
    assert decided["state"] == "accepted" and decided["effective_period"] == NEXT
    return decided


def test_without_a_pending_change_the_card_has_no_next_fields(world):
    body = card(world)
    assert body["owners"] == listed((ZJ, 6000), (SH, 4000))
    assert body["build_cost"] == "1000000.00"
    assert not {"next_owners", "next_build_cost", "owners_effective_period"} & set(body)


def test_right_after_acceptance_the_card_shows_both_old_values_and_the_pending_ones(world,
                                                                                   fixed_now):
    accept(world, owners_body((ZJ, 4000), (SH, 3000), (JS, 3000), build_cost="1200000.00"))
    body = card(world)
    assert body["owners"] == listed((ZJ, 6000), (SH, 4000))
    assert body["build_cost"] == "1000000.00"
    assert body["next_owners"] == listed((ZJ, 4000), (SH, 3000), (JS, 3000))
    assert body["next_build_cost"] == "1200000.00"
    assert body["owners_effective_period"] == NEXT
    fixed_now("2026-11-30T23:59:59+08:00")      # still November in the platform zone
    assert card(world)["owners_effective_period"] == NEXT
    fixed_now("2026-12-01T00:00:00+08:00")      # the next period has started
    body = card(world)
    assert body["owners"] == listed((ZJ, 4000), (SH, 3000), (JS, 3000))
    assert body["build_cost"] == "1200000.00"
    assert not {"next_owners", "next_build_cost", "owners_effective_period"} & set(body)


def test_a_proposal_without_a_build_cost_keeps_it_in_the_pending_change(world, fixed_now):
    accept(world, owners_body((ZJ, 10_000), build_cost=None))
    body = card(world)
    assert (body["owners"], body["build_cost"]) == (listed((ZJ, 6000), (SH, 4000)), "1000000.00")
    assert (body["next_owners"], body["next_build_cost"]) == (listed((ZJ, 10_000)), "1000000.00")
    fixed_now("2026-12-15T09:00:00+08:00")
    body = card(world)
    assert (body["owners"], body["build_cost"]) == (listed((ZJ, 10_000)), "1000000.00")
    assert "next_owners" not in body


def test_the_module_page_still_renders_with_a_pending_change(world):
    accept(world, owners_body((ZJ, 4000), (SH, 3000), (JS, 3000)))
    page = world.client.get(f"/modules/{world.module}")
    assert page.status_code == 200
