"""Module schemas are data (DESIGN §12): never fetched, refs only inside the bundle, regexes on RE2.

Each test goes through the real upload route (and, where it matters, the gateway):
a ``file:`` ref is refused without being read, an ``http:`` ref without being
fetched (a loopback server counts requests), bundle refs resolve at publish and at
the gateway from what publish stored, and a catastrophic-backtracking pattern is
judged in milliseconds.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import manifest_data, module_entries, zip_bytes  # noqa: E402
from publish_factory import count, upload  # noqa: E402

from marketplace.catalog.models import Module, ModuleVersion, Operation  # noqa: E402

EVIL = "a" * 27 + "!"           # 12.8 s under backtracking "^(a+)+$"; 28 chars: 26 s


@pytest.fixture
def publisher(factory):
    """Headers of a 广东省 publisher token."""
    return factory.headers("publisher", "440000", "read publish")


class Counting(BaseHTTPRequestHandler):
    """Answers every GET with a permissive schema and counts it."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """Quiet."""


@pytest.fixture
def schema_server():
    """A loopback HTTP server serving a schema; ``.hits`` lists the paths requested."""
    handler = type("Handler", (Counting,), {"hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.hits = handler.hits
    yield server
    server.shutdown()
    server.server_close()


def bundle_with(input_schema, files: dict[str, object] | None = None, example=None,
                name: str = "demo-licence", output_schema=None) -> bytes:
    """The demo module with operation input ``input_schema`` (a dict or a file path)."""
    data = manifest_data()
    data["module"]["name"] = name
    op = data["operations"][0]
    op["input"] = input_schema
    if output_schema is not None:
        op["output"] = output_schema
    op["examples"] = [{"input": example if example is not None else {"company": "acme"},
                       "output_contains": {"status": "valid"}}]
    entries = module_entries(data)
    entries += [(path, (body if isinstance(body, bytes) else json.dumps(body).encode()))
                for path, body in (files or {}).items()]
    return zip_bytes(entries)


def refused_at(response, where: str) -> str:
    """The message of the located problem at ``where`` (asserts a 400 invalid_bundle)."""
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_bundle"
    found = [d for d in body["details"] if where in d["where"]]
    assert found, body["details"]
    return found[0]["message"]


def nothing_stored(app) -> None:
    assert count(app, Module) == count(app, ModuleVersion) == count(app, Operation) == 0
    assert not list(Path(app.config["ARTIFACT_DIR"]).rglob("*.zip"))


# --- fault 1: refs reach only the bundle ------------------------------------------------

def test_a_file_ref_is_refused_at_publish_and_the_file_is_never_read(app, client, publisher,
                                                                     tmp_path):
    secret = tmp_path / "rootonly.json"
    secret.write_text('{"type": "object", "title": "TOP-SECRET-CONTENT"}')
    secret.chmod(0o600)
    response = upload(client, publisher, bundle_with({"$ref": secret.as_uri()}))
    message = refused_at(response, "operations[0].input.$ref")
    assert "outside the bundle" in message
    assert "TOP-SECRET" not in response.get_data(as_text=True)
    nothing_stored(app)


def test_an_http_ref_is_refused_at_publish_without_a_request(app, client, publisher,
                                                             schema_server):
    started = time.monotonic()
    response = upload(client, publisher, bundle_with({
        "type": "object", "properties": {"company": {"$ref": f"{schema_server.url}/x"}}}))
    assert "outside the bundle" in refused_at(response, "operations[0].input.properties."
                                                        "company.$ref")
    assert schema_server.hits == [] and time.monotonic() - started < 5
    nothing_stored(app)


def test_a_stored_remote_ref_is_never_fetched_by_the_gateway(app, client, factory, tmp_path,
                                                             schema_server):
    """A version stored before refs were checked: the gateway answers 422, fetches nothing."""
    from tests.runtime.conftest import Catalog

    # a name of its own: its bundle's digest must not be one that other tests' validators
    # are cached under (a digest fixes its schemas; this test changes them behind its back)
    Catalog(app, factory, tmp_path).toy("toy-remote-ref", "1.0.0")
    with app.app_context():
        from marketplace import db

        session = db.session()
        op = session.scalar(sa.select(Operation).where(Operation.name == "echo"))
        op.input_schema = {"type": "object", "properties": {
            "text": {"$ref": f"{schema_server.url}/changed-after-approval"}}}
        session.commit()
    adopter = factory.headers("adopter", "440300", "install invoke")
    assert client.post("/api/v1/installations", headers=adopter, json={
        "module": "toy-remote-ref", "accept_terms": True}).status_code == 201
    for _ in range(3):
        answer = client.post("/api/v1/invoke/toy-remote-ref/echo", headers=adopter,
                             json={"text": "hi"})
        assert answer.status_code == 422 and answer.get_json()["error"] == "invalid_input"
    assert schema_server.hits == []


def test_a_ref_to_a_missing_bundle_file_is_located(app, client, publisher):
    response = upload(client, publisher, bundle_with("schemas/in.json", {
        "schemas/in.json": {"$ref": "common.json#/defs/company"}}))
    message = refused_at(response, "schemas/in.json: $ref")
    assert "no schema file 'schemas/common.json'" in message
    nothing_stored(app)


COMMON = {"defs": {"company": {"type": "string", "minLength": 2, "pattern": "^[^0-9]+$"},
                   "input": {"type": "object", "required": ["company"],
                             "properties": {"company": {"$ref": "#/defs/company"}}}}}


def test_bundle_refs_resolve_at_publish_and_at_the_gateway_from_what_was_stored(
        app, client, factory, publisher):
    """schemas/in.json → common.json (same folder) → a pointer inside it; inline → by path."""
    app.config["REQUIRE_REVIEW"] = False
    data = bundle_with("schemas/in.json", {
        "schemas/in.json": {"$ref": "common.json#/defs/input"}, "schemas/common.json": COMMON})
    response = upload(client, publisher, data)
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        from marketplace import db, schemas

        [op] = db.session().scalars(sa.select(Operation))
        assert op.schema_links["input"]["resources"] == {
            schemas.BUNDLE + "schemas/common.json": COMMON}
    adopter = factory.headers("adopter", "440300", "install invoke")
    assert client.post("/api/v1/installations", headers=adopter, json={
        "module": "demo-licence", "accept_terms": True}).status_code == 201
    ok = client.post("/api/v1/invoke/demo-licence/lookup_licence", headers=adopter,
                     json={"company": "acme"})
    assert ok.status_code == 200, ok.get_json()
    bad = client.post("/api/v1/invoke/demo-licence/lookup_licence", headers=adopter,
                      json={"company": "4cme9"})
    assert bad.status_code == 422
    assert bad.get_json()["details"][0]["where"] == "company"


def test_a_ref_loop_that_reads_no_input_is_refused(app, client, publisher):
    response = upload(client, publisher, bundle_with({
        "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}},
        "$ref": "#/$defs/a"}))
    assert "never end" in refused_at(response, "operations[0].input.$ref")
    nothing_stored(app)


def test_interfaces_compare_the_files_their_refs_reach(app, client, factory, publisher):
    """Same schema text, different common.json: not the same interface."""
    def module(name: str, minimum: int) -> bytes:
        common = {"defs": {"input": {"type": "object", "required": ["company"], "properties": {
            "company": {"type": "string", "minLength": minimum}}}}}
        return bundle_with("schemas/in.json", {"schemas/in.json": {"$ref": "common.json#/defs/"
                                                                             "input"},
                                               "schemas/common.json": common}, name=name)
    assert upload(client, publisher, module("demo-licence", 2)).status_code == 201
    other = factory.headers("publisher", "330000", "read publish")
    message = refused_at(upload(client, other, module("other-licence", 3)), "module.implements")
    assert "schema files its $refs reach differ" in message


def test_every_validator_is_built_by_marketplace_schemas():
    """One place builds validators: no other module of the platform constructs one."""
    import marketplace

    root = Path(marketplace.__file__).parent
    assert (root / "schemas.py").exists()
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "schemas.py" and "Draft202012Validator" in p.read_text("utf-8")]
    assert offenders == []


# --- fault 2: linear-time patterns --------------------------------------------------------

REDOS = {"type": "object", "required": ["company"],
         "properties": {"company": {"type": "string", "pattern": "^(a+)+$"}}}


def test_a_backtracking_pattern_is_judged_in_milliseconds_at_publish(app, client, publisher):
    started = time.monotonic()
    response = upload(client, publisher, bundle_with(REDOS, example={"company": EVIL}))
    assert "does not match" in refused_at(response, "example 1 input")
    assert time.monotonic() - started < 5          # backtracking: 12.8 s for this input alone
    nothing_stored(app)


def test_a_backtracking_pattern_is_judged_in_milliseconds_at_the_gateway(
        app, client, factory, publisher):
    app.config["REQUIRE_REVIEW"] = False
    schema = {**REDOS, "patternProperties": {"^(b+)+$": {"type": "string"}},
              "additionalProperties": False}
    response = upload(client, publisher, bundle_with(
        {**schema, "properties": {"company": {"type": "string", "pattern": "^(a+)+$|^acme$"}}}))
    assert response.status_code == 201, response.get_json()
    adopter = factory.headers("adopter", "440300", "install invoke")
    assert client.post("/api/v1/installations", headers=adopter, json={
        "module": "demo-licence", "accept_terms": True}).status_code == 201
    for payload in ({"company": EVIL}, {"company": "acme", "b" * 27 + "!": "x"}):
        started = time.perf_counter()
        answer = client.post("/api/v1/invoke/demo-licence/lookup_licence", headers=adopter,
                             json=payload)
        assert answer.status_code == 422, answer.get_json()
        assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("pattern", [r"^(a)\1$", "^(?=a)a$", "^(?<!b)a$", "(?P<x>a)(?P=x)"])
def test_a_pattern_re2_cannot_run_is_refused_at_publish(app, client, publisher, pattern):
    schema = {"type": "object", "properties": {"company": {"type": "string", "pattern": pattern}}}
    message = refused_at(upload(client, publisher, bundle_with(schema)),
                         "operations[0].input.properties.company.pattern")
    assert "linear time" in message
    nothing_stored(app)


def test_a_pattern_property_re2_cannot_run_is_refused_at_publish(app, client, publisher):
    schema = {"type": "object", "patternProperties": {"^(x)\\1": {}}}
    message = refused_at(upload(client, publisher, bundle_with(schema)),
                         "operations[0].input.patternProperties")
    assert "linear time" in message


def test_unevaluated_properties_match_pattern_properties_on_re2():
    from marketplace import schemas

    check = schemas.validator({"type": "object", "patternProperties": {"^(a+)+$": {}},
                               "unevaluatedProperties": False})
    started = time.perf_counter()
    assert check.is_valid({"aaa": 1}) and not check.is_valid({EVIL: 1})
    assert time.perf_counter() - started < 0.5


# --- the same class: unbounded work from refs ---------------------------------------------

def _doubling(levels: int) -> dict:
    """Each definition refers twice to the next: 2**levels subschemas per value."""
    defs = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
            for i in range(levels)}
    defs[f"d{levels}"] = {"type": "object"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


def test_refs_that_expand_exponentially_are_refused_at_publish(app, client, publisher):
    started = time.monotonic()
    message = refused_at(upload(client, publisher, bundle_with(_doubling(16))),
                         "operations[0].input")
    assert "expand to" in message and time.monotonic() - started < 5
    nothing_stored(app)


def test_a_ref_chain_thousands_long_is_a_located_400(app, client, publisher):
    defs = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(3000)}
    defs["d3000"] = {"type": "object"}
    message = refused_at(upload(client, publisher, bundle_with({"$defs": defs,
                                                               "$ref": "#/$defs/d0"})),
                         "operations[0].input")
    assert "too deeply" in message
    nothing_stored(app)


def test_refs_multiplying_along_the_input_are_cut_off_by_a_budget_at_the_gateway(
        app, client, factory, publisher):
    """Two branches re-enter the root at each level: 2**depth checks for a deep value."""
    app.config["REQUIRE_REVIEW"] = False
    twice = {"type": "object", "allOf": [{"properties": {"a": {"$ref": "#"}}},
                                         {"properties": {"a": {"$ref": "#"}}}]}
    assert upload(client, publisher, bundle_with(twice)).status_code == 201
    adopter = factory.headers("adopter", "440300", "install invoke")
    assert client.post("/api/v1/installations", headers=adopter, json={
        "module": "demo-licence", "accept_terms": True}).status_code == 201
    value: dict = {"company": "acme"}
    for _ in range(16):
        value = {"a": value, "company": "acme"}
    started = time.perf_counter()
    answer = client.post("/api/v1/invoke/demo-licence/lookup_licence", headers=adopter,
                         json=value)
    assert answer.status_code == 422, answer.get_json()
    assert "$ref expansions" in answer.get_json()["details"][0]["message"]
    assert time.perf_counter() - started < 2.0
