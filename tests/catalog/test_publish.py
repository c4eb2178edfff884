"""POST /api/v1/modules end to end: every publish-time check, immutability, ownership, storage."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import (GOOD_INIT, manifest_data, module_entries,  # noqa: E402
                             zip_bytes)
from publish_factory import (SAMPLE_MODULES, audit_rows, count, demo_bundle,  # noqa: E402
                             upload, versioned)

from marketplace.catalog.bundle import build_bundle  # noqa: E402
from marketplace.catalog.models import Module, ModuleVersion, Operation  # noqa: E402
from marketplace.catalog.store import store_for  # noqa: E402


@pytest.fixture
def publisher(factory):
    """Headers of a 广东省 publisher token."""
    return factory.headers("publisher", "440000", "read publish")


def refused(response, status: int = 400, reason: str = "invalid_bundle") -> list[dict]:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"] == reason and body["message"]
    return body.get("details") or []


def nothing_written(app) -> None:
    assert count(app, Module) == count(app, ModuleVersion) == count(app, Operation) == 0
    assert not any(a[0] == "module.publish" for a in audit_rows(app))


# --- the happy path -----------------------------------------------------------

def test_publish_creates_pending_version_with_operations_and_stored_bytes(
        app, client, publisher, tmp_path, db_session):
    data = demo_bundle(tmp_path)
    response = upload(client, publisher, data)
    assert response.status_code == 201, response.get_json()
    sha = hashlib.sha256(data).hexdigest()
    assert response.get_json() == {"name": "demo-licence", "version": "1.2.0", "sha256": sha,
                                   "state": "pending_review", "yanked": False,
                                   "yank_reason": None, "review_reason": None}
    version = db_session.scalar(sa.select(ModuleVersion))
    assert version.module.publisher_code == "440000"
    assert version.module.implements == "gov.licence-lookup"
    assert (version.major, version.minor, version.patch, version.prerelease) == (1, 2, 0, "")
    assert version.terms_kind == "pay_per_use" and version.terms["cap"] == "5000.00"
    assert version.tags == ["一网通办", "营商环境"] and version.readme.startswith("# 执照查询")
    assert version.check_report["ok"] and version.check_report["examples_run"] == 2
    [op] = version.operations
    assert op.name == "lookup_licence" and op.units == 1
    assert op.input_schema["required"] == ["company"]
    assert op.examples[1] == {"input": {"company": "前海示例"},
                              "output_contains": {"status": "valid"}}
    assert store_for(app.config).get(sha) == data
    action, actor, subject, detail = audit_rows(app)[-1]
    assert (action, subject) == ("module.publish", "demo-licence 1.2.0")
    assert actor.startswith("publisher") and detail == {"sha256": sha, "state": "pending_review"}


def test_publish_without_review_is_published_at_once(app, client, publisher, tmp_path):
    app.config["REQUIRE_REVIEW"] = False
    response = upload(client, publisher, demo_bundle(tmp_path))
    assert response.status_code == 201 and response.get_json()["state"] == "published"


def test_prerelease_version_fills_semver_columns(app, client, publisher, tmp_path, db_session):
    response = upload(client, publisher, demo_bundle(tmp_path, versioned("2.0.0-rc.1+build.5")))
    assert response.status_code == 201, response.get_json()
    version = db_session.scalar(sa.select(ModuleVersion))
    assert (version.major, version.minor, version.patch, version.prerelease) == (2, 0, 0, "rc.1")


def test_raw_zip_body_is_accepted_too(client, publisher, tmp_path):
    response = client.post("/api/v1/modules", data=demo_bundle(tmp_path),
                           headers={**publisher, "Content-Type": "application/zip"})
    assert response.status_code == 201


# --- immutability ---------------------------------------------------------------

def test_same_bytes_again_return_the_existing_version(app, client, publisher, tmp_path):
    data = demo_bundle(tmp_path)
    first = upload(client, publisher, data)
    again = upload(client, publisher, data)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert count(app, ModuleVersion) == 1


def test_same_version_with_other_bytes_is_409(app, client, publisher, tmp_path):
    assert upload(client, publisher, demo_bundle(tmp_path)).status_code == 201
    changed = demo_bundle(tmp_path, init=GOOD_INIT + "\n# a change\n", folder="other")
    refused(upload(client, publisher, changed), 409, "version_exists")
    assert count(app, ModuleVersion) == 1


def test_a_new_version_of_the_same_module_is_accepted(app, client, publisher, tmp_path):
    assert upload(client, publisher, demo_bundle(tmp_path)).status_code == 201
    response = upload(client, publisher, demo_bundle(tmp_path, versioned("1.3.0"), folder="b"))
    assert response.status_code == 201 and response.get_json()["version"] == "1.3.0"
    assert count(app, Module) == 1 and count(app, ModuleVersion) == 2


# --- who may publish --------------------------------------------------------------

def test_another_jurisdiction_may_not_publish_a_version_of_my_module(
        app, client, factory, publisher, tmp_path):
    assert upload(client, publisher, demo_bundle(tmp_path)).status_code == 201
    zhejiang = factory.headers("publisher", "330000", "read publish")
    refused(upload(client, zhejiang, demo_bundle(tmp_path, versioned("1.3.0"), folder="b")),
            403, "not_owner")
    refused(upload(client, zhejiang, demo_bundle(tmp_path)), 403, "not_owner")
    assert count(app, ModuleVersion) == 1


def test_publish_needs_the_publish_scope(app, client, factory, tmp_path):
    headers = factory.headers("publisher", "440000", "read")
    refused(upload(client, headers, demo_bundle(tmp_path)), 403, "missing_scope")
    refused(upload(client, {}, demo_bundle(tmp_path)), 401, "unauthorized")
    nothing_written(app)


def test_publish_without_a_bundle_field_says_what_to_send(client, publisher):
    details = refused(client.post("/api/v1/modules", headers=publisher, data={}))
    assert details[0]["where"] == "request: bundle" and "multipart" in details[0]["message"]


# --- bad input: one test per case, nothing written ------------------------------

def test_not_a_zip_is_refused(app, client, publisher):
    details = refused(upload(client, publisher, b"this is not a zip archive at all"))
    assert details[0]["code"] == "not_a_zip"
    nothing_written(app)


def test_path_traversal_is_refused(app, client, publisher):
    data = zip_bytes(module_entries() + [("../escape.py", b"print('x')")])
    details = refused(upload(client, publisher, data))
    assert details[0]["where"] == "bundle: ../escape.py" and details[0]["code"] == "unsafe_path"
    nothing_written(app)


def test_bad_semver_is_refused_with_its_location(app, client, publisher):
    data = zip_bytes(module_entries(versioned("1.2")))
    details = refused(upload(client, publisher, data))
    assert details[0]["where"] == "manifest.toml: module.version"
    assert "semantic version" in details[0]["message"]
    nothing_written(app)


def test_missing_hookimpl_is_refused(app, client, publisher, tmp_path):
    init = "from marketplace.sdk import hookimpl\n\n\n@hookimpl\ndef module_health(context):\n" \
           "    return {}\n"
    details = refused(upload(client, publisher, demo_bundle(tmp_path, init=init)))
    assert details[0]["where"] == "operation lookup_licence"
    assert "no hookimpl" in details[0]["message"]
    nothing_written(app)


def test_hanging_module_is_refused_within_the_check_timeout(app, client, publisher, tmp_path):
    app.config["CHECK_TIMEOUT"] = 1
    init = "while True:\n    pass\n" + GOOD_INIT
    details = refused(upload(client, publisher, demo_bundle(tmp_path, init=init)))
    assert "timed out after 1s" in details[0]["message"]
    assert details[0]["where"].startswith("import demo_licence")
    nothing_written(app)


def test_example_output_that_breaks_the_schema_is_refused(app, client, publisher, tmp_path):
    init = GOOD_INIT.replace('"status": "valid"', '"status": 7')
    details = refused(upload(client, publisher, demo_bundle(tmp_path, init=init)))
    assert details[0]["where"] == "operation lookup_licence: example 1 output"
    nothing_written(app)


# --- implements ------------------------------------------------------------------

def test_second_module_with_a_different_interface_is_refused_with_the_differences(
        app, client, factory, publisher, tmp_path):
    assert upload(client, publisher, demo_bundle(tmp_path)).status_code == 201
    other = manifest_data()
    other["module"].update(name="zj-licence", entry="demo_licence")
    other["operations"][0]["output"]["properties"]["status"] = {"type": "integer"}
    other["operations"][0]["examples"] = []
    zhejiang = factory.headers("publisher", "330000", "read publish")
    details = refused(upload(client, zhejiang, demo_bundle(tmp_path, other, folder="zj")))
    assert details == [{"where": "manifest.toml: module.implements (gov.licence-lookup)",
                        "message": "operation lookup_licence: output schema differs at "
                                   "properties.status.type", "code": "interface_mismatch"}]
    assert count(app, Module) == 1


def test_second_module_with_the_same_interface_is_accepted(app, client, factory, publisher,
                                                          tmp_path):
    assert upload(client, publisher, demo_bundle(tmp_path)).status_code == 201
    other = manifest_data()
    other["module"].update(name="zj-licence", title="浙江执照查询")
    zhejiang = factory.headers("publisher", "330000", "read publish")
    response = upload(client, zhejiang, demo_bundle(tmp_path, other, folder="zj"))
    assert response.status_code == 201, response.get_json()


# --- download ------------------------------------------------------------------

def test_bundle_download_is_public_once_published_and_verified(app, client, factory, publisher,
                                                               tmp_path):
    data = demo_bundle(tmp_path)
    upload(client, publisher, data)
    path = "/api/v1/modules/demo-licence/1.2.0/bundle"
    refused(client.get(path), 404, "unknown_version")            # pending: not public
    assert client.get(path, headers=publisher).data == data      # its publisher sees it
    admin = factory.headers("admin", "110000", "read admin")
    assert client.post("/api/v1/reviews/demo-licence/1.2.0", headers=admin,
                       json={"decision": "approve"}).status_code == 200
    response = client.get(path)
    assert response.status_code == 200 and response.data == data
    assert response.headers["X-Checksum-Sha256"] == hashlib.sha256(data).hexdigest()
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="demo-licence-1.2.0.zip"'
    stored = store_for(app.config).path(hashlib.sha256(data).hexdigest())
    stored.write_bytes(data + b"tampered")
    refused(client.get(path), 500, "artifact_corrupt")


# --- the real sample modules ---------------------------------------------------

@pytest.mark.parametrize("folder", SAMPLE_MODULES, ids=lambda p: p.name)
def test_sample_module_builds_publishes_and_is_approved(app, client, factory, folder, tmp_path):
    data = build_bundle(folder, tmp_path).read_bytes()
    headers = factory.headers("publisher", "440000", "read publish")
    admin = factory.headers("admin", "110000", "read admin")
    for required in _requires(folder):      # a composite's steps are published first
        _publish_approved(client, headers, admin, folder.parent / required, tmp_path / required)
    response = upload(client, headers, data)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    approved = client.post(f"/api/v1/reviews/{body['name']}/{body['version']}", headers=admin,
                           json={"decision": "approve", "reason": "checked"})
    assert approved.get_json()["state"] == "published"
    assert client.get(f"/api/v1/modules/{body['name']}/{body['version']}/bundle").data == data


def _requires(folder) -> list[str]:
    """The modules a sample composite requires (none for a plain module)."""
    import tomllib

    with open(folder / "manifest.toml", "rb") as handle:
        return [r["module"] for r in tomllib.load(handle).get("requires", []) if "module" in r]


def _publish_approved(client, headers: dict, admin: dict, folder, out) -> None:
    """Upload a sample module and approve it."""
    body = upload(client, headers, build_bundle(folder, out).read_bytes()).get_json()
    approved = client.post(f"/api/v1/reviews/{body['name']}/{body['version']}", headers=admin,
                           json={"decision": "approve", "reason": "checked"})
    assert approved.get_json()["state"] == "published", approved.get_json()


def test_all_sample_modules_publish_side_by_side(app, client, factory, tmp_path):
    """Sample modules sharing an ``implements`` interface must agree with each other;
    composites come last and find the modules they require (SAMPLE_MODULES' order)."""
    headers = factory.headers("publisher", "440000", "read publish")
    admin = factory.headers("admin", "110000", "read admin")
    for folder in SAMPLE_MODULES:
        response = upload(client, headers, build_bundle(folder, tmp_path / folder.name).read_bytes())
        assert response.status_code == 201, (folder.name, response.get_json())
        body = response.get_json()
        client.post(f"/api/v1/reviews/{body['name']}/{body['version']}", headers=admin,
                    json={"decision": "approve", "reason": "checked"})
    assert count(app, Module) == len(SAMPLE_MODULES) >= 4
