"""Test kit for module authors: check a module folder against its manifest with pytest.

A module's ``tests/conftest.py`` needs only::

    from marketplace.testing import add_module_to_path, check_contract, ctx, manifest  # noqa: F401
    add_module_to_path(__file__)

Then a test can ``assert check_contract(my_package) > 0``: hookimpls match the
declared operations with ``(payload, context)``, schemas are valid JSON Schema
2020-12, and every example's input validates and its output validates and
matches — the same contract the platform checks at publish time (DESIGN §3).

A composite (``[[requires]]``, DESIGN §14) is tested the same way: its
``context.call`` is answered by the ``subcalls`` fixture, by default from the
examples of the required modules found next to it (the folders of its parent
folder, as in ``modules/``), by the publish check's rule
(:mod:`marketplace.catalog.example_answers`). Override ``subcalls`` in a
``conftest.py`` with your own answers::

    @pytest.fixture
    def subcalls():
        return {("resident-id-verification", "verify_id"): {"valid": True},
                ("social-insurance-transfer", "compute_transfer"): lambda payload: {...},
                ("housing-fund-withdrawal", "assess_withdrawal"):
                    ModuleError("not_eligible", "…")}

A value is the output, a function of the payload giving it, or a ModuleError
to raise. :func:`composite_context` builds such a context anywhere; every
sub-call made is recorded in ``context.calls`` order on the ``calls`` list it returns.
"""
from __future__ import annotations

import copy
import inspect
import json
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pluggy
import pytest

from marketplace import schemas
from marketplace.catalog import example_answers
from marketplace.sdk import PROJECT, Context, JurisdictionRef, ModuleError

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


Answers = Mapping[tuple[str, str], Any]


def composite_context(answers: Answers, requires: Iterable[Mapping[str, Any]] = (),
                      module: str = "", calls: list | None = None, **fields: Any) -> Context:
    """A context (深圳市 unless ``fields`` say otherwise) whose ``call`` answers from ``answers``.

    Sub-calls not declared in ``requires`` (the manifest's ``[[requires]]`` tables)
    raise ``ModuleError("undeclared_dependency")`` as on the platform; each call
    made is appended to ``calls`` as ``(target, operation, payload)``.
    """
    requires = list(requires)
    made = calls if calls is not None else []

    def call(target: str, operation: str, payload: Any) -> dict:
        if example_answers.requirement_for(requires, target, operation) is None:
            raise example_answers.undeclared(module or "this module", target, operation)
        made.append((target, operation, copy.deepcopy(payload)))
        found = answers.get((target, operation))
        if found is None:
            raise ModuleError("not_installed", f"no answer for {operation} of {target} in "
                              "the test's subcalls", f"{target}/{operation}")
        if isinstance(found, ModuleError):
            raise found
        return copy.deepcopy(found(payload) if callable(found) else found)

    values = {"jurisdiction": JurisdictionRef("440300", "深圳市"), "installation_id": 1,
              "request_id": "test-request", **fields, "caller": call}
    return Context(**values)


def example_answers_of(folders: Iterable[Path]) -> dict[tuple[str, str], Callable[[Any], Any]]:
    """Answers from module folders' own examples: by module name and by interface."""
    found: dict[tuple[str, str], Callable[[Any], Any]] = {}
    for folder in folders:
        if not (folder / "manifest.toml").is_file():
            continue
        try:
            other = load_manifest(folder)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        head = other.get("module", {})
        for op in other.get("operations", []):
            examples = op.get("examples", [])
            for target in (head.get("name"), head.get("implements")):
                if target:
                    found.setdefault((target, op["name"]), _answerer(examples, target, op["name"]))
    return found


def _answerer(examples: list, target: str, operation: str) -> Callable[[Any], Any]:
    return lambda payload: example_answers.answer(examples, payload, f"{target}/{operation}")


def _own_manifest(request: pytest.FixtureRequest) -> dict:
    try:
        return load_manifest(module_dir_of(request.path))
    except (OSError, ValueError):
        return {}


def _beside(request: pytest.FixtureRequest) -> Answers:
    """Answers from the examples of the modules beside this one (none needed: no requires)."""
    folder = module_dir_of(request.path)
    if not _own_manifest(request).get("requires"):
        return {}
    return example_answers_of(sorted(p for p in folder.parent.iterdir() if p != folder))


@pytest.fixture
def subcalls(request: pytest.FixtureRequest) -> Answers:
    """How a composite's sub-calls are answered: from the examples of the modules beside it."""
    return _beside(request)


@pytest.fixture
def ctx(request: pytest.FixtureRequest) -> Context:
    """A call context for an adopter city (深圳市); ``ctx.call`` answers from ``subcalls``
    (that fixture when the tests define or import it, else the modules beside this one)."""
    own = _own_manifest(request)
    try:
        answers = request.getfixturevalue("subcalls")
    except pytest.FixtureLookupError:   # a conftest importing only ctx, as before composites
        answers = _beside(request)
    return composite_context(answers, own.get("requires", []),
                             own.get("module", {}).get("name", ""))


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
