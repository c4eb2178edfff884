"""Fuzzing: schemathesis generates requests from /api/v1/openapi.json and calls the WSGI app.

Bounded (EXAMPLES derandomized examples per operation, valid and invalid mixed), each sent with an admin
token and with an adopter token of the city that installed the toy module. No
answer may be a server error, except the gateway's documented 502 (module failed)
and 504 (time limit); every error answer is the JSON ``{"error", "message"}``; every answer
conforms to the document (status code, content type, schema). A stateful run follows the
document's OpenAPI links (install → read/upgrade/uninstall, token → revoke, settle → read).
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi import checks

GATEWAY_ERRORS = {502, 504}
EXAMPLES = 30            # per operation and mode (valid, invalid), each sent as admin and adopter
STATEFUL_EXAMPLES = 40   # sequences of up to 6 linked calls
CONFORMANCE = [checks.status_code_conformance, checks.content_type_conformance,
               checks.response_schema_conformance]


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation (read from the document, no app needed)."""
    from marketplace.openapi import spec

    return [(method.upper(), path) for path, item in spec()["paths"].items() for method in item]


# schemathesis' pytest plugin (from_fixture) does not run on pytest 9, so each operation
# is driven here through its Hypothesis strategy.
@pytest.mark.parametrize(("method", "path"), _operations(), ids=[" ".join(o) for o in _operations()])
def test_no_server_errors_for_generated_requests(world, method, path):
    world.app.config.update(STRIPE_API_KEY="sk_test_fuzz", STRIPE_WEBHOOK_SECRET="whsec_fuzz")
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", world.app)[path][method]

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy() | operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))
    def fuzz(case):
        for who in ("admin", "adopter"):
            response = case.call(headers=world.headers(who))
            _server_error_free(who, case, response)
            case.validate_response(response, checks=CONFORMANCE)
    fuzz()


def _server_error_free(who: str, case, response) -> None:
    """Our rule: never a 5xx (the gateway's documented 502/504 aside); errors are JSON."""
    status = response.status_code
    gateway = case.path.startswith("/api/v1/invoke/")
    assert status < 500 or (gateway and status in GATEWAY_ERRORS), \
        f"{who}: {case.method} {case.formatted_path} → {status}: {response.text[:300]}"
    if status >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
        assert {"error", "message"} <= set(response.json()), response.text[:300]


@pytest.mark.parametrize("who", ["admin", "adopter"])
def test_stateful_sequences_follow_the_documented_links(world, who):
    """Install → read/upgrade/uninstall, issue → revoke a token, settle → read the settlement and
    statement: sequences built from the OpenAPI links, every answer conforming to the document."""
    world.app.config.update(STRIPE_API_KEY="sk_test_fuzz", STRIPE_WEBHOOK_SECRET="whsec_fuzz")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", world.app)

    class Workflow(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": world.headers(who)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            _server_error_free(who, case, response)
            case.validate_response(response, checks=CONFORMANCE)

    Workflow.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=6,
                                   derandomize=True, deadline=None, database=None,
                                   suppress_health_check=list(HealthCheck)))


def test_openapi_describes_every_api_route_with_its_real_scope(app):
    """Mismatches between the document and the routes would make the fuzzing above blind."""
    from marketplace.accounts.auth import satisfying
    from marketplace.openapi import spec

    paths = spec()["paths"]
    undocumented = {"/api/v1/installations/{installation_id}/health", "/api/v1/ledger/balances",
                    "/api/v1/ledger/payments", "/api/v1/webhooks/stripe", "/api/v1/openapi.json"}
    api_rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]
    assert len(api_rules) > len(undocumented)
    for rule in api_rules:
        path = rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}")
        if path in undocumented:
            continue
        assert path in paths, f"{path} is not in the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = paths[path].get(method.lower())
            assert op is not None, f"{method} {path} is not in the OpenAPI document"
            accepted = getattr(app.view_functions[rule.endpoint], "accepted_scopes", ())
            documented = {alt["token"][0] for alt in op.get("security", [])}
            assert documented == satisfying(accepted), \
                f"{method} {path}: document says {documented}, route accepts {accepted}"


@pytest.mark.parametrize("period", ["0000-01", "0001-01", "9999-12"])
def test_periods_out_of_datetime_range_are_refused_not_crashed(world, period):
    answer = world.app.test_client().post("/api/v1/settlements", json={"period": period},
                                          headers=world.headers("admin"))
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_period"


@pytest.mark.parametrize("path", ["/api/v1/installations/2147483648",
                                  "/api/v1/installations/9223372036854775808",
                                  "/api/v1/tokens/99999999999999999999999"])
def test_ids_beyond_64_bits_are_not_found_not_crashed(world, path):
    client = world.app.test_client()
    for method in ("GET", "DELETE"):
        answer = client.open(path, method=method, headers=world.headers("admin"))
        assert (answer.status_code, answer.get_json()["error"]) == (404, "not_found"), method


# SQLite would store NUL and PostgreSQL refuse it: the URL is refused before either sees it
@pytest.mark.parametrize(("path", "sqlite_error"), [
    ("/api/v1/modules/a%00b", "unknown_module"),
    ("/api/v1/statements/2026-10?jurisdiction=%00", "unknown_jurisdiction"),
    ("/api/v1/ledger/balances?jurisdiction=%00", "unknown_jurisdiction")])
def test_nul_characters_are_a_client_error_on_every_database(world, path, sqlite_error):
    answer = world.app.test_client().get(path, headers=world.headers("admin"))
    # the same answer on every database: refused before any route reads the URL
    assert (answer.status_code, answer.get_json()["error"]) == (400, "invalid_value"), \
        answer.get_json()
    assert "NUL" in answer.get_json()["message"]


def test_a_nul_character_in_a_usage_filter_is_refused_on_every_database(world):
    answer = world.app.test_client().get("/api/v1/usage?module=a%00b", headers=world.headers("admin"))
    assert (answer.status_code, answer.get_json()["error"]) == (400, "invalid_value")
    page = world.logged_in("adopter").get("/adopter/statements?period=2026-10%00")
    assert page.status_code == 400 and "NUL" in page.get_data(as_text=True)


def test_nul_characters_in_reported_usage_are_refused_per_event(world):
    from marketplace.clock import now

    answer = world.app.test_client().post("/api/v1/usage", headers=world.headers("adopter"), json={
        "events": [{"id": "a\u0000b", "module": "toy-echo", "operation": "echo", "units": 1,
                    "occurred_at": now().isoformat()}]})
    body = answer.get_json()                # a batch answers 200; each refused event says why
    assert answer.status_code == 200 and (body["accepted"], body["duplicates"]) == (0, 0), body
    assert [(r["index"], r["reason"], r["field"]) for r in body["rejected"]] == [(0, "invalid", "id")]
    assert "no NUL" in body["rejected"][0]["message"]


def _on_postgresql(world) -> bool:
    return world.app.config["DATABASE_URL"].startswith("postgresql")
