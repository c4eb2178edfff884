"""Joint decisions through the API (DESIGN §13): voting rules, expiry, effective period, audit."""
from __future__ import annotations

import pytest

from tests.governance.proposals_support import (GD, JS, NOW, PAID, SH, ZJ, fixed_now,  # noqa: F401
                                                owners_body, world)

NEXT = "2026-12"


def made(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def ok(response) -> dict:
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refused(response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"] == reason and body["message"], body
    return body


# --- owners: unanimity of old and new owners ------------------------------------------

def test_owners_proposal_needs_every_old_and_new_owner_and_takes_effect_next_period(world):
    body = made(world.propose(ZJ, owners_body((ZJ, 4000), (SH, 3000), (JS, 3000))))
    assert body["state"] == "open" and body["kind"] == "owners"
    assert body["approvals"] == [] and body["needed"] == [SH, JS, ZJ]   # proposing is not voting
    assert body["build_cost"] == "1200000.00" and body["proposer"] == ZJ
    pid = body["id"]
    assert ok(world.vote(ZJ, pid))["state"] == "open"
    after_two = ok(world.vote(SH, pid))
    assert after_two["state"] == "open" and after_two["needed"] == [JS]
    assert sorted(after_two["approvals"]) == [SH, ZJ]
    done = ok(world.vote(JS, pid))
    assert done["state"] == "accepted" and done["needed"] == []
    assert done["effective_period"] == NEXT
    # the period being settled keeps the owners in force at its start
    assert world.owners_in_force(world.module_id, "2026-11") == [(SH, 4000), (ZJ, 6000)]
    assert world.owners_in_force(world.module_id, NEXT) == [(SH, 3000), (JS, 3000), (ZJ, 4000)]
    with world.app.app_context():
        from marketplace import db
        from marketplace.governance import shares
        assert shares.build_cost_minor(db.session(), world.module_id) == 120_000_000


def test_an_owner_dropped_by_the_proposal_must_approve_too(world):
    pid = made(world.propose(ZJ, owners_body((ZJ, 10_000))))["id"]
    assert ok(world.vote(ZJ, pid))["state"] == "open"
    assert ok(world.get(SH, f"/api/v1/proposals/{pid}"))["needed"] == [SH]
    assert ok(world.vote(SH, pid))["state"] == "accepted"
    assert world.owners_in_force(world.module_id, NEXT) == [(ZJ, 10_000)]


def test_one_rejection_rejects_an_owners_proposal_and_changes_no_owner(world):
    pid = made(world.propose(SH, owners_body((ZJ, 4000), (SH, 3000), (JS, 3000))))["id"]
    ok(world.vote(ZJ, pid))
    ok(world.vote(SH, pid))
    body = ok(world.vote(JS, pid, "reject"))
    assert body["state"] == "rejected" and body["rejections"] == [JS]
    assert world.owners_in_force(world.module_id, NEXT) == [(SH, 4000), (ZJ, 6000)]
    refused(world.vote(ZJ, pid, "reject"), 409, "not_open")


# --- terms: more than half of the shares ------------------------------------------------

def test_terms_are_accepted_once_approving_owners_hold_more_than_half(world):
    pid = made(world.propose(SH, {"kind": "terms", "terms": PAID, "note": "涨价"}))["id"]
    assert ok(world.vote(SH, pid))["state"] == "open"              # 40 %
    body = ok(world.vote(ZJ, pid))                                  # 40 % + 60 %
    assert body["state"] == "accepted" and body["terms"] == PAID


def test_terms_accepted_by_a_sixty_percent_owner_alone(world):
    pid = made(world.propose(ZJ, {"kind": "terms", "terms": PAID}))["id"]
    assert ok(world.vote(ZJ, pid))["state"] == "accepted"


def test_terms_rejected_by_owners_holding_half(world):
    module_id = world.add_module("half-half", owners=[(ZJ, 5000), (SH, 5000)])
    assert module_id
    pid = made(world.propose(ZJ, {"kind": "terms", "terms": PAID}, "half-half"))["id"]
    assert ok(world.vote(ZJ, pid))["state"] == "open"               # exactly 50 % is not > 50 %
    assert ok(world.vote(SH, pid, "reject"))["state"] == "rejected"  # 50 % rejecting is enough


def test_a_minority_rejection_leaves_terms_open(world):
    pid = made(world.propose(ZJ, {"kind": "terms", "terms": PAID}))["id"]
    assert ok(world.vote(SH, pid, "reject"))["state"] == "open"     # 40 % < 50 %
    assert ok(world.vote(ZJ, pid))["state"] == "accepted"


# --- one vote each, one open proposal per kind -------------------------------------------

def test_a_jurisdiction_votes_once_whoever_of_it_votes(world, factory):
    pid = made(world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))))["id"]
    ok(world.vote(SH, pid))
    refused(world.vote(SH, pid), 409, "already_voted")
    colleague = factory.headers("publisher", SH, "read publish")
    refused(world.vote(SH, pid, "reject", headers=colleague), 409, "already_voted")
    assert ok(world.get(ZJ, f"/api/v1/proposals/{pid}"))["approvals"] == [SH]


def test_only_one_open_proposal_of_each_kind_per_module(world):
    first = made(world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))))
    refused(world.propose(SH, owners_body((ZJ, 7000), (SH, 3000))), 409, "proposal_open")
    made(world.propose(SH, {"kind": "terms", "terms": PAID}))      # another kind is fine
    refused(world.propose(ZJ, {"kind": "terms", "terms": PAID}), 409, "proposal_open")
    ok(world.vote(SH, first["id"], "reject"))                        # decided: room again
    made(world.propose(SH, owners_body((ZJ, 7000), (SH, 3000))))


# --- expiry after 30 days, by the platform clock ------------------------------------------

def test_an_open_proposal_expires_after_thirty_days(world, fixed_now):
    pid = made(world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))))["id"]
    ok(world.vote(ZJ, pid))
    fixed_now("2026-12-10T09:59:59+08:00")                           # 29 days 23:59:59 later
    assert ok(world.get(SH, f"/api/v1/proposals/{pid}"))["state"] == "open"
    fixed_now("2026-12-10T10:00:00+08:00")                           # 30 days
    assert ok(world.get(SH, "/api/v1/proposals?state=open"))["items"] == []
    expired = ok(world.get(SH, "/api/v1/proposals?state=expired"))["items"]
    assert [p["id"] for p in expired] == [pid] and expired[0]["needed"] == []
    refused(world.vote(SH, pid), 409, "not_open")
    assert world.owners_in_force(world.module_id, "2027-01") == [(SH, 4000), (ZJ, 6000)]
    made(world.propose(SH, owners_body((ZJ, 5000), (SH, 5000))))     # room for a new one
    assert ("proposal.expire", f"proposal {pid}") in world.audit_actions()


def test_expiry_is_recorded_once_whoever_reads_first(world, fixed_now):
    pid = made(world.propose(ZJ, {"kind": "terms", "terms": PAID}))["id"]
    fixed_now("2027-01-01T00:00:00+08:00")
    for code in (ZJ, SH, ZJ):
        assert ok(world.get(code, f"/api/v1/proposals/{pid}"))["state"] == "expired"
    assert world.audit_actions().count(("proposal.expire", f"proposal {pid}")) == 1


# --- the caller's pending decisions ------------------------------------------------------

def test_open_list_holds_the_decisions_awaiting_the_callers_jurisdiction(world):
    pid = made(world.propose(ZJ, owners_body((ZJ, 4000), (SH, 3000), (JS, 3000))))["id"]
    for code in (ZJ, SH, JS):
        assert [p["id"] for p in ok(world.get(code, "/api/v1/proposals"))["items"]] == [pid]
    assert ok(world.get(GD, "/api/v1/proposals"))["items"] == []     # not a party
    ok(world.vote(SH, pid))
    assert ok(world.get(SH, "/api/v1/proposals?state=open"))["items"] == []
    assert [p["id"] for p in ok(world.get(SH, "/api/v1/proposals?state=all"))["items"]] == [pid]
    refused(world.get(SH, "/api/v1/proposals?state=maybe"), 400, "invalid_state")


# --- who may propose, see and vote -------------------------------------------------------

def test_only_publishers_of_parties_propose_see_and_vote(world, factory):
    refused(world.propose(GD, owners_body((GD, 10_000))), 403, "not_a_party")
    adopter = factory.headers("adopter", ZJ, "read install")
    assert world.client.post("/api/v1/modules/delta-permit/proposals", json=owners_body(
        (ZJ, 10_000)), headers=adopter).status_code == 403              # no publish scope
    pid = made(world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))))["id"]
    # non-parties get the answer of a missing proposal (tests/governance/test_proposals_access.py)
    refused(world.get(GD, f"/api/v1/proposals/{pid}"), 404, "unknown_proposal")
    refused(world.vote(GD, pid), 404, "unknown_proposal")
    refused(world.vote(JS, pid), 404, "unknown_proposal")
    admin = factory.headers("admin", "110000", "read publish admin")
    assert ok(world.client.get(f"/api/v1/proposals/{pid}", headers=admin))["id"] == pid
    refused(world.client.post(f"/api/v1/proposals/{pid}/approve", headers=admin), 403,
            "not_a_party")                                              # admins see, never vote
    refused(world.get(ZJ, "/api/v1/proposals/999999"), 404, "unknown_proposal")
    refused(world.vote(ZJ, 999999), 404, "unknown_proposal")
    refused(world.propose(ZJ, owners_body((ZJ, 10_000)), "no-such-module"), 404, "unknown_module")
    no_token = world.client.post(f"/api/v1/proposals/{pid}/approve")
    assert no_token.status_code == 401
    assert ok(world.get(ZJ, f"/api/v1/proposals/{pid}"))["approvals"] == []


# --- every proposal and vote journaled ----------------------------------------------------

def test_proposals_and_votes_are_audited(world):
    pid = made(world.propose(ZJ, owners_body((ZJ, 5000), (SH, 5000))))["id"]
    ok(world.vote(ZJ, pid))
    ok(world.vote(SH, pid, "approve"))
    subject = f"proposal {pid}"
    assert world.audit_actions() == [("proposal.create", subject), ("proposal.approve", subject),
                                     ("proposal.approve", subject), ("proposal.accepted", subject)]


# --- validation (DESIGN §12): every bad body refused, nothing written ------------------------

BAD = [
    ({"kind": "owners", "owners": [{"code": ZJ, "share_bps": 6000}, {"code": SH, "share_bps": 3000}]},
     "invalid_proposal", "sum"),
    (owners_body((ZJ, 5000), (ZJ, 5000)), "invalid_proposal", "twice"),
    (owners_body((ZJ, 10_000), ("999999", 0)), "invalid_proposal", "basis points"),
    (owners_body((ZJ, 5000), ("999999", 5000)), "invalid_proposal", "no jurisdiction"),
    (owners_body((ZJ, 5000), ("31000", 5000)), "invalid_proposal", "six-digit"),
    (owners_body((ZJ, 5000), ("３１００００", 5000)), "invalid_proposal", "six-digit"),
    ({"kind": "owners", "owners": [{"code": ZJ, "share_bps": 10000.0}]}, "invalid_proposal", "whole"),
    ({"kind": "owners", "owners": [{"code": ZJ, "share_bps": True}]}, "invalid_proposal", "whole"),
    ({"kind": "owners", "owners": [{"code": ZJ, "share_bps": "10000"}]}, "invalid_proposal", "whole"),
    ({"kind": "owners", "owners": [{"code": ZJ, "share_bps": 10000, "x": 1}]}, "invalid_proposal",
     "unknown field"),
    ({"kind": "owners", "owners": []}, "invalid_proposal", "list of owners"),
    ({"kind": "owners"}, "invalid_proposal", "required"),
    (owners_body((ZJ, 10_000), build_cost="1200000.001"), "invalid_proposal", "2 decimal"),
    (owners_body((ZJ, 10_000), build_cost="-1.00"), "invalid_proposal", "negative"),
    (owners_body((ZJ, 10_000), build_cost="1000000000001"), "invalid_proposal", "too large"),
    ({**owners_body((ZJ, 10_000)), "build_cost": 1200000}, "invalid_proposal", "string"),
    (owners_body((ZJ, 10_000), build_cost="1,200.00"), "invalid_proposal", "decimal number"),
    ({**owners_body((ZJ, 10_000)), "note": "长" * 1001}, "invalid_proposal", "1,000"),
    ({**owners_body((ZJ, 10_000)), "terms": PAID}, "unknown_field", "terms"),
    ({"kind": "terms", "terms": PAID, "owners": []}, "unknown_field", "owners"),
    ({"kind": "terms", "terms": PAID, "extra": 1}, "unknown_field", "extra"),
    ({"kind": "shares"}, "invalid_proposal", "kind"),
    ({"kind": "terms"}, "invalid_proposal", "required"),
    ({"kind": "terms", "terms": {"kind": "gift"}}, "invalid_terms", "unknown kind"),
    ({"kind": "terms", "terms": {**PAID, "unit_price": 0.05}}, "invalid_terms", "string"),
    ({"kind": "terms", "terms": {**PAID, "free_units": 10**13}}, "invalid_terms", "between"),
    ({"kind": "terms", "terms": {**PAID, "typo": "1"}}, "invalid_terms", "unknown field"),
    ({"kind": "terms", "terms": {"kind": "free", "currency": None}}, "invalid_terms", "null"),
    ({"kind": "terms", "terms": ["free"]}, "invalid_terms", "object"),
]


@pytest.mark.parametrize("body,reason,says", BAD)
def test_bad_proposals_are_refused_with_a_located_message(world, body, reason, says):
    answer = refused(world.propose(ZJ, body), 400, reason)
    assert says in answer["message"] or any(says in d["message"] for d in answer.get("details", ())), \
        answer
    assert world.audit_actions() == []
    assert ok(world.get(ZJ, "/api/v1/proposals?state=all"))["items"] == []


def test_not_json_and_too_large_bodies_are_refused(world):
    answer = world.client.post("/api/v1/modules/delta-permit/proposals", data="kind=owners",
                               headers=world.tokens[ZJ])
    refused(answer, 400, "invalid_json")
    big = {"kind": "terms", "terms": PAID, "note": "x" * 70_000}
    refused(world.propose(ZJ, big), 413, "too_large")
