"""manifest.toml validation: every problem reported together, each one located."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from marketplace.catalog.bundle import BundleError, folder_files
from marketplace.catalog.manifest import Manifest, parse_manifest, validate_manifest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import dump_toml, manifest_data, write_module  # noqa: E402


def validate(tmp_path, data, files=None) -> Manifest:
    root = write_module(tmp_path / "mod", data, files=files)
    return validate_manifest(parse_manifest((root / "manifest.toml").read_text("utf-8")),
                             folder_files(root))


def problems(tmp_path, data, files=None) -> dict[str, str]:
    """where → message of every problem found."""
    with pytest.raises(BundleError) as info:
        validate(tmp_path, data, files)
    assert info.value.reason == "invalid_bundle" and info.value.status == 400
    return {d["where"]: d["message"] for d in info.value.details}


def test_valid_manifest_is_normalised(tmp_path):
    data = manifest_data()
    data["operations"][0]["output"] = "schemas/lookup.output.json"
    schema = {"type": "object", "properties": {"status": {"type": "string"}}}
    manifest = validate(tmp_path, data, {"schemas/lookup.output.json": json.dumps(schema)})
    assert (manifest.name, manifest.version, manifest.entry) == \
        ("demo-licence", "1.2.0", "demo_licence")
    assert manifest.tags == ("一网通办", "营商环境")
    op = manifest.operation("lookup_licence")
    assert op.output_schema == schema and op.units == 1
    assert [(e.match, e.expected) for e in op.examples] == [
        ("exact", {"licence_id": "ACME", "status": "valid"}), ("contains", {"status": "valid"})]
    assert manifest.terms["model"] == "graduated"


def test_wrong_types_are_all_reported_together(tmp_path):
    data = manifest_data()
    data["module"]["title"] = 5
    data["module"]["tags"] = "一网通办"
    data["operations"][0]["units"] = "1"
    data["operations"][0]["examples"] = {"input": {}}
    found = problems(tmp_path, data)
    assert set(found) >= {"manifest.toml: module.title", "manifest.toml: module.tags",
                          "manifest.toml: operations[0].units",
                          "manifest.toml: operations[0].examples"}
    assert "got an integer" in found["manifest.toml: module.title"]


@pytest.mark.parametrize("version", ["1.2", "01.2.0", "1.2.3-", "v1.2.3", "1.2.3.4",
                                     "1.0.0-01", "1.2.0\n"])
def test_bad_semver(tmp_path, version):
    data = manifest_data()
    data["module"]["version"] = version
    assert "not a semantic version" in problems(tmp_path, data)["manifest.toml: module.version"]


@pytest.mark.parametrize("version", ["0.0.1", "1.0.0-rc.1+build.5", "2.10.3-alpha-2"])
def test_good_semver(tmp_path, version):
    data = manifest_data()
    data["module"]["version"] = version
    assert validate(tmp_path, data).version == version


@pytest.mark.parametrize("name", ["Demo", "a", "demo-", "9demo", "demo_licence", "x" * 65])
def test_bad_module_name(tmp_path, name):
    data = manifest_data()
    data["module"]["name"] = name
    assert "manifest.toml: module.name" in problems(tmp_path, data)


def test_unknown_category(tmp_path):
    data = manifest_data()
    data["module"]["category"] = "tourism"
    found = problems(tmp_path, data)
    assert "unknown category 'tourism'" in found["manifest.toml: module.category"]


def test_unknown_key_is_a_typo(tmp_path):
    data = manifest_data()
    data["module"]["catagory"] = "public_service"
    assert "manifest.toml: module.catagory" in problems(tmp_path, data)


def test_unknown_source_license(tmp_path):
    data = manifest_data()
    data["module"]["source_license"] = "Proprietary"
    assert "SPDX" in problems(tmp_path, data)["manifest.toml: module.source_license"]


def test_entry_package_must_be_in_the_bundle(tmp_path):
    data = manifest_data()
    root = write_module(tmp_path / "mod", data)
    data["module"]["entry"] = "elsewhere"
    with pytest.raises(BundleError) as info:
        validate_manifest(data, folder_files(root))
    assert info.value.details[0]["where"] == "manifest.toml: module.entry"


@pytest.mark.parametrize("name, message", [("module_health", "lifecycle hook"),
                                           ("lookup-licence", "Python identifier"),
                                           ("class", "Python identifier")])
def test_operation_name_rules(tmp_path, name, message):
    data = manifest_data()
    data["operations"][0]["name"] = name
    assert message in problems(tmp_path, data)["manifest.toml: operations[0].name"]


def test_duplicate_operation_names(tmp_path):
    data = manifest_data()
    data["operations"].append(dict(data["operations"][0]))
    assert "duplicate" in problems(tmp_path, data)["manifest.toml: operations[1].name"]


def test_invalid_json_schema_is_located_inside_the_schema(tmp_path):
    data = manifest_data()
    data["operations"][0]["input"]["properties"]["company"]["type"] = "strin"
    data["operations"][0]["output"]["required"] = "licence_id"
    found = problems(tmp_path, data)
    assert "invalid JSON Schema" in \
        found["manifest.toml: operations[0].input.properties.company.type"]
    assert "manifest.toml: operations[0].output.required" in found


def test_schema_file_with_bad_json_is_located_by_line(tmp_path):
    data = manifest_data()
    data["operations"][0]["input"] = "schemas/in.json"
    found = problems(tmp_path, data, {"schemas/in.json": '{\n  "type": "object",\n}'})
    assert "schemas/in.json: line 3, column 1" in found


def test_schema_file_must_stay_inside_the_bundle(tmp_path):
    data = manifest_data()
    data["operations"][0]["input"] = "../in.json"
    assert "relative" in problems(tmp_path, data)["manifest.toml: operations[0].input"]


def test_example_needs_input_and_exactly_one_expected_output(tmp_path):
    data = manifest_data()
    data["operations"][0]["examples"] = [{"input": {"company": "ab"}},
                                         {"output": {"status": "valid"}}]
    found = problems(tmp_path, data)
    assert "exactly one of output" in found["manifest.toml: operations[0].examples[0]"]
    assert found["manifest.toml: operations[0].examples[1].input"] == "required"


def test_toml_syntax_error_is_located():
    with pytest.raises(BundleError) as info:
        parse_manifest('[module]\nname = "demo"\ntags = [1,\n')
    assert info.value.details[0]["where"].startswith("manifest.toml: line ")


# --- terms (validated by settlement.pricing.validate_terms) -------------------

def test_unknown_terms_kind(tmp_path):
    data = manifest_data()
    data["terms"] = {"kind": "subscription", "currency": "CNY"}
    assert "unknown kind" in problems(tmp_path, data)["manifest.toml: terms.kind"]


def test_negative_price(tmp_path):
    data = manifest_data()
    data["terms"]["tiers"][0]["unit_price"] = "-0.05"
    assert "negative" in problems(tmp_path, data)["manifest.toml: terms.tiers[0].unit_price"]


def test_float_price(tmp_path):
    data = manifest_data()
    data["terms"]["tiers"][1]["unit_price"] = 0.02
    assert "string" in problems(tmp_path, data)["manifest.toml: terms.tiers[1].unit_price"]


def test_tiers_out_of_order(tmp_path):
    data = manifest_data()
    data["terms"]["tiers"] = [{"up_to": 10000, "unit_price": "0.05"},
                              {"up_to": 5000, "unit_price": "0.04"}, {"unit_price": "0.02"}]
    assert "ascend" in problems(tmp_path, data)["manifest.toml: terms.tiers[1].up_to"]


def test_terms_and_module_problems_are_reported_together(tmp_path):
    data = manifest_data()
    data["module"]["version"] = "one"
    data["terms"]["cap"] = 5000.0
    data["operations"][0]["units"] = 0
    found = problems(tmp_path, data)
    assert {"manifest.toml: module.version", "manifest.toml: terms.cap",
            "manifest.toml: operations[0].units"} <= set(found)


def test_dump_helper_round_trips():
    assert parse_manifest(dump_toml(manifest_data())) == manifest_data()


def test_invalid_schema_in_a_file_is_located_in_that_file(tmp_path):
    data = manifest_data()
    data["operations"][0]["output"] = "schemas/out.json"
    found = problems(tmp_path, data, {"schemas/out.json": '{"type": "object", "required": 3}'})
    assert "invalid JSON Schema" in found["schemas/out.json: required"]
