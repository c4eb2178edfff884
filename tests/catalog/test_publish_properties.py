"""Property tests: whatever a publisher uploads, the answer is a success or a located 4xx.

Random and adversarial bundles — zip structure (corrupt bytes, links, folders,
duplicates), entry names, manifest values at and beyond their bounds, deep and
huge schemas, refs that leave the bundle, patterns RE2 cannot run — go through
the bundle checker (never an exception but BundleError) and through
``POST /api/v1/modules`` (201/200 or a JSON 4xx with located details, and
nothing stored when refused). Derandomized, small budgets: seconds per test.
"""
from __future__ import annotations

import copy
import io
import json
import stat
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import GOOD_INIT, dump_toml, manifest_data  # noqa: E402
from publish_factory import count, upload  # noqa: E402

from marketplace.catalog.bundle import BundleError, read_bundle  # noqa: E402
from marketplace.catalog.manifest import load_manifest  # noqa: E402
from marketplace.catalog.models import Module, ModuleVersion, Operation  # noqa: E402

FAST = settings(derandomize=True, database=None, deadline=None, max_examples=150,
                suppress_health_check=list(HealthCheck))
THROUGH_API = settings(FAST, max_examples=20)

BOUNDARY_INTS = [0, 1, -1, 10 ** 9, 10 ** 9 + 1, 10 ** 12, 10 ** 12 + 1, 2 ** 31, 2 ** 63 - 1,
                 2 ** 63, 2 ** 64, -(2 ** 63) - 1]
REFS = ["#", "#/$defs/a", "#/nope", "#/properties/0/x", "common.json#/defs/x", "schemas/c.json",
        "../c.json", "http://127.0.0.1:1/x", "https://example.gov/s.json", "file:///etc/passwd",
        "urn:x:y", "//host/x", "#anchor", "%zz", "http://[bad"]
PATTERNS = ["^(a+)+$", "(a)\\1", "(?=x)", "(?<!x)y", "[", "\\p{Han}+", "a{1001}",
            "((a{100}){100}){100}", "^[0-9A-Za-z]{18}$", ""]
NAMES = ["manifest.toml", "README.md", "demo_licence/__init__.py", "demo_licence/util.py",
         "demo_licence", "demo_licence/", "Demo_Licence/__init__.py", "schemas/c.json",
         "schemas/in.json", "common.json", "../evil.py", "/abs.py", "a\\b.py", "c:/x.py", "a\x00b",
         "x" * 300, "/".join(["d" * 100] * 42), "caf\u00e9.py", "cafe\u0301.py", "./x", "a//b",
         "README.md/x", "manifest.toml/x"]
SAFE_NAMES = ["schemas/in.json", "schemas/c.json", "common.json", "README.md",
              "demo_licence/util.py"]

json_leaf = st.one_of(st.none(), st.booleans(), st.sampled_from(BOUNDARY_INTS),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))


def _schemas() -> st.SearchStrategy:
    """JSON Schema-shaped values with refs, patterns and odd keywords mixed in."""
    keyword = st.sampled_from(["type", "minLength", "maximum", "enum", "const", "required"])
    leaf = st.one_of(
        st.just({"type": "string"}), st.just({}), st.booleans(),
        st.sampled_from(REFS).map(lambda r: {"$ref": r}),
        st.sampled_from(PATTERNS).map(lambda p: {"type": "string", "pattern": p}),
        st.sampled_from(PATTERNS).map(lambda p: {"patternProperties": {p: {}},
                                                 "additionalProperties": False}),
        st.dictionaries(keyword, json_leaf, max_size=2),
        st.sampled_from(["urn:x", "http://[bad", "sub/", "#frag"]).map(lambda i: {"$id": i}),
    )
    return st.recursive(leaf, lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(["a", "company", "b"]), inner, max_size=3).map(
            lambda props: {"type": "object", "properties": props}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"allOf": xs}),
        st.dictionaries(st.sampled_from(["a", "b"]), inner, min_size=1, max_size=2).map(
            lambda defs: {"$defs": defs, "$ref": "#/$defs/a"}),
    ), max_leaves=12)


FIELDS = ["module.name", "module.version", "module.entry", "module.category", "module.tags",
          "module.source_license", "module.implements", "operations.0.units",
          "operations.0.name", "operations.0.input", "operations.0.output",
          "operations.0.examples.0.input", "terms.free_units", "terms.cap", "terms.kind",
          "terms.tiers.0.up_to", "terms.tiers.0.unit_price", "terms.tiers", "terms.currency"]
values = st.one_of(json_leaf, _schemas(), st.sampled_from(["schemas/in.json", "schemas/c.json",
                                                           "../x.json", "/etc/passwd", "1e400",
                                                           "0.0000001", "1000000000000.01"]),
                   st.lists(json_leaf, max_size=3))


def _set(data: dict, path: str, value: Any) -> None:
    """Replace the value at ``path`` (skipped when an earlier change removed its parent)."""
    *keys, last = path.split(".")
    target: Any = data
    try:
        for key in keys:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value
    except (LookupError, TypeError, ValueError):
        pass


@st.composite
def manifests(draw) -> str:
    """manifest.toml text: the valid demo manifest with a few fields replaced."""
    data = manifest_data()
    for path in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        _set(data, path, copy.deepcopy(draw(values)))
    try:
        text = dump_toml(data)
    except TypeError:               # None has no TOML form: leave the field out instead
        text = dump_toml(manifest_data())
    depth = draw(st.sampled_from([0, 0, 0, 63, 65, 900, 5000]))
    if depth:
        text = text.replace('input = { company = "acme" }', 'input = { company = "acme", d = '
                            + "[" * depth + "]" * depth + " }")
    return text


def _nested(depth: int) -> bytes:
    return ('{"properties": {"a": ' * depth + "{}" + "}}" * depth).encode()


files = st.one_of(
    _schemas().map(lambda s: json.dumps(s).encode()),
    st.sampled_from([b"", b"{", b"\xff\xfe", b'{"defs": {"x": {"type": "string"}}}', b"[]",
                     b"NaN", _nested(40), _nested(900), b'{"$ref": "../in.json"}']),
    st.binary(max_size=50))


@st.composite
def bundles(draw) -> bytes:
    """Zip bytes: the demo module's entries plus adversarial ones, sometimes damaged."""
    entries: list[tuple[Any, bytes]] = [("manifest.toml", draw(manifests()).encode()),
                                        ("demo_licence/__init__.py", GOOD_INIT.encode())]
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.one_of(st.sampled_from(SAFE_NAMES), st.sampled_from(SAFE_NAMES),
                              st.sampled_from(NAMES), st.text(min_size=1, max_size=30)))
        entries.append((name, draw(files)))
    if draw(st.sampled_from([False] * 5 + [True])):
        link = zipfile.ZipInfo("demo_licence/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        entries.append((link, b"/etc"))
    buf = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", method) as zf:
        warnings.simplefilter("ignore")           # duplicate names are some of the cases
        for name, data in entries:
            try:
                zf.writestr(name, data)
            except (ValueError, IndexError):       # zipfile refuses to write it at all
                pass
    data = buf.getvalue()
    damage = draw(st.sampled_from(["none"] * 6 + ["flip", "truncate", "garbage"]))
    if damage == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
    elif damage == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "garbage":
        data = draw(st.binary(max_size=200))
    return data


@FAST
@given(data=bundles())
def test_the_bundle_checker_refuses_only_with_located_bundle_errors(data):
    try:
        load_manifest(read_bundle(data))
    except BundleError as exc:
        assert exc.details and all(d["where"] and d["message"] for d in exc.details)


@pytest.fixture
def publisher(factory):
    """Headers of a 广东省 publisher token."""
    return factory.headers("publisher", "440000", "read publish")


def _stored(app) -> tuple[int, int, int, int]:
    store = Path(app.config["ARTIFACT_DIR"])
    return (count(app, Module), count(app, ModuleVersion), count(app, Operation),
            sum(1 for p in store.rglob("*") if p.is_file()) if store.exists() else 0)


def test_publish_answers_success_or_a_located_4xx_and_stores_nothing_when_refused(
        app, client, publisher):
    app.config["CHECK_TIMEOUT"] = 5

    @THROUGH_API
    @given(data=bundles())
    def publish(data: bytes) -> None:
        before = _stored(app)
        response = upload(client, publisher, data)
        body = response.get_json()
        assert response.status_code in (200, 201, 400, 403, 409, 413), (response.status_code,
                                                                        body)
        assert isinstance(body, dict) and body.get("error" if response.status_code >= 400
                                                   else "sha256")
        if response.status_code >= 400:
            assert body["message"]
            assert all(d["where"] and d["message"] for d in body.get("details", []))
            assert _stored(app) == before
    publish()
