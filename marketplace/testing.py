"""Test kit for module authors: check a module folder against its manifest with pytest.

A module's ``tests/conftest.py`` needs only::

    from marketplace.testing import add_module_to_path, check_contract, ctx, manifest  # noqa: F401
    add_module_to_path(__file__)

Then a test can ``assert check_contract(my_package) > 0``: hookimpls match the
declared operations with ``(payload, context)``, schemas are valid JSON Schema
2020-12, and every example's input validates and its output validates and
matches — the same contract the platform checks at publish time (DESIGN §3).
"""
from __future__ import annotations

import inspect
import json
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable

import pluggy
import pytest

from marketplace import schemas
from marketplace.sdk import PROJECT, Context, JurisdictionRef

LIFECYCLE_HOOKS = {"module_installed", "module_uninstalled", "module_health"}


def module_dir_of(test_file: str | Path) -> Path:
    """The module folder of a test file in ``<module>/tests/``."""
    return Path(test_file).resolve().parents[1]


def add_module_to_path(test_file: str | Path) -> Path:
    """Make the module's entry package importable as it will be inside a bundle."""
    folder = module_dir_of(test_file)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return folder


def load_manifest(folder: Path) -> dict:
    """Parse ``manifest.toml`` and inline the schema files it points at."""
    with open(folder / "manifest.toml", "rb") as handle:
        manifest = tomllib.load(handle)
    for op in manifest.get("operations", []):
        for key in ("input", "output"):
            if isinstance(op[key], str):
                op[key] = json.loads((folder / op[key]).read_text(encoding="utf-8"))
    return manifest


def contains(actual: Any, expected: Any) -> bool:
    """True when ``expected`` is a recursive subset of ``actual`` (dict keys), else equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items())
    return actual == expected


@pytest.fixture
def manifest(request: pytest.FixtureRequest) -> dict:
    """The module's manifest with schema files resolved."""
    return load_manifest(module_dir_of(request.path))


@pytest.fixture
def ctx() -> Context:
    """A call context for an adopter city (深圳市)."""
    return Context(jurisdiction=JurisdictionRef("440300", "深圳市"), installation_id=1,
                   request_id="test-request")


def _validators(folder: Path) -> dict[str, tuple[Any, Any]]:
    """Operation name → (input, output) validators, built as the platform builds them
    (refs only inside the module folder, patterns on RE2); a manifest the platform
    would refuse fails here with its located problems."""
    from marketplace.catalog.bundle import folder_files, parse_toml
    from marketplace.catalog.manifest import validate_manifest

    text = (folder / "manifest.toml").read_text(encoding="utf-8-sig")
    checked = validate_manifest(parse_toml(text), folder_files(folder))
    return {op.name: (schemas.validator(op.input_schema, op.schema_links.get("input")),
                      schemas.validator(op.output_schema, op.schema_links.get("output")))
            for op in checked.operations}


@pytest.fixture
def check_contract(manifest: dict, ctx: Context,
                   request: pytest.FixtureRequest) -> Callable[[Any], int]:
    """A checker of the manifest contract; returns how many examples ran."""
    validators = _validators(module_dir_of(request.path))

    def check(package: Any) -> int:
        declared = {op["name"] for op in manifest["operations"]}
        pm = pluggy.PluginManager(PROJECT)
        pm.register(package)
        hooks = {name for name in dir(pm.hook) if not name.startswith("_")}
        assert hooks - LIFECYCLE_HOOKS == declared
        for name in declared:
            params = list(inspect.signature(getattr(package, name)).parameters)
            assert params == ["payload", "context"], (name, params)
        checked = 0
        for op in manifest["operations"]:
            assert isinstance(op["units"], int) and op["units"] >= 1
            check_input, check_output = validators[op["name"]]
            assert op.get("examples"), f"{op['name']} has no example"
            for example in op["examples"]:
                assert not schemas.errors(check_input, example["input"]), example["input"]
                out = getattr(package, op["name"])(payload=example["input"], context=ctx)
                json.dumps(out)  # must be JSON-serialisable
                assert not schemas.errors(check_output, out), out
                if "output" in example:
                    assert out == example["output"]
                if "output_contains" in example:
                    assert contains(out, example["output_contains"]), (op["name"], out)
                checked += 1
        return checked

    return check
