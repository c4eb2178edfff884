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
from jsonschema import Draft202012Validator

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


@pytest.fixture
def check_contract(manifest: dict, ctx: Context) -> Callable[[Any], int]:
    """A checker of the manifest contract; returns how many examples ran."""

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
            Draft202012Validator.check_schema(op["input"])
            Draft202012Validator.check_schema(op["output"])
            assert op.get("examples"), f"{op['name']} has no example"
            for example in op["examples"]:
                Draft202012Validator(op["input"]).validate(example["input"])
                out = getattr(package, op["name"])(payload=example["input"], context=ctx)
                json.dumps(out)  # must be JSON-serialisable
                Draft202012Validator(op["output"]).validate(out)
                if "output" in example:
                    assert out == example["output"]
                if "output_contains" in example:
                    assert contains(out, example["output_contains"]), (op["name"], out)
                checked += 1
        return checked

    return check
