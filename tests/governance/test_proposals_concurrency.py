"""Racing proposals and votes against the served app (real gunicorn workers): exactly one wins."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from tests.governance.proposals_support import (NOW, PAID, SH, ZJ, fixed_now,  # noqa: F401
                                                owners_body, world)
from tests.support.concurrency import hammer, live_server  # noqa: F401

RACERS = 6


def _statuses(answers) -> list[tuple[int, str | None]]:
    return sorted((a.status_code, a.json().get("error")) for a in answers)


def test_racing_proposals_make_exactly_one(world, live_server):
    server = live_server(2, MARKETPLACE_NOW=NOW)
    url = f"{server.url}/api/v1/modules/delta-permit/proposals"
    tokens = [world.tokens[ZJ if i % 2 else SH] for i in range(RACERS)]

    def send(session, i):
        return session.post(url, json=owners_body((ZJ, 5000 + i), (SH, 5000 - i)),
                            headers=tokens[i], timeout=60)
    answers = hammer(RACERS, send)
    assert _statuses(answers) == [(201, None)] + [(409, "proposal_open")] * (RACERS - 1)
    assert len([a for a in world.audit_actions() if a[0] == "proposal.create"]) == 1


def test_racing_votes_of_one_jurisdiction_record_exactly_one(world, live_server, factory):
    server = live_server(2, MARKETPLACE_NOW=NOW)
    pid = world.propose(ZJ, {"kind": "terms", "terms": PAID}).get_json()["id"]
    colleagues = [factory.headers("publisher", SH, "read publish") for _ in range(RACERS)]

    def send(session, i):
        decision = "approve" if i % 2 else "reject"
        return session.post(f"{server.url}/api/v1/proposals/{pid}/{decision}",
                            headers=colleagues[i], timeout=60)
    answers = hammer(RACERS, send)
    assert _statuses(answers) == [(200, None)] + [(409, "already_voted")] * (RACERS - 1)
    body = world.get(SH, f"/api/v1/proposals/{pid}").get_json()
    assert len(body["approvals"] + body["rejections"]) == 1 and body["state"] == "open"


def test_racing_deciding_votes_accept_once_and_record_the_owners_once(world, live_server):
    from marketplace.governance.models import Ownership

    server = live_server(2, MARKETPLACE_NOW=NOW)
    pid = world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))).get_json()["id"]
    codes = [ZJ, SH]

    def send(session, i):
        return session.post(f"{server.url}/api/v1/proposals/{pid}/approve",
                            headers=world.tokens[codes[i]], timeout=60)
    answers = hammer(2, send)
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.json()["state"] for a in answers) == ["accepted", "open"]
    assert [a for a in world.audit_actions() if a[0] == "proposal.accepted"] == \
        [("proposal.accepted", f"proposal {pid}")]
    with world.app.app_context():
        rows = db.session().scalars(sa.select(Ownership.effective_period)
                                    .where(Ownership.module_id == world.module_id)).all()
    assert sorted(rows) == ["2026-11", "2026-12"]
