"""Terms are compared by value, and an accepted terms proposal releases exactly one version
(DESIGN §13: "the terms of the module's next version")."""
from __future__ import annotations

from tests.governance.proposals_support import GD, PAID, ZJ, fixed_now, world  # noqa: F401
from tests.governance.test_proposals_publish import (_co_own, _publish, _review, _state,
                                                     _terms_proposal)

# the demo manifest's terms (tests/catalog/fixtures/catalog_factory.py) in other spellings:
# other key order, "5000.0" for "5000.00", "0.050" for "0.05", free units written out
SAME_VALUE = {"cap": "5000.0", "free_units": 1000, "model": "graduated", "currency": "CNY",
              "tiers": [{"unit_price": "0.050", "up_to": 10000}, {"unit_price": "0.0200"}],
              "kind": "pay_per_use"}
FEE = {"kind": "transfer", "currency": "CNY", "fee": "99000.0"}
FEE_SPELLED = {"fee": "99000.00", "currency": "CNY", "kind": "transfer"}
PAID_SPELLED = {"unit_price": "0.0500", "model": "per_unit", "currency": "CNY",
                "kind": "pay_per_use", "free_units": 0}


def _admin(factory):
    return factory.headers("admin", "110000", "read admin")


def _proposal(world, pid: int) -> dict:
    return world.get(GD, f"/api/v1/proposals/{pid}").get_json()


def test_the_same_terms_in_another_spelling_are_no_change(world, factory, tmp_path):
    _review(world, _admin(factory), _publish(world, tmp_path, "1.2.0")["version"])
    _co_own(world)
    assert _publish(world, tmp_path, "1.3.0", SAME_VALUE)["state"] == "pending_review"
    assert _publish(world, tmp_path, "1.4.0", FEE)["state"] == "pending_owners"


def test_a_proposal_matches_a_version_by_value(world, factory, tmp_path):
    _review(world, _admin(factory), _publish(world, tmp_path, "1.2.0")["version"])
    _co_own(world)
    assert _publish(world, tmp_path, "1.4.0", FEE_SPELLED)["state"] == "pending_owners"
    pid = _terms_proposal(world, GD, FEE)
    assert world.vote(GD, pid).get_json()["state"] == "accepted"
    assert _state(world, "1.4.0") == "pending_review"
    assert _proposal(world, pid)["released_version"] == "1.4.0"


def test_an_accepted_proposal_releases_one_waiting_version(world, factory, tmp_path):
    admin = _admin(factory)
    _review(world, admin, _publish(world, tmp_path, "1.2.0")["version"])
    _co_own(world)
    assert _publish(world, tmp_path, "1.5.0", PAID)["state"] == "pending_owners"
    assert _publish(world, tmp_path, "1.4.0", PAID_SPELLED)["state"] == "pending_owners"
    pid = _terms_proposal(world, ZJ, PAID)
    assert world.vote(GD, pid).get_json()["state"] == "accepted"
    # the next version (semver) takes the decision; the other one still waits
    assert (_state(world, "1.4.0"), _state(world, "1.5.0")) == ("pending_review", "pending_owners")
    assert _proposal(world, pid)["released_version"] == "1.4.0"
    # the decision is used up: another version with those terms waits too
    assert _publish(world, tmp_path, "1.6.0", PAID)["state"] == "pending_owners"
    # once 1.4.0 is published its terms are the current ones: the same terms are no change
    _review(world, admin, "1.4.0")
    assert (_state(world, "1.5.0"), _state(world, "1.6.0")) == ("pending_review", "pending_review")
    assert _publish(world, tmp_path, "1.7.0", PAID_SPELLED)["state"] == "pending_review"
    # terms that differ again need a new proposal
    assert _publish(world, tmp_path, "1.8.0", FEE)["state"] == "pending_owners"


def test_terms_accepted_before_the_upload_admit_one_version(world, factory, tmp_path):
    _review(world, _admin(factory), _publish(world, tmp_path, "1.2.0")["version"])
    _co_own(world)
    pid = _terms_proposal(world, GD, FEE)
    assert world.vote(GD, pid).get_json()["state"] == "accepted"
    assert _publish(world, tmp_path, "2.0.0", FEE_SPELLED)["state"] == "pending_review"
    assert _proposal(world, pid)["released_version"] == "2.0.0"
    assert _publish(world, tmp_path, "2.1.0", FEE)["state"] == "pending_owners"


def test_a_rejected_release_gives_the_decision_back(world, factory, tmp_path):
    admin = _admin(factory)
    _review(world, admin, _publish(world, tmp_path, "1.2.0")["version"])
    _co_own(world)
    pid = _terms_proposal(world, GD, FEE)
    assert world.vote(GD, pid).get_json()["state"] == "accepted"
    assert _publish(world, tmp_path, "2.0.0", FEE)["state"] == "pending_review"
    refused = world.client.post("/api/v1/reviews/demo-licence/2.0.0",
                                json={"decision": "reject", "reason": "broken"}, headers=admin)
    assert refused.get_json()["state"] == "rejected"
    assert _publish(world, tmp_path, "2.0.1", FEE)["state"] == "pending_review"
    assert _proposal(world, pid)["released_version"] == "2.0.1"


def test_without_review_the_released_terms_are_current_at_once(world, tmp_path, app):
    app.config["REQUIRE_REVIEW"] = False
    assert _publish(world, tmp_path, "1.2.0")["state"] == "published"
    _co_own(world)
    assert _publish(world, tmp_path, "1.4.0", PAID)["state"] == "pending_owners"
    assert _publish(world, tmp_path, "1.5.0", PAID_SPELLED)["state"] == "pending_owners"
    pid = _terms_proposal(world, GD, PAID)
    assert world.vote(GD, pid).get_json()["state"] == "accepted"
    assert (_state(world, "1.4.0"), _state(world, "1.5.0")) == ("published", "published")
