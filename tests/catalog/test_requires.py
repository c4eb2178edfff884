"""Publish checks of composites (DESIGN §14): targets and operations exist, no cycle, depth ≤ 4,
examples run with sub-calls answered from the targets' own examples."""
from __future__ import annotations

import textwrap
import tomllib

import pytest

from marketplace import db
from marketplace.accounts import service as accounts
from marketplace.catalog import service as catalog_service
from marketplace.catalog.bundle import BundleError, build_bundle, folder_files
from marketplace.catalog.manifest import validate_manifest
from marketplace.catalog.requires import check_requires
from marketplace.catalog.store import store_for
from tests.runtime.composites import flow_folder
from tests.runtime.conftest import Catalog

TARGET_MANIFEST = '''[module]
name = "{name}"
version = "{version}"
title = "核验"
summary = "Toy target with an example."
category = "public_service"
entry = "{entry}"
source_license = "MIT"
{implements}
[[operations]]
name = "verify"
input = {{ type = "object", required = ["id"], properties = {{ id = {{ type = "string" }} }} }}
output = {{ type = "object", required = ["valid"], properties = {{ valid = {{ type = "boolean" }} }} }}

[[operations.examples]]
input = {{ id = "1" }}
output = {{ valid = true }}

[terms]
kind = "free"
{requires}'''

TARGET_CODE = '''
from marketplace.sdk import hookimpl


@hookimpl
def verify(payload, context):
    return {"valid": payload["id"] == "1"}
'''

CALLER_CODE = '''
from marketplace.sdk import hookimpl


@hookimpl
def run(payload, context):
    answer = context.call("%s", "verify", {"id": "1"})
    return {"text": "valid" if answer["valid"] else "invalid"}
'''

CALLER_EXAMPLE = '''
[[operations.examples]]
input = {}
output = { text = "valid" }
'''


def requires(target: str, operations=("verify",), kind: str = "module") -> str:
    """A [[requires]] table."""
    names = ", ".join(f'"{o}"' for o in operations)
    return f'\n[[requires]]\n{kind} = "{target}"\noperations = [{names}]\n'


@pytest.fixture
def catalog(app, factory, tmp_path):
    return Catalog(app, factory, tmp_path)


def target(catalog, name="toy-id", version="1.0.0", implements=None, needs="") -> None:
    """Register a target module version (directly, no check)."""
    folder = catalog.tmp / "src" / f"{name}-{version}"
    entry = name.replace("-", "_")
    (folder / entry).mkdir(parents=True)
    (folder / "manifest.toml").write_text(TARGET_MANIFEST.format(
        name=name, version=version, entry=entry, requires=needs,
        implements=f'implements = "{implements}"' if implements else ""), encoding="utf-8")
    (folder / entry / "__init__.py").write_text(TARGET_CODE, encoding="utf-8")
    catalog.publish_folder(folder)


def composite(catalog, name: str, needs: str, version: str = "1.0.0", call: str = "toy-id"):
    """A composite folder calling ``call``'s verify, with an example; its folder."""
    folder = flow_folder(catalog.tmp, name, version, requires=needs,
                         code=CALLER_CODE % call)
    manifest = folder / "manifest.toml"
    text = manifest.read_text(encoding="utf-8").replace("[terms]", CALLER_EXAMPLE + "\n[terms]")
    manifest.write_text(text, encoding="utf-8")
    return folder


def manifest_of(folder):
    return validate_manifest(tomllib.loads((folder / "manifest.toml").read_text("utf-8")),
                             folder_files(folder))


def publish(app, catalog, folder):
    """The real publish service (check worker included), no review; the version."""
    data = build_bundle(folder, catalog.tmp / "dist").read_bytes()
    with app.app_context():
        session = db.session()
        publisher = accounts.find_user(session, catalog.publisher)
        result = catalog_service.publish(session, data, publisher, store_for(app.config),
                                         require_review=False)
        session.commit()
        return result.version.state, result.version.check_report


def refusal(app, folder) -> list[dict]:
    """The located problems check_requires raises for a folder's manifest."""
    with app.app_context(), pytest.raises(BundleError) as refused:
        check_requires(db.session(), manifest_of(folder))
    return refused.value.details


def test_a_composite_publishes_with_its_sub_calls_answered_from_the_targets_examples(
        app, catalog):
    target(catalog)
    state, report = publish(app, catalog, composite(catalog, "toy-flow", requires("toy-id")))
    assert state == "published" and report["ok"] and report["examples_run"] == 1


def test_an_undeclared_sub_call_in_an_example_is_a_located_check_error(app, catalog):
    target(catalog)
    target(catalog, "toy-other")
    folder = composite(catalog, "toy-flow", requires("toy-id"), call="toy-other")
    with pytest.raises(BundleError) as refused:
        publish(app, catalog, folder)
    [error] = refused.value.details
    assert error["where"] == "operation run: example 1"
    assert "undeclared_dependency" in error["message"] and "toy-other/verify" in error["message"]


def test_required_module_interface_and_operations_must_exist(app, catalog):
    target(catalog, implements="gov.id")
    problems = refusal(app, composite(catalog, "toy-flow", requires("toy-nope")
                                      + requires("toy-id", ("verify", "lookup"))
                                      + requires("gov.none", kind="interface")))
    assert [(p["where"], p["code"]) for p in problems] == [
        ("manifest.toml: requires[0].module", "unknown_requirement"),
        ("manifest.toml: requires[1].operations[1]", "unknown_operation"),
        ("manifest.toml: requires[2].interface", "unknown_requirement")]
    with app.app_context():
        ok = check_requires(db.session(), manifest_of(composite(
            catalog, "toy-flow2", requires("gov.id", kind="interface"), call="gov.id")))
    assert ok["answers"] == {"gov.id/verify": [{"input": {"id": "1"}, "output": {"valid": True}}]}


def test_a_requirement_cycle_is_refused_at_publish(app, catalog):
    target(catalog, "toy-b", implements="gov.b")
    catalog.publish_folder(composite(catalog, "toy-a", requires("gov.b", kind="interface"),
                                     call="gov.b"))
    [problem] = refusal(app, target_folder_requiring(catalog, "toy-b", "2.0.0", "gov.b",
                                                      requires("toy-a", ("run",))))
    assert problem["code"] == "cycle" and problem["where"] == "manifest.toml: requires[0].module"
    assert "toy-b → module toy-a → interface gov.b → module toy-b" in problem["message"]


def target_folder_requiring(catalog, name, version, implements, needs):
    """A target module's folder (not registered) whose manifest requires ``needs``."""
    folder = catalog.tmp / "src" / f"{name}-{version}"
    entry = name.replace("-", "_")
    (folder / entry).mkdir(parents=True)
    (folder / "manifest.toml").write_text(TARGET_MANIFEST.format(
        name=name, version=version, entry=entry, requires=needs,
        implements=f'implements = "{implements}"'), encoding="utf-8")
    (folder / entry / "__init__.py").write_text(textwrap.dedent(TARGET_CODE), encoding="utf-8")
    return folder


def test_composites_nest_at_most_four_deep(app, catalog):
    target(catalog, "toy-id")
    below = "toy-id"
    for level in range(1, 5):           # c1 calls toy-id … c4 calls c3: four deep
        folder = composite(catalog, f"toy-c{level}", requires(below, ("verify",) if level == 1
                                                             else ("run",)), call=below)
        with app.app_context():
            assert check_requires(db.session(), manifest_of(folder))
        catalog.publish_folder(folder)
        below = f"toy-c{level}"
    [problem] = refusal(app, composite(catalog, "toy-c5", requires("toy-c4", ("run",)),
                                       call="toy-c4"))
    assert (problem["code"], problem["where"]) == ("too_deep", "manifest.toml: requires")
    assert "5 deep" in problem["message"]


@pytest.mark.parametrize("table,where", [
    ('[[requires]]\noperations = ["x"]', "requires[0]"),
    ('[[requires]]\nmodule = "a-b"\ninterface = "gov.a"\noperations = ["x"]', "requires[0]"),
    ('[[requires]]\nmodule = "Bad Name"\noperations = ["x"]', "requires[0].module"),
    ('[[requires]]\nmodule = "toy-flow"\noperations = ["run"]', "requires[0].module"),
    ('[[requires]]\nmodule = "a-b"\noperations = []', "requires[0].operations"),
    ('[[requires]]\nmodule = "a-b"\noperations = ["x", "x"]', "requires[0].operations[1]"),
    ('[[requires]]\nmodule = "a-b"\noperations = ["x"]\nwhy = 1', "requires[0].why"),
    ("\n".join(f'[[requires]]\nmodule = "m-{i:02d}"\noperations = ["x"]' for i in range(17)),
     "requires"),
])
def test_malformed_requires_are_located_manifest_problems(catalog, table, where):
    folder = flow_folder(catalog.tmp, requires="\n" + table + "\n")
    with pytest.raises(BundleError) as refused:
        manifest_of(folder)
    assert f"manifest.toml: {where}" in [p["where"] for p in refused.value.details]
