"""A publisher's ``publish`` token does the whole joint decision (DESIGN §13 names scope
``publish`` for proposing and voting): it also lists its pending decisions and reads a
proposal. ``read`` still reads; an ``admin`` token reads as ``read`` and never votes."""
from __future__ import annotations

from tests.governance.proposals_support import (GD, SH, ZJ, fixed_now,  # noqa: F401
                                                owners_body, world)


def _token(world, code: str, scopes: str) -> dict:
    return {"Authorization": f"Bearer {world.factory.token(world.emails[code], scopes)}"}


def test_a_publish_only_token_lists_shows_and_decides(world):
    zj, sh = _token(world, ZJ, "publish"), _token(world, SH, "publish")
    made = world.client.post(f"/api/v1/modules/{world.module}/proposals", headers=zj,
                             json=owners_body((ZJ, 5000), (SH, 5000)))
    assert made.status_code == 201, made.get_json()
    pid = made.get_json()["id"]
    for headers in (zj, sh):
        listed = world.client.get("/api/v1/proposals?state=open", headers=headers)
        assert listed.status_code == 200, listed.get_json()
        assert [p["id"] for p in listed.get_json()["items"]] == [pid]
        shown = world.client.get(f"/api/v1/proposals/{pid}", headers=headers)
        assert shown.status_code == 200 and shown.get_json()["state"] == "open"
        assert world.vote("", pid, headers=headers).status_code == 200
    assert world.client.get(f"/api/v1/proposals/{pid}", headers=zj).get_json()["state"] \
        == "accepted"


def test_a_read_only_token_reads_but_never_votes(world):
    pid = world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))).get_json()["id"]
    read_only = _token(world, SH, "read")
    listed = world.client.get("/api/v1/proposals", headers=read_only)
    assert [p["id"] for p in listed.get_json()["items"]] == [pid]
    refused = world.vote("", pid, headers=read_only)
    assert refused.status_code == 403 and refused.get_json() == {
        "error": "missing_scope",
        "message": "the token lacks scope 'publish'; issue one with --scopes publish"}


def test_an_admin_only_token_reads_every_open_proposal_and_cannot_vote(world, factory):
    pid = world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))).get_json()["id"]
    admin = factory.headers("admin", "110000", "admin")
    listed = world.client.get("/api/v1/proposals?state=open", headers=admin)
    assert listed.status_code == 200 and [p["id"] for p in listed.get_json()["items"]] == [pid]
    assert world.client.get(f"/api/v1/proposals/{pid}", headers=admin).status_code == 200
    vote = world.vote("", pid, headers=admin)
    assert vote.status_code == 403 and vote.get_json()["error"] == "missing_scope"


def test_tokens_without_read_or_publish_see_no_proposal(world):
    pid = world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))).get_json()["id"]
    for path in ("/api/v1/proposals", f"/api/v1/proposals/{pid}"):
        answer = world.client.get(path, headers=_token(world, SH, "install invoke usage"))
        assert answer.status_code == 403 and answer.get_json()["message"] == (
            "the token lacks scope 'read' or 'publish'; issue one with --scopes read")


def test_non_parties_with_publish_still_learn_nothing(world):
    pid = world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))).get_json()["id"]
    gd = _token(world, GD, "publish")
    assert world.client.get("/api/v1/proposals", headers=gd).get_json()["items"] == []
    assert world.client.get(f"/api/v1/proposals/{pid}", headers=gd).status_code == 404
