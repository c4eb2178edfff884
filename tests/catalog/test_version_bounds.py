"""Version numbers the columns cannot hold, and versions equal in semver precedence, are refused."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import module_entries, zip_bytes  # noqa: E402
from publish_factory import count, demo_bundle, upload, versioned  # noqa: E402

from marketplace.catalog.models import ModuleVersion  # noqa: E402


@pytest.fixture
def publisher(factory):
    """Headers of a 广东省 publisher token."""
    return factory.headers("publisher", "440000", "read publish")


@pytest.mark.parametrize("version", ["99999999999999999999.0.0", "1.99999999999999999999.0",
                                     "1.0.2147483648", "0.0.99999999999"])
def test_a_version_part_beyond_the_columns_is_a_located_400(app, client, publisher, version):
    response = upload(client, publisher, zip_bytes(module_entries(versioned(version))))
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_bundle"
    where = {d["where"]: d["message"] for d in body["details"]}
    assert "manifest.toml: module.version" in where, where
    assert count(app, ModuleVersion) == 0


def test_the_bound_is_what_the_columns_hold(app, client, publisher, tmp_path):
    response = upload(client, publisher, demo_bundle(tmp_path, versioned("2147483647.0.0")))
    assert response.status_code == 201, response.get_json()
    beyond = upload(client, publisher, zip_bytes(module_entries(versioned("2147483648.0.0"))))
    assert beyond.status_code == 400 and "2147483647" in str(beyond.get_json()["details"])


def test_cli_publish_of_an_oversized_version_is_one_located_error(app, runner, factory, tmp_path):
    email = factory.user("publisher", "440000")
    bundle = tmp_path / "big.zip"
    bundle.write_bytes(zip_bytes(module_entries(versioned("99999999999999999999.0.0"))))
    result = runner.invoke(["module", "publish", str(bundle), "--as", email])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "module.version" in lines[0] and "too large" in lines[0]
    assert "OverflowError" not in lines[0] and "unexpected" not in lines[0]


def test_a_huge_toml_integer_is_worded_for_the_publisher(app, client, publisher):
    name, text = module_entries()[0]
    entries = [(name, text + b"\n[huge]\nn = " + b"9" * 5000 + b"\n")] + module_entries()[1:]
    response = upload(client, publisher, zip_bytes(entries))
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert "set_int_max_str_digits" not in str(body) and "digits" in str(body)


def test_build_metadata_does_not_make_a_new_version(app, client, publisher, tmp_path):
    assert upload(client, publisher, demo_bundle(tmp_path)).status_code == 201      # 1.2.0
    response = upload(client, publisher, demo_bundle(tmp_path, versioned("1.2.0+build.7"),
                                                     folder="b"))
    assert response.status_code == 409, response.get_json()
    body = response.get_json()
    assert body["error"] == "version_exists" and "1.2.0" in body["message"]
    assert "build metadata" in body["message"]
    assert count(app, ModuleVersion) == 1


def test_build_metadata_first_then_the_plain_version_is_refused_too(app, client, publisher,
                                                                    tmp_path):
    first = upload(client, publisher, demo_bundle(tmp_path, versioned("2.0.0-rc.1+a")))
    assert first.status_code == 201, first.get_json()
    again = upload(client, publisher, demo_bundle(tmp_path, versioned("2.0.0-rc.1"), folder="b"))
    assert again.status_code == 409 and again.get_json()["error"] == "version_exists"
    other = upload(client, publisher, demo_bundle(tmp_path, versioned("2.0.0-rc.2"), folder="c"))
    assert other.status_code == 201, other.get_json()
