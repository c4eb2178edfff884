"""pending_owners end to end: a co-owned module's version with changed terms waits for the owners."""
from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from marketplace import db
from marketplace.catalog.models import Module
from marketplace.clock import now, period_of
from tests.governance.proposals_support import (GD, PAID, ZJ, fixed_now,  # noqa: F401
                                                world)

sys.path.insert(0, str(Path(__file__).parents[1] / "catalog" / "fixtures"))
from publish_factory import demo_bundle, upload, versioned  # noqa: E402

FREE = {"kind": "free", "currency": "CNY"}


def _publish(world, tmp_path, version: str, terms: dict | None = None) -> dict:
    manifest = versioned(version)
    if terms is not None:
        manifest["terms"] = terms
    answer = upload(world.client, world.tokens[GD], demo_bundle(tmp_path, manifest, folder=version))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _review(world, admin, version: str, expected: int = 200):
    answer = world.client.post(f"/api/v1/reviews/demo-licence/{version}",
                               json={"decision": "approve"}, headers=admin)
    assert answer.status_code == expected, answer.get_json()
    return answer.get_json()


def _co_own(world) -> None:
    """demo-licence owned by 广东 70 % and 浙江 30 % from this period on."""
    from marketplace.governance import shares

    with world.app.app_context():
        session = db.session()
        module_id = session.scalar(sa.select(Module.id).where(Module.name == "demo-licence"))
        shares.set_owners(session, module_id, [(GD, 7000), (ZJ, 3000)], None, period_of(now()),
                          "setup")
        session.commit()


def _terms_proposal(world, code: str, terms: dict) -> int:
    answer = world.propose(code, {"kind": "terms", "terms": terms}, "demo-licence")
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def test_changed_terms_wait_for_the_owners_then_go_to_review(world, factory, tmp_path):
    admin = factory.headers("admin", "110000", "read admin")
    first = _publish(world, tmp_path, "1.2.0")
    _review(world, admin, "1.2.0")
    _co_own(world)
    # the same terms as the current ones: review as usual
    assert _publish(world, tmp_path, "1.3.0")["state"] == "pending_review"
    # other terms: the owners decide first, and the operator cannot review it meanwhile
    assert _publish(world, tmp_path, "1.4.0", PAID)["state"] == "pending_owners"
    refused = _review(world, admin, "1.4.0", 409)
    assert refused["error"] == "not_pending" and "pending_owners" in refused["message"]
    # accepted terms that are not exactly the version's leave it waiting
    other = _terms_proposal(world, GD, FREE)
    assert world.vote(GD, other).get_json()["state"] == "accepted"
    assert _state(world, "1.4.0") == "pending_owners"
    # exactly those terms, approved by owners holding > 50 %: on to review
    pid = _terms_proposal(world, ZJ, PAID)
    assert world.vote(ZJ, pid).get_json()["state"] == "open"          # 30 %
    assert world.vote(GD, pid).get_json()["state"] == "accepted"      # 100 %
    assert _state(world, "1.4.0") == "pending_review"
    assert _review(world, admin, "1.4.0")["state"] == "published"
    # those are now the current terms: the next version with them needs no decision
    assert _publish(world, tmp_path, "1.5.0", PAID)["state"] == "pending_review"
    assert first["state"] == "pending_review"


def test_terms_accepted_before_the_upload_let_it_go_straight_to_review(world, factory, tmp_path):
    admin = factory.headers("admin", "110000", "read admin")
    _publish(world, tmp_path, "1.2.0")
    _review(world, admin, "1.2.0")
    _co_own(world)
    pid = _terms_proposal(world, GD, PAID)
    assert world.vote(GD, pid).get_json()["state"] == "accepted"
    assert _publish(world, tmp_path, "2.0.0", PAID)["state"] == "pending_review"


def test_without_review_accepted_terms_publish_the_waiting_version(world, tmp_path, app):
    app.config["REQUIRE_REVIEW"] = False
    assert _publish(world, tmp_path, "1.2.0")["state"] == "published"
    _co_own(world)
    assert _publish(world, tmp_path, "1.4.0", PAID)["state"] == "pending_owners"
    pid = _terms_proposal(world, GD, PAID)
    assert world.vote(GD, pid).get_json()["state"] == "accepted"
    assert _state(world, "1.4.0") == "published"
    listed = world.client.get("/api/v1/modules/demo-licence").get_json()
    assert "1.4.0" in str(listed)


def test_a_sole_owners_changed_terms_go_to_review_as_before(world, factory, tmp_path):
    admin = factory.headers("admin", "110000", "read admin")
    _publish(world, tmp_path, "1.2.0")
    _review(world, admin, "1.2.0")
    assert _publish(world, tmp_path, "1.4.0", PAID)["state"] == "pending_review"


def _state(world, version: str) -> str:
    from marketplace.catalog.service import find_version

    with world.app.app_context():
        return find_version(db.session(), "demo-licence", version).state


def test_the_console_upload_says_the_version_awaits_the_owners(world, factory, tmp_path):
    import io

    from tests.web.conftest import csrf_of, login, page_text

    admin = factory.headers("admin", "110000", "read admin")
    _publish(world, tmp_path, "1.2.0")
    _review(world, admin, "1.2.0")
    _co_own(world)
    manifest = versioned("1.4.0")
    manifest["terms"] = PAID
    data = demo_bundle(tmp_path, manifest, folder="console")
    client = world.app.test_client()
    login(client, world.emails[GD])
    token = csrf_of(client.get("/publisher/").get_data(as_text=True))
    answer = client.post("/publisher/upload", data={"csrf_token": token, "bundle": (
        io.BytesIO(data), "demo-licence-1.4.0.zip")}, content_type="multipart/form-data",
        follow_redirects=True)
    text = page_text(answer.get_data(as_text=True))
    assert "状态：待共有方决定" in text and "pending_owners" not in text
