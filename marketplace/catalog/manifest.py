"""manifest.toml: parse, validate every field, return a normalised :class:`Manifest`.

Validation collects *all* problems, each located (``manifest.toml: module.version``,
``manifest.toml: operations[0].input.properties.name.type``,
``schemas/x.input.json: line 3``), and raises them together as one BundleError.
"""
from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


from marketplace import jsonio, schemas
from marketplace.catalog.bundle import Bundle, BundleError, parse_toml, problem

NAME_RE = re.compile(r"[a-z][a-z0-9-]{1,62}[a-z0-9]")
# semver.org's recommended expression, ASCII digits only
SEMVER_RE = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?", re.ASCII)
# major, minor and patch are stored in 32-bit integer columns
VERSION_PART_MAX = 2**31 - 1


def version_part_too_large(version: str) -> str | None:
    """Why a semver's major, minor or patch cannot be stored, or None (``version`` matches SEMVER_RE)."""
    match = SEMVER_RE.fullmatch(version)
    for label, part in zip(("major", "minor", "patch"), match.groups()[:3] if match else ()):
        if len(part) > 10 or int(part) > VERSION_PART_MAX:
            return (f"{version!r}: the {label} number {part} is too large; "
                    f"each of major, minor and patch must be at most {VERSION_PART_MAX}")
    return None


IMPLEMENTS_RE = re.compile(r"[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*", re.ASCII)
CATEGORIES = ("economic_regulation", "market_regulation", "public_service", "social_management",
              "environmental_protection", "public_safety", "government_operations")
LIFECYCLE_HOOKS = ("module_installed", "module_uninstalled", "module_health")
SPDX_IDS = frozenset("""
0BSD AFL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-1.1 Apache-2.0 Artistic-2.0 BSD-1-Clause
BSD-2-Clause BSD-2-Clause-Patent BSD-3-Clause BSD-3-Clause-Clear BSD-4-Clause BSL-1.0 CC0-1.0
CC-BY-4.0 CC-BY-SA-4.0 CDDL-1.0 CDDL-1.1 CECILL-2.1 EPL-1.0 EPL-2.0 EUPL-1.1 EUPL-1.2
GPL-2.0-only GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later ISC LGPL-2.1-only LGPL-2.1-or-later
LGPL-3.0-only LGPL-3.0-or-later MIT MIT-0 MPL-1.1 MPL-2.0 MS-PL MS-RL MulanPSL-1.0 MulanPSL-2.0
MulanPubL-1.0 MulanPubL-2.0 NCSA OFL-1.1 OSL-3.0 PostgreSQL PSF-2.0 Python-2.0 Unlicense UPL-1.0
W3C WTFPL Zlib ZPL-2.1
""".split())
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+", re.ASCII)
_MODULE_KEYS = {"name", "version", "title", "summary", "summary_en", "category", "entry",
                "source_license", "implements", "tags"}
_OPERATION_KEYS = {"name", "summary", "units", "input", "output", "examples"}
_TOP_KEYS = {"module", "operations", "terms", "requires"}
_REQUIRES_KEYS = {"module", "interface", "operations"}
MAX_REQUIRES = 16                   # [[requires]] tables of one composite
MAX_REQUIRED_OPERATIONS = 32        # operations named by one [[requires]]
MAX_UNITS = 10 ** 9                 # DESIGN §12: units are an int 0 ≤ u ≤ 10⁹
MAX_NUMBER = 10 ** 12               # any other count in the terms (free_units, up_to)
MAX_JSON_INT = 2 ** 63 - 1          # what every store and client reads back exactly


@dataclass(frozen=True)
class Example:
    """One example call: ``input`` and either an exact ``output`` or an ``output_contains``."""

    input: Any
    expected: Any
    match: str = "exact"        # "exact" (output) | "contains" (output_contains)


@dataclass(frozen=True)
class Operation:
    """One declared operation with its resolved input/output JSON Schemas."""

    name: str
    summary: str
    units: int
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    examples: tuple[Example, ...] = ()
    schema_links: dict[str, Any] = field(default_factory=dict, compare=False)  # see schemas.link


@dataclass(frozen=True)
class Requirement:
    """One ``[[requires]]``: a module (by name) or an interface, and the operations called on it."""

    module: str | None
    interface: str | None
    operations: tuple[str, ...]

    @property
    def target(self) -> str:
        """What module code passes to ``context.call``: the module or interface name."""
        return self.module or self.interface or ""

    def to_dict(self) -> dict[str, Any]:
        """The manifest's shape of this requirement."""
        key = "module" if self.module else "interface"
        return {key: self.target, "operations": list(self.operations)}


def requirements_of(raw: Any) -> tuple[Requirement, ...]:
    """The requirements of a stored (already validated) manifest's ``requires`` value."""
    if not isinstance(raw, list):
        return ()
    return tuple(Requirement(r.get("module"), r.get("interface"), tuple(r.get("operations", ())))
                 for r in raw if isinstance(r, dict))


@dataclass(frozen=True)
class Manifest:
    """A validated manifest, normalised (schema files loaded, optional fields defaulted)."""

    name: str
    version: str
    title: str
    summary: str
    category: str
    entry: str
    source_license: str
    operations: tuple[Operation, ...]
    terms: dict[str, Any]
    implements: str | None = None
    tags: tuple[str, ...] = ()
    summary_en: str = ""        # English summary; ``summary`` is in Chinese, the platform's language
    requires: tuple[Requirement, ...] = ()      # modules this composite calls (DESIGN §14)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def operation(self, name: str) -> Operation:
        """The operation called ``name`` (KeyError if undeclared)."""
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def schema_path(parts: Any) -> str:
    """Render a JSON path (keys and indexes) as ``properties.items[0].type``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_NOT_JSON = "not a JSON value: quote TOML dates and times; no nan/inf; integers within ±2⁶³"


def _numbers(value: Any, path: str) -> list[tuple[str, int | float]]:
    """Every number in a TOML value, with where it is (booleans are not numbers)."""
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _numbers(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else []


def _json_problem(value: Any, path: str = "") -> str | None:
    """Where a TOML value is not plain JSON (dates, times), or None."""
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _json_problem(v, f"{path}.{k}"))), None)
    if isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := _json_problem(v, f"{path}[{i}]"))),
                    None)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
        return path or "(value)"
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(value)"
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    return path or "(value)"


class _Checker:
    """Collects located problems while walking the manifest."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files, self.problems = files, []

    def add(self, where: str, message: str, file: str = "manifest.toml") -> None:
        self.problems.append(problem(f"{file}: {where}" if where else file, message))

    def unknown(self, table: Mapping, allowed: set[str], where: str) -> None:
        for key in sorted(set(table) - allowed, key=str):
            self.add(f"{where}.{key}" if where else key, f"unknown key; expected one of "
                     f"{', '.join(sorted(allowed))}")

    def string(self, table: Mapping, key: str, where: str, *, required: bool = True,
               max_len: int = 500) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.add(f"{where}.{key}", "required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(f"{where}.{key}", f"must be a non-empty string, got {_kind(value)}")
            return None
        if len(value) > max_len:
            self.add(f"{where}.{key}", f"longer than {max_len} characters")
            return None
        return value

    def module(self, table: Any) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.add("module", "required table [module] is missing" if table is None
                     else f"must be a table, got {_kind(table)}")
            return {}
        self.unknown(table, _MODULE_KEYS, "module")
        out = {k: self.string(table, k, "module") for k in
               ("name", "version", "title", "summary", "category", "entry", "source_license")}
        out["implements"] = self.string(table, "implements", "module", required=False)
        out["summary_en"] = self.string(table, "summary_en", "module", required=False) or ""
        if out["name"] and not NAME_RE.fullmatch(out["name"]):
            self.add("module.name", f"{out['name']!r} must match ^[a-z][a-z0-9-]{{1,62}}[a-z0-9]$")
        if out["version"] and (len(out["version"]) > 64 or not SEMVER_RE.fullmatch(out["version"])):
            self.add("module.version", f"{out['version']!r} is not a semantic version "
                     "(semver 2.0, e.g. 1.2.0 or 2.0.0-rc.1)")
        elif out["version"] and (too_large := version_part_too_large(out["version"])):
            self.add("module.version", too_large)
        if out["category"] and out["category"] not in CATEGORIES:
            self.add("module.category", f"unknown category {out['category']!r}; use one of "
                     f"{', '.join(CATEGORIES)}")
        entry = out["entry"]
        if entry and (not entry.isidentifier() or keyword.iskeyword(entry) or not entry.isascii()):
            self.add("module.entry", f"{entry!r} is not a Python package name")
        elif entry and f"{entry}/__init__.py" not in self.files:
            self.add("module.entry", f"package {entry}/ (with __init__.py) not found in the bundle")
        lic = out["source_license"]
        if lic and not all(p in SPDX_IDS or _LICENSE_REF.fullmatch(p)
                           for p in re.split(r" (?:OR|AND) ", lic)):
            self.add("module.source_license", f"{lic!r} is not a known SPDX licence id "
                     "(e.g. MulanPSL-2.0, Apache-2.0, MIT)")
        if out["implements"] and not IMPLEMENTS_RE.fullmatch(out["implements"]):
            self.add("module.implements", f"{out['implements']!r} must look like "
                     "gov.enterprise-registration (lowercase, dots and dashes)")
        tags = table.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            self.add("module.tags", "must be an array of non-empty strings")
            tags = []
        elif len(tags) > 20 or any(len(t) > 50 for t in tags):
            self.add("module.tags", "at most 20 tags of at most 50 characters")
        out["tags"] = tuple(tags)
        return out

    def schema(self, value: Any, where: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """An inline table or a bundle-relative .json path, checked against 2020-12, its refs
        resolved inside the bundle and its patterns under RE2: ``(schema, links)``."""
        file, label, path = "manifest.toml", where, None
        if isinstance(value, str):
            parts = value.split("/")
            if value.startswith("/") or "\\" in value or ".." in parts:
                self.add(where, f"schema path {value!r} must be relative, inside the bundle")
                return None
            if value not in self.files:
                self.add(where, f"schema file {value!r} not found in the bundle")
                return None
            try:
                raw = self.files[value]
                value, path = jsonio.loads(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw,
                                           where=value), value
            except jsonio.JSONRefused as exc:
                why = exc.details[0]["message"]
                at = re.search(r": line (\d+) column (\d+) \(char \d+\)$", why)
                self.add(f"line {at[1]}, column {at[2]}" if at else "", "invalid JSON: " +
                         (why[:at.start()] if at else why), file=value)
                return None
            file, label = path, ""
        elif value is None:
            self.add(where, "required: an inline table or a path to a JSON Schema file")
            return None
        elif (bad := _json_problem(value, where)) is not None:
            self.add(bad, _NOT_JSON)
            return None
        if not isinstance(value, dict):
            self.add(label, f"a JSON Schema must be an object, got {_kind(value)}", file=file)
            return None
        errors = schemas.meta_errors(value)
        for err in errors:
            at = schema_path(err.absolute_path)
            loc = ".".join(p for p in (label, at) if p)
            hint = f"{err.instance!r} is not a JSON Schema type (use string, number, integer, " \
                "object, array, boolean or null)" if at.split(".")[-1] == "type" \
                and isinstance(err.instance, str) else err.message
            self.add(loc, f"invalid JSON Schema: {hint}", file=file)
        if errors:
            return None
        links, problems = schemas.link(value, self.files, path, f"{file}: {label}" if label
                                       else f"{file}:")
        self.problems += [problem(at, message) for at, message in problems]
        return None if problems else (value, links)

    def examples(self, value: Any, where: str) -> tuple[Example, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.add(where, "must be an array of tables ([[operations.examples]])")
            return ()
        out = []
        for i, ex in enumerate(value):
            at = f"{where}[{i}]"
            if not isinstance(ex, dict):
                self.add(at, f"must be a table, got {_kind(ex)}")
                continue
            self.unknown(ex, {"input", "output", "output_contains"}, at)
            given = [k for k in ("output", "output_contains") if k in ex]
            if "input" not in ex:
                self.add(f"{at}.input", "required")
            if len(given) != 1:
                self.add(at, "give exactly one of output (exact match) or output_contains")
            bad = _json_problem(ex, at)
            if bad:
                self.add(bad, _NOT_JSON)
            if "input" in ex and len(given) == 1 and not bad:
                out.append(Example(ex["input"], ex[given[0]],
                                   "exact" if given[0] == "output" else "contains"))
        return tuple(out)

    def operations(self, value: Any) -> list[Operation]:
        if not isinstance(value, list) or not value:
            self.add("operations", "declare at least one [[operations]] table")
            return []
        ops, seen = [], set()
        for i, op in enumerate(value):
            where = f"operations[{i}]"
            if not isinstance(op, dict):
                self.add(where, f"must be a table, got {_kind(op)}")
                continue
            self.unknown(op, _OPERATION_KEYS, where)
            name = self.string(op, "name", where, max_len=100)
            if name and (not name.isidentifier() or not name.isascii()
                         or keyword.iskeyword(name) or name.startswith("_")):
                self.add(f"{where}.name", f"{name!r} must be a Python identifier "
                         "(letters, digits, underscores; not starting with _)")
            elif name in LIFECYCLE_HOOKS:
                self.add(f"{where}.name", f"{name!r} is a lifecycle hook, not an operation")
            elif name in seen:
                self.add(f"{where}.name", f"duplicate operation name {name!r}")
            seen.add(name)
            summary = self.string(op, "summary", where, required=False) or ""
            units = op.get("units", 1)
            if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units <= MAX_UNITS:
                self.add(f"{where}.units", f"must be an integer from 1 to {MAX_UNITS:,}, got "
                         f"{jsonio.shown(units)}")
            found = [self.schema(op.get(k), f"{where}.{k}") for k in ("input", "output")]
            examples = self.examples(op.get("examples"), f"{where}.examples")
            if name and None not in found:
                links = {k: link for k, (_, link) in zip(("input", "output"), found) if link}
                ops.append(Operation(name, summary, units, found[0][0], found[1][0], examples,
                                     links))
        return ops

    def terms(self, value: Any) -> dict[str, Any]:
        from marketplace.settlement.pricing import validate_terms

        if value is None:
            self.add("terms", 'required table [terms] is missing (e.g. kind = "free")')
            return {}
        for where, message in validate_terms(value):
            self.add(where, message)
        for where, number in _numbers(value, "terms"):
            if not 0 <= number <= MAX_NUMBER:
                self.add(where, f"must be between 0 and {MAX_NUMBER:,}, got {jsonio.shown(number)}")
        return dict(value) if isinstance(value, dict) else {}


    def requires(self, value: Any, own_name: str | None) -> list[Requirement]:
        """``[[requires]]``: each names a module or an interface and the operations it calls."""
        if value is None:
            return []
        if not isinstance(value, list) or not value:
            self.add("requires", "must be an array of tables ([[requires]]) naming a module or "
                     "an interface and its operations")
            return []
        if len(value) > MAX_REQUIRES:
            self.add("requires", f"at most {MAX_REQUIRES} [[requires]] tables, got {len(value)}")
            return []
        out, seen = [], set()
        for i, item in enumerate(value):
            where = f"requires[{i}]"
            if not isinstance(item, dict):
                self.add(where, f"must be a table, got {_kind(item)}")
                continue
            self.unknown(item, _REQUIRES_KEYS, where)
            given = [k for k in ("module", "interface") if k in item]
            if len(given) != 1:
                self.add(where, 'give exactly one of module = "name" or interface = "name"')
                continue
            kind = given[0]
            target = self.string(item, kind, where, max_len=100)
            pattern = NAME_RE if kind == "module" else IMPLEMENTS_RE
            if target is not None and not pattern.fullmatch(target):
                self.add(f"{where}.{kind}", f"{target!r} is not a {kind} name")
                target = None
            elif target is not None and kind == "module" and target == own_name:
                self.add(f"{where}.module", "a module cannot require itself")
                target = None
            elif target is not None and (kind, target) in seen:
                self.add(f"{where}.{kind}", f"{target!r} is required twice; list all its "
                         "operations in one [[requires]]")
                target = None
            seen.add((kind, target))
            operations = self.required_operations(item.get("operations"), f"{where}.operations")
            if target is not None and operations:
                out.append(Requirement(target if kind == "module" else None,
                                       target if kind == "interface" else None, operations))
        return out

    def required_operations(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.add(where, "required: a non-empty array of the operation names called")
            return ()
        if len(value) > MAX_REQUIRED_OPERATIONS:
            self.add(where, f"at most {MAX_REQUIRED_OPERATIONS} operations")
            return ()
        names = []
        for j, name in enumerate(value):
            if (not isinstance(name, str) or not name.isidentifier() or not name.isascii()
                    or len(name) > 100 or keyword.iskeyword(name) or name.startswith("_")):
                self.add(f"{where}[{j}]", f"{name!r:.60} is not an operation name")
            elif name in names:
                self.add(f"{where}[{j}]", f"{name!r} is listed twice")
            else:
                names.append(name)
        return tuple(names) if len(names) == len(value) else ()


def parse_manifest(text: str) -> dict[str, Any]:
    """Parse manifest.toml text; a TOML syntax error is a BundleError located by line."""
    return parse_toml(text, "manifest.toml")


def validate_manifest(data: Mapping[str, Any], files: Mapping[str, bytes]) -> Manifest:
    """Validate a parsed manifest against the bundle's ``files``; raise all problems together.

    ``files`` maps bundle names to bytes (``Bundle.files`` or ``bundle.folder_files``):
    the entry package and schema files are looked up there.
    """
    check = _Checker(files)
    check.unknown(data, _TOP_KEYS, "")
    module = check.module(data.get("module"))
    operations = check.operations(data.get("operations"))
    terms = check.terms(data.get("terms"))
    requires = check.requires(data.get("requires"), module.get("name"))
    if check.problems:
        n = len(check.problems)
        raise BundleError(check.problems, f"manifest.toml has {n} problem{'s' * (n > 1)}; first: "
                          f"{check.problems[0]['where']}: {check.problems[0]['message']}")
    return Manifest(name=module["name"], version=module["version"], title=module["title"],
                    summary=module["summary"], category=module["category"],
                    entry=module["entry"], source_license=module["source_license"],
                    operations=tuple(operations), terms=terms, implements=module["implements"],
                    tags=module["tags"], summary_en=module.get("summary_en", ""), requires=tuple(requires),
                    raw=dict(data))


def load_manifest(bundle: Bundle) -> Manifest:
    """Validate the manifest of a bundle returned by :func:`bundle.read_bundle`."""
    return validate_manifest(bundle.manifest, bundle.files)
