"""Bundles that used to answer 500: each is now a located 400 invalid_bundle that stores nothing.

Found by an attack run on 13667c2: a file that is also a folder, over-long names and
paths, TOML and JSON nested hundreds to thousands deep, numbers beyond what the
database or DESIGN §12 allow, non-JSON floats, and an unbounded README.
"""
from __future__ import annotations

import base64
import json
import random
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import dump_toml, manifest_data, module_entries, zip_bytes  # noqa: E402
from publish_factory import count, upload  # noqa: E402

from marketplace.catalog.models import Module, ModuleVersion, Operation  # noqa: E402


@pytest.fixture
def publisher(factory):
    """Headers of a 广东省 publisher token."""
    return factory.headers("publisher", "440000", "read publish")


def _with(extra: list[tuple[str, bytes]] | None = None, manifest: dict | None = None,
          text: str | None = None) -> bytes:
    entries = module_entries(manifest)
    if text is not None:
        entries[0] = ("manifest.toml", text.encode())
    return zip_bytes(entries + (extra or []))


def _changed(change) -> dict:
    data = manifest_data()
    change(data)
    return data


def _nested_toml(depth: int) -> str:
    """The valid manifest with an example input nested ``depth`` arrays deep."""
    text = dump_toml(manifest_data())
    return text.replace('input = { company = "acme" }',
                        'input = { company = "acme", deep = ' + "[" * depth + "]" * depth + " }")


def _nested_schema(depth: int) -> bytes:
    return ('{"type": "object", "properties": {"a": ' * depth + '{"type": "string"}' +
            "}}" * depth).encode()


def _schema_file(depth: int) -> bytes:
    data = manifest_data()
    data["operations"][0]["input"] = "schemas/deep.json"
    return _with([("schemas/deep.json", _nested_schema(depth))], manifest=data)


def _noise(size: int) -> bytes:
    """Text that does not compress (so no zip-bomb ratio refuses it first)."""
    return base64.b64encode(random.Random(1).randbytes(size * 3 // 4))


def _set(path: str, value):
    def change(data: dict) -> None:
        *keys, last = path.split(".")
        target = data
        for key in keys:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value
    return change


CASES = {
    "file and folder of one name": (lambda: _with([("demo_licence/util", b"x = 1"),
                                                   ("demo_licence/util/a.py", b"")]),
                                    "demo_licence/util/a.py"),
    "300-character entry name": (lambda: _with([("demo_licence/" + "a" * 300 + ".py", b"")]),
                                 "bundle: demo_licence/aaa"),
    "4,200-character path": (lambda: _with([("demo_licence/" + "/".join(["d" * 100] * 42) + ".py",
                                             b"")]), "bundle: demo_licence/ddd"),
    "TOML nested 900 deep": (lambda: _with(text=_nested_toml(900)), "manifest.toml"),
    "TOML nested 5,000 deep": (lambda: _with(text=_nested_toml(5000)), "manifest.toml"),
    "TOML nested 100 deep": (lambda: _with(text=_nested_toml(100)), "manifest.toml"),
    "JSON schema nested 900 deep": (lambda: _schema_file(900), "schemas/deep.json"),
    "JSON schema nested 5,000 deep": (lambda: _schema_file(5000), "schemas/deep.json"),
    "units = 2**63": (lambda: _with(manifest=_changed(_set("operations.0.units", 2 ** 63))),
                      "operations[0].units"),
    "units above 10^9": (lambda: _with(manifest=_changed(_set("operations.0.units", 10 ** 9 + 1))),
                         "operations[0].units"),
    "free_units = 2**63": (lambda: _with(manifest=_changed(_set("terms.free_units", 2 ** 63))),
                           "terms.free_units"),
    "tier up_to above 10^12": (lambda: _with(manifest=_changed(_set("terms.tiers.0.up_to",
                                                                    10 ** 12 + 1))),
                               "terms.tiers[0].up_to"),
    "nan in a schema": (lambda: _with(text=dump_toml(manifest_data()).replace(
        "minLength = 2", "minLength = 2, maximum = nan")), "operations[0].input"),
    "inf in an example": (lambda: _with(text=dump_toml(manifest_data()).replace(
        'input = { company = "acme" }', 'input = { company = "acme", n = inf }')),
        "operations[0].examples[0]"),
    "README of 2 MB": (lambda: _with([("README.md", b"# big\n" + _noise(2 << 20))]),
                       "README.md"),
    "manifest of 2 MB": (lambda: _with(text=dump_toml(manifest_data()) + "# " +
                                       _noise(2 << 20).decode()), "manifest.toml"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bundle_is_refused_with_a_located_400_and_nothing_is_stored(app, client, publisher,
                                                                   case):
    build, where = CASES[case]
    response = upload(client, publisher, build())
    assert response.status_code == 400, (response.status_code, response.get_data()[:300])
    body = response.get_json()
    assert body["error"] == "invalid_bundle" and body["message"]
    assert any(where in d["where"] and d["message"] for d in body["details"]), body["details"]
    assert count(app, Module) == count(app, ModuleVersion) == count(app, Operation) == 0
    assert not [p for p in Path(app.config["ARTIFACT_DIR"]).rglob("*") if p.is_file()]


def test_bounds_are_inclusive(app, client, publisher):
    """units = 10^9 and free_units = 10^12 are allowed: the bounds are not off by one."""
    data = manifest_data()
    data["operations"][0]["units"] = 10 ** 9
    data["terms"]["free_units"] = 10 ** 12
    response = upload(client, publisher, _with(manifest=data))
    assert response.status_code == 201, response.get_json()


def _big_schema_bundle(bad: bool) -> bytes:
    props = {f"p{i}": {"type": "string", "maxLength": 10} for i in range(5000)}
    props["company"] = {"type": "string"}
    if bad:
        props["p4999"]["type"] = "strin"
    data = manifest_data()
    data["operations"][0]["input"] = "schemas/big.json"
    return _with([("schemas/big.json", json.dumps({"type": "object", "properties": props})
                   .encode())], manifest=data)


@pytest.mark.parametrize("bad", [False, True])
def test_a_big_schema_is_checked_in_seconds_not_minutes(app, client, publisher, bad):
    """5,000 properties: the Python metaschema check alone took ~10 s in the web worker."""
    started = time.monotonic()
    response = upload(client, publisher, _big_schema_bundle(bad))
    assert time.monotonic() - started < 4
    if bad:
        assert response.status_code == 400
        [found] = response.get_json()["details"]
        assert found["where"] == "schemas/big.json: properties.p4999.type"
    else:
        assert response.status_code == 201, response.get_json()
