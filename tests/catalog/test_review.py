"""Review queue, approve/reject, yank: state changes with reasons, journaled, never deletes."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import manifest_data  # noqa: E402
from publish_factory import audit_rows, count, demo_bundle, upload, versioned  # noqa: E402

from marketplace.catalog.models import ModuleVersion  # noqa: E402

REVIEW = "/api/v1/reviews/demo-licence/1.2.0"
YANK = "/api/v1/modules/demo-licence/1.2.0/yank"


@pytest.fixture
def publisher(factory):
    """Headers of a 广东省 publisher token."""
    return factory.headers("publisher", "440000", "read publish")


@pytest.fixture
def admin(factory):
    """Headers of a platform administrator's token."""
    return factory.headers("admin", "110000", "read admin")


@pytest.fixture
def pending(client, publisher, tmp_path):
    """demo-licence 1.2.0 uploaded and waiting for review."""
    response = upload(client, publisher, demo_bundle(tmp_path))
    assert response.status_code == 201
    return response.get_json()


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["message"]
    return body["error"]


def test_review_queue_lists_pending_versions_with_check_reports(client, admin, pending):
    body = client.get("/api/v1/reviews", headers=admin).get_json()
    assert body["total"] == 1
    [item] = body["items"]
    assert (item["name"], item["version"], item["publisher"]) == ("demo-licence", "1.2.0", "440000")
    assert item["check_report"]["ok"] is True and item["check_report"]["examples_run"] == 2
    assert item["terms"]["kind"] == "pay_per_use"


def test_review_queue_is_for_admins_only(client, publisher, pending):
    assert error_of(client.get("/api/v1/reviews", headers=publisher), 403) == "missing_scope"


def test_approve_publishes_and_is_journaled(app, client, admin, pending):
    response = client.post(REVIEW, headers=admin, json={"decision": "approve", "reason": "ok"})
    assert response.status_code == 200 and response.get_json()["state"] == "published"
    action, actor, subject, detail = audit_rows(app)[-1]
    assert (action, subject, detail) == ("module.approve", "demo-licence 1.2.0", {"reason": "ok"})
    assert actor.startswith("admin")
    assert client.get("/api/v1/reviews", headers=admin).get_json()["total"] == 0


def test_reject_needs_a_reason_and_is_journaled(app, client, admin, pending):
    assert error_of(client.post(REVIEW, headers=admin, json={"decision": "reject"}),
                    400) == "reason_required"
    response = client.post(REVIEW, headers=admin,
                           json={"decision": "reject", "reason": "收费条款不清楚"})
    body = response.get_json()
    assert body["state"] == "rejected" and body["review_reason"] == "收费条款不清楚"
    assert audit_rows(app)[-1][0] == "module.reject"
    assert audit_rows(app)[-1][3] == {"reason": "收费条款不清楚"}
    assert error_of(client.get("/api/v1/modules/demo-licence/1.2.0/bundle"), 404) == \
        "unknown_version"


def test_only_pending_versions_can_be_reviewed(client, admin, pending):
    client.post(REVIEW, headers=admin, json={"decision": "approve"})
    assert error_of(client.post(REVIEW, headers=admin, json={"decision": "reject",
                                                             "reason": "late"}), 409) == "not_pending"


def test_review_refuses_unknown_versions_decisions_and_non_admins(client, admin, publisher,
                                                                   pending):
    assert error_of(client.post("/api/v1/reviews/demo-licence/9.9.9", headers=admin,
                                json={"decision": "approve"}), 404) == "unknown_version"
    assert error_of(client.post(REVIEW, headers=admin, json={"decision": "maybe"}),
                    400) == "invalid_decision"
    assert error_of(client.post(REVIEW, headers=admin, data="approve"), 400) == "invalid_json"
    assert error_of(client.post(REVIEW, headers=publisher, json={"decision": "approve"}),
                    403) == "missing_scope"


def test_rejected_version_does_not_define_its_interface(client, admin, factory, pending,
                                                        tmp_path):
    client.post(REVIEW, headers=admin, json={"decision": "reject", "reason": "no"})
    other = manifest_data()
    other["module"]["name"] = "zj-licence"
    other["operations"][0]["summary"] = "another"
    other["operations"][0]["input"]["properties"]["company"]["minLength"] = 1
    zhejiang = factory.headers("publisher", "330000", "read publish")
    assert upload(client, zhejiang, demo_bundle(tmp_path, other, folder="zj")).status_code == 201


# --- yank -------------------------------------------------------------------------

def test_publisher_yanks_with_a_reason_and_the_version_stays(app, client, admin, publisher,
                                                             pending, tmp_path):
    client.post(REVIEW, headers=admin, json={"decision": "approve"})
    response = client.post(YANK, headers=publisher, json={"reason": "安全漏洞 CVE-2026-1"})
    body = response.get_json()
    assert response.status_code == 200
    assert body["yanked"] is True and body["state"] == "published"
    assert body["yank_reason"] == "安全漏洞 CVE-2026-1"
    action, actor, subject, detail = audit_rows(app)[-1]
    assert (action, subject, detail) == ("module.yank", "demo-licence 1.2.0",
                                         {"reason": "安全漏洞 CVE-2026-1"})
    assert actor.startswith("publisher")
    assert count(app, ModuleVersion) == 1
    download = client.get("/api/v1/modules/demo-licence/1.2.0/bundle")
    assert download.status_code == 200 and download.data == demo_bundle(tmp_path, folder="again")
    again = client.post(YANK, headers=publisher, json={"reason": "twice"})
    assert again.get_json()["yank_reason"] == "安全漏洞 CVE-2026-1"
    assert [a[0] for a in audit_rows(app)].count("module.yank") == 1


def test_yank_needs_a_reason(client, publisher, pending):
    assert error_of(client.post(YANK, headers=publisher, json={}), 400) == "reason_required"


def test_other_jurisdictions_may_not_yank_but_admins_may(client, factory, admin, pending):
    zhejiang = factory.headers("publisher", "330000", "read publish")
    assert error_of(client.post(YANK, headers=zhejiang, json={"reason": "x"}), 403) == "not_owner"
    reader = factory.headers("adopter", "440300", "read")
    assert error_of(client.post(YANK, headers=reader, json={"reason": "x"}), 403) == \
        "missing_scope"
    assert error_of(client.post(YANK, json={"reason": "x"}), 401) == "unauthorized"
    assert client.post(YANK, headers=admin, json={"reason": "policy"}).get_json()["yanked"]


# --- search index kept fresh ------------------------------------------------------

def test_every_state_change_reindexes_the_module(monkeypatch, app, client, admin, publisher,
                                                 tmp_path):
    calls = []
    fake = types.ModuleType("marketplace.catalog.search")
    fake.reindex_module = lambda session, module_id: calls.append(module_id)
    monkeypatch.setitem(sys.modules, "marketplace.catalog.search", fake)
    upload(client, publisher, demo_bundle(tmp_path))
    client.post(REVIEW, headers=admin, json={"decision": "approve"})
    client.post(YANK, headers=publisher, json={"reason": "bug"})
    upload(client, publisher, demo_bundle(tmp_path, versioned("1.2.1"), folder="b"))
    assert calls == [1, 1, 1, 1]
