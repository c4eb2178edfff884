"""Installing composites (DESIGN §14): missing dependencies, one-transaction installs, required_by."""
from __future__ import annotations

import pytest

from tests.runtime.composites import flow_folder
from tests.runtime.conftest import PAY, PAY_MORE

NEEDS_ECHO = '''
[[requires]]
module = "toy-echo"
operations = ["echo"]
'''
NEEDS_TOY = '''
[[requires]]
interface = "gov.toy"
operations = ["echo"]
'''


@pytest.fixture
def published(catalog):
    """toy-echo (pay per use), toy-flow requiring it by name."""
    catalog.toy("toy-echo", terms=PAY)
    catalog.publish_folder(flow_folder(catalog.tmp, requires=NEEDS_ECHO))


def test_a_composite_without_its_dependencies_is_409_missing_dependencies(published, shenzhen):
    reply = shenzhen.install("toy-flow")
    assert reply.status_code == 409
    assert reply.json["error"] == "missing_dependencies"
    [missing] = reply.json["missing"]
    assert (missing["module"], missing["operations"], missing["install"]) == \
        ("toy-echo", ["echo"], "toy-echo")
    assert missing["terms"]["kind"] == "pay_per_use"
    assert shenzhen.client.get("/api/v1/installations", headers=shenzhen.headers).json[
        "items"] == []


def test_with_dependencies_installed_first_the_composite_installs(published, shenzhen):
    assert shenzhen.install("toy-echo").status_code == 201
    reply = shenzhen.install("toy-flow")
    assert reply.status_code == 201 and "dependencies" not in reply.json


def test_install_dependencies_installs_all_in_one_go_each_its_own_agreement(published, shenzhen):
    plan = shenzhen.client.get("/api/v1/installations/plan?module=toy-flow",
                               headers=shenzhen.headers)
    assert plan.status_code == 200 and plan.json["ready"] is True
    assert [(s["module"], s["terms"]["kind"]) for s in plan.json["installs"]] == \
        [("toy-echo", "pay_per_use"), ("toy-flow", "free")]
    dry = shenzhen.client.post("/api/v1/installations", headers=shenzhen.headers, json={
        "module": "toy-flow", "dry_run": True})
    assert dry.status_code == 200 and dry.json["installs"] == plan.json["installs"]
    reply = shenzhen.install("toy-flow", install_dependencies=True)
    assert reply.status_code == 201, reply.json
    [dep] = reply.json["dependencies"]
    assert (dep["module"], dep["terms"]["kind"]) == ("toy-echo", "pay_per_use")
    assert reply.json["terms"]["kind"] == "free"
    items = shenzhen.client.get("/api/v1/installations", headers=shenzhen.headers).json["items"]
    assert sorted(i["module"] for i in items) == ["toy-echo", "toy-flow"]


def test_terms_must_be_accepted_for_the_whole_plan(published, shenzhen):
    reply = shenzhen.install("toy-flow", accept_terms=False, install_dependencies=True)
    assert (reply.status_code, reply.json["error"]) == (400, "accept_terms_required")
    assert shenzhen.client.get("/api/v1/installations", headers=shenzhen.headers).json[
        "items"] == []


def test_an_interface_with_several_implementations_needs_a_choice(catalog, shenzhen):
    catalog.toy("toy-a", terms=PAY, implements="gov.toy")
    catalog.toy("toy-b", terms=PAY_MORE, implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp, requires=NEEDS_TOY))
    plan = shenzhen.client.get("/api/v1/installations/plan?module=toy-flow",
                               headers=shenzhen.headers).json
    assert plan["choices_needed"] == {"gov.toy": ["toy-a", "toy-b"]} and not plan["ready"]
    unchosen = shenzhen.install("toy-flow", install_dependencies=True)
    assert (unchosen.status_code, unchosen.json["error"]) == (409, "choice_needed")
    assert unchosen.json["choices"] == {"gov.toy": ["toy-a", "toy-b"]}
    bad = shenzhen.install("toy-flow", install_dependencies=True, choose={"gov.toy": 3})
    assert (bad.status_code, bad.json["error"]) == (400, "invalid_request")
    chosen = shenzhen.install("toy-flow", install_dependencies=True,
                              choose={"gov.toy": "toy-b"})
    assert chosen.status_code == 201
    assert [d["module"] for d in chosen.json["dependencies"]] == ["toy-b"]


def test_uninstalling_what_a_composite_needs_is_409_required_by(published, shenzhen):
    made = shenzhen.install("toy-flow", install_dependencies=True).json
    echo, flow = made["dependencies"][0]["id"], made["id"]
    refused = shenzhen.client.delete(f"/api/v1/installations/{echo}", headers=shenzhen.headers)
    assert (refused.status_code, refused.json["error"], refused.json["required_by"]) == \
        (409, "required_by", ["toy-flow"])
    assert shenzhen.client.delete(f"/api/v1/installations/{flow}",
                                  headers=shenzhen.headers).status_code == 200
    assert shenzhen.client.delete(f"/api/v1/installations/{echo}",
                                  headers=shenzhen.headers).status_code == 200


def test_another_jurisdictions_installations_satisfy_nothing(published, shenzhen, hangzhou):
    assert hangzhou.install("toy-echo").status_code == 201
    reply = shenzhen.install("toy-flow")
    assert (reply.status_code, reply.json["error"]) == (409, "missing_dependencies")
    made = shenzhen.install("toy-flow", install_dependencies=True)
    assert made.status_code == 201 and len(made.json["dependencies"]) == 1


def test_the_command_line_installs_a_composite_with_its_dependencies(published, factory, runner):
    email = factory.user("adopter", "440300")
    refused = runner.invoke(["install", "toy-flow", "--as", email, "--accept-terms"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: toy-flow calls toy-echo, not installed for 440300")
    assert "--with-dependencies" in refused.stderr
    done = runner.invoke(["install", "toy-flow", "--as", email, "--accept-terms",
                          "--with-dependencies"])
    assert done.exit_code == 0, done.output
    assert [line.split("\t")[1] for line in done.output.splitlines()] == ["toy-echo", "toy-flow"]
    bad = runner.invoke(["install", "toy-flow", "--as", email, "--with-dependencies",
                         "--choose", "nonsense"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output


def test_switching_away_from_a_module_a_composite_calls_by_name_is_409_required_by(
        catalog, shenzhen):
    catalog.toy("toy-a", implements="gov.toy")
    catalog.toy("toy-b", implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp, requires=NEEDS_ECHO.replace("toy-echo",
                                                                                "toy-a")))
    catalog.publish_folder(flow_folder(catalog.tmp, "toy-any", requires=NEEDS_TOY))
    made = shenzhen.install("toy-flow", install_dependencies=True).json
    assert shenzhen.install("toy-any").status_code == 201       # gov.toy: served by toy-a
    toy_a = made["dependencies"][0]["id"]
    switch = shenzhen.client.patch(f"/api/v1/installations/{toy_a}", headers=shenzhen.headers,
                                   json={"module": "toy-b", "accept_terms": True})
    assert (switch.status_code, switch.json["error"], switch.json["required_by"]) == \
        (409, "required_by", ["toy-flow"])
    items = shenzhen.client.get("/api/v1/installations", headers=shenzhen.headers).json["items"]
    assert sorted(i["module"] for i in items) == ["toy-a", "toy-any", "toy-flow"]
