"""Installations as agreements over the JSON API."""
from __future__ import annotations

import sys

from marketplace.runtime.loader import import_name
from tests.runtime.conftest import PAY, PAY_MORE, SAMPLES, usage_rows


def test_install_freezes_terms_and_answers_201(catalog, shenzhen):
    catalog.toy(terms=PAY)
    reply = shenzhen.install("toy-echo", "1.0.0")
    assert reply.status_code == 201, reply.json
    body = reply.json
    assert body["module"] == "toy-echo" and body["version"] == "1.0.0"
    assert body["state"] == "active" and body["terms"]["kind"] == "pay_per_use"
    assert body["terms"]["unit_price"] == "0.01"


def test_install_without_version_picks_newest_published_not_yanked(catalog, shenzhen):
    catalog.toy(version="1.0.0")
    catalog.toy(version="1.10.0")
    catalog.toy(version="1.9.0")
    catalog.toy(version="2.0.0", yanked=True)
    catalog.toy(version="3.0.0", state="pending_review")
    assert shenzhen.install("toy-echo").json["version"] == "1.10.0"


def test_install_refusals(catalog, shenzhen):
    catalog.toy(version="1.0.0")
    catalog.toy(version="1.1.0", yanked=True)
    catalog.toy(version="1.2.0", state="pending_review")
    cases = [
        ({"module": "toy-echo", "accept_terms": False}, 400, "accept_terms_required"),
        ({"module": "toy-echo", "accept_terms": "yes"}, 400, "accept_terms_required"),
        ({"module": "no-such-module", "accept_terms": True}, 404, "unknown_module"),
        ({"module": "toy-echo", "version": "9.9.9", "accept_terms": True}, 404, "unknown_version"),
        ({"module": "toy-echo", "version": "1.1.0", "accept_terms": True}, 409, "version_yanked"),
        ({"module": "toy-echo", "version": "1.2.0", "accept_terms": True}, 409, "not_published"),
    ]
    for body, status, reason in cases:
        reply = shenzhen.client.post("/api/v1/installations", json=body, headers=shenzhen.headers)
        assert (reply.status_code, reply.json["error"]) == (status, reason), body
        assert reply.json["message"]
    assert shenzhen.install("toy-echo", "1.0.0").status_code == 201
    again = shenzhen.install("toy-echo", "1.0.0")
    assert (again.status_code, again.json["error"]) == (409, "already_installed")


def test_accept_terms_required_shows_the_terms(catalog, shenzhen):
    catalog.toy(terms=PAY)
    reply = shenzhen.install("toy-echo", accept_terms=False)
    assert reply.json["terms"]["unit_price"] == "0.01"


def test_install_needs_install_scope(catalog, client, factory):
    catalog.toy()
    headers = factory.headers("adopter", "440300", "read invoke")
    reply = client.post("/api/v1/installations", json={"module": "toy-echo", "accept_terms": True},
                        headers=headers)
    assert (reply.status_code, reply.json["error"]) == (403, "missing_scope")
    assert client.get("/api/v1/installations").status_code == 401


def test_change_version_keeps_agreement_when_terms_equal(catalog, shenzhen):
    catalog.toy(version="1.0.0", terms=PAY)
    catalog.toy(version="1.1.0", terms=PAY)
    first = shenzhen.install("toy-echo", "1.0.0").json
    reply = shenzhen.client.patch(f"/api/v1/installations/{first['id']}", json={"version": "1.1.0"},
                                  headers=shenzhen.headers)
    assert reply.status_code == 200, reply.json
    assert reply.json["version"] == "1.1.0" and reply.json["id"] == first["id"]
    assert reply.json["accepted_at"] == first["accepted_at"]
    down = shenzhen.client.patch(f"/api/v1/installations/{first['id']}",
                                 json={"version": "1.0.0"}, headers=shenzhen.headers)
    assert down.json["version"] == "1.0.0"


def test_change_version_with_new_terms_needs_acceptance(catalog, shenzhen):
    catalog.toy(version="1.0.0", terms=PAY)
    catalog.toy(version="2.0.0", terms=PAY_MORE)
    first = shenzhen.install("toy-echo", "1.0.0").json
    url = f"/api/v1/installations/{first['id']}"
    refused = shenzhen.client.patch(url, json={"version": "2.0.0"}, headers=shenzhen.headers)
    assert (refused.status_code, refused.json["error"]) == (409, "terms_changed")
    assert refused.json["terms"]["unit_price"] == "0.02"
    unchanged = shenzhen.client.get(url, headers=shenzhen.headers).json
    assert unchanged["version"] == "1.0.0" and unchanged["terms"]["unit_price"] == "0.01"
    accepted = shenzhen.client.patch(url, json={"version": "2.0.0", "accept_terms": True},
                                     headers=shenzhen.headers)
    assert accepted.status_code == 200
    assert accepted.json["terms"]["unit_price"] == "0.02"


def test_change_version_refuses_yanked(catalog, shenzhen):
    catalog.toy(version="1.0.0")
    catalog.toy(version="1.1.0", yanked=True)
    first = shenzhen.install("toy-echo", "1.0.0").json
    reply = shenzhen.client.patch(f"/api/v1/installations/{first['id']}",
                                  json={"version": "1.1.0"}, headers=shenzhen.headers)
    assert (reply.status_code, reply.json["error"]) == (409, "version_yanked")


def test_uninstall_ends_agreement_keeps_usage_and_allows_reinstall(app, catalog, shenzhen):
    catalog.toy()
    first = shenzhen.install("toy-echo").json
    assert shenzhen.invoke("toy-echo", "echo", {"text": "hi"}).status_code == 200
    reply = shenzhen.client.delete(f"/api/v1/installations/{first['id']}", headers=shenzhen.headers)
    assert reply.status_code == 200
    assert reply.json["state"] == "ended" and reply.json["ended_at"]
    assert [e.status for e in usage_rows(app, first["id"])] == ["ok"]
    assert shenzhen.invoke("toy-echo", "echo", {"text": "hi"}).status_code == 404
    listed = shenzhen.client.get("/api/v1/installations", headers=shenzhen.headers).json["items"]
    assert listed == []
    everything = shenzhen.client.get("/api/v1/installations?state=all",
                                     headers=shenzhen.headers).json["items"]
    assert [i["state"] for i in everything] == ["ended"]
    assert shenzhen.install("toy-echo").status_code == 201


def test_lifecycle_hooks_fire_and_their_errors_are_not_fatal(app, catalog, shenzhen):
    app.config["SANDBOX"] = "thread"    # to read LIFECYCLE here; the sandbox path: test_sandbox_pool
    version_id = catalog.toy()
    item = shenzhen.install("toy-echo").json
    with app.app_context():
        from marketplace import db
        from marketplace.catalog.models import ModuleVersion

        sha = db.session().get(ModuleVersion, version_id).sha256
    events = sys.modules[import_name(sha)].LIFECYCLE
    assert ("installed", item["id"]) in events
    reply = shenzhen.client.delete(f"/api/v1/installations/{item['id']}", headers=shenzhen.headers)
    assert reply.status_code == 200          # module_uninstalled raised; uninstall still done
    assert ("uninstalled", item["id"]) in events


def test_health_calls_module_health(catalog, shenzhen):
    catalog.toy(version="1.3.0")
    item = shenzhen.install("toy-echo").json
    reply = shenzhen.client.get(f"/api/v1/installations/{item['id']}/health",
                                headers=shenzhen.headers)
    assert reply.status_code == 200
    assert reply.json == {"installation": item["id"], "status": "ok", "version": "1.3.0"}


def test_tenant_isolation_of_installations(catalog, shenzhen, hangzhou):
    catalog.toy()
    mine = shenzhen.install("toy-echo").json
    assert hangzhou.install("toy-echo").status_code == 201       # its own agreement
    url = f"/api/v1/installations/{mine['id']}"
    for method in ("get", "delete"):
        reply = getattr(hangzhou.client, method)(url, headers=hangzhou.headers)
        assert (reply.status_code, reply.json["error"]) == (404, "unknown_installation")
    patch = hangzhou.client.patch(url, json={"version": "1.0.0"}, headers=hangzhou.headers)
    assert patch.status_code == 404
    health = hangzhou.client.get(url + "/health", headers=hangzhou.headers)
    assert health.status_code == 404
    ids = [i["id"] for i in hangzhou.client.get("/api/v1/installations",
                                                headers=hangzhou.headers).json["items"]]
    assert mine["id"] not in ids and len(ids) == 1
    assert shenzhen.client.get(url, headers=shenzhen.headers).json["state"] == "active"


def test_switch_implementation_of_a_shared_interface(app, catalog, shenzhen):
    catalog.toy("toy-echo", implements="gov.toy-echo")
    catalog.toy("other-echo", version="2.0.0", implements="gov.toy-echo")
    catalog.toy("unrelated", implements="gov.something-else")
    old = shenzhen.install("toy-echo").json
    first = shenzhen.invoke("gov.toy-echo", "echo", {"text": "a"}, interface=True)
    assert first.status_code == 200 and first.json["version"] == "1.0.0"
    url = f"/api/v1/installations/{old['id']}"
    wrong = shenzhen.client.patch(url, json={"module": "unrelated", "accept_terms": True},
                                  headers=shenzhen.headers)
    assert (wrong.status_code, wrong.json["error"]) == (409, "not_same_interface")
    no_terms = shenzhen.client.patch(url, json={"module": "other-echo"}, headers=shenzhen.headers)
    assert (no_terms.status_code, no_terms.json["error"]) == (400, "accept_terms_required")
    assert shenzhen.client.get(url, headers=shenzhen.headers).json["state"] == "active"
    reply = shenzhen.client.patch(url, json={"module": "other-echo", "accept_terms": True},
                                  headers=shenzhen.headers)
    assert reply.status_code == 201, reply.json
    assert reply.json["module"] == "other-echo" and reply.json["replaced"]["state"] == "ended"
    after = shenzhen.invoke("gov.toy-echo", "echo", {"text": "b"}, interface=True)
    assert after.status_code == 200 and after.json["version"] == "2.0.0"
    assert after.json["installation"] == reply.json["id"]
    assert shenzhen.invoke("toy-echo", "echo", {"text": "c"}).status_code == 404
    assert [e.status for e in usage_rows(app, old["id"])] == ["ok"]


def test_two_implementations_of_one_interface_are_never_picked_silently(app, catalog, shenzhen):
    catalog.toy("toy-echo", implements="gov.toy-echo")
    catalog.toy("other-echo", version="2.0.0", implements="gov.toy-echo")
    first = shenzhen.install("toy-echo").json
    assert shenzhen.invoke("gov.toy-echo", "echo", {"text": "a"}, interface=True).status_code == 200
    second = shenzhen.install("other-echo").json
    before = len(usage_rows(app))
    both = shenzhen.invoke("gov.toy-echo", "echo", {"text": "b"}, interface=True)
    assert (both.status_code, both.json["error"]) == (409, "ambiguous_interface")
    assert "/api/v1/invoke/MODULE/OPERATION" in both.json["message"]
    assert len(usage_rows(app)) == before                     # nothing ran, nothing metered
    by_name = shenzhen.invoke("other-echo", "echo", {"text": "c"})
    assert by_name.status_code == 200 and by_name.json["installation"] == second["id"]
    shenzhen.client.delete(f"/api/v1/installations/{second['id']}", headers=shenzhen.headers)
    again = shenzhen.invoke("gov.toy-echo", "echo", {"text": "d"}, interface=True)
    assert again.status_code == 200 and again.json["installation"] == first["id"]


def test_sample_module_published_through_the_publish_service(catalog, shenzhen):
    catalog.publish_via_service(SAMPLES / "resident-id-verification")
    assert shenzhen.install("resident-id-verification").status_code == 201
    reply = shenzhen.invoke("resident-id-verification", "verify_id",
                            {"id_number": "11010519491231002X", "as_of": "2026-10-01"})
    assert reply.status_code == 200, reply.json
    assert reply.json["valid"] is True and reply.json["age"] == 76
    assert reply.headers["X-Usage-Units"] == "1"
