"""Test set-up shared by this module's tests.

Puts the module folder on ``sys.path`` so the entry package imports as it
will inside a bundle, and offers fixtures that check the manifest contract
(DESIGN section 3): valid schemas, examples that validate and run.
"""
from __future__ import annotations

import inspect
import json
import sys
import tomllib
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = MODULE_DIR.parents[1]
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))
try:  # the marketplace package may not be pip-installed yet
    import marketplace.sdk  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(REPO_DIR))

import pluggy  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402

from marketplace.sdk import PROJECT, Context, JurisdictionRef  # noqa: E402

LIFECYCLE_HOOKS = {"module_installed", "module_uninstalled", "module_health"}


def load_manifest() -> dict:
    """Parse this module's manifest.toml and inline schema files it points at."""
    with open(MODULE_DIR / "manifest.toml", "rb") as fh:
        manifest = tomllib.load(fh)
    for op in manifest.get("operations", []):
        for key in ("input", "output"):
            if isinstance(op[key], str):
                op[key] = json.loads((MODULE_DIR / op[key]).read_text(encoding="utf-8"))
    return manifest


def contains(actual, expected) -> bool:
    """True when ``expected`` is a recursive subset of ``actual`` (dict keys), else equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    return actual == expected


@pytest.fixture(scope="session")
def manifest() -> dict:
    """The module's manifest with schema files resolved."""
    return load_manifest()


@pytest.fixture
def ctx() -> Context:
    """A call context for an adopter city (深圳市)."""
    return Context(jurisdiction=JurisdictionRef("440300", "深圳市"), installation_id=1,
                   request_id="test-request")


@pytest.fixture
def check_contract(manifest, ctx):
    """Return a checker: hookimpls match operations, schemas are valid, examples run."""

    def check(package) -> int:
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
