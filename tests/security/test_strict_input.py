"""Lenient input is refused, located, on every JSON write route (DESIGN §12).

Duplicate keys (the last used to win silently), fields a route does not know (used
to be ignored, so ``expires_at`` looked applied), free text without a bound, an
unknown ``?format=`` (used to answer JSON) and a reversed date range (used to answer
an empty 200) are each a 400 that names the fault and what to send instead.
"""
from __future__ import annotations

import pytest

from marketplace import jsonio

ALL = "all"          # an admin token holding every scope: the body is refused before any rule

# (method, path, a valid field set of the route) for every route that parses a JSON object
ROUTES = [
    ("post", "/api/v1/tokens", {"scopes": ["read"]}),
    ("post", "/api/v1/installations", {"module": "toy-echo", "accept_terms": True}),
    ("patch", "/api/v1/installations/{installation}", {"version": "1.0.0"}),
    ("post", "/api/v1/reviews/toy-echo/1.1.0", {"decision": "approve"}),
    ("post", "/api/v1/modules/toy-echo/1.0.0/yank", {"reason": "broken"}),
    ("post", "/api/v1/settlements", {"period": "2026-10"}),
    ("post", "/api/v1/ledger/payments", {"jurisdiction": "440300", "amount": "1.00",
                                         "period": "2026-10"}),
    ("post", "/api/v1/usage", {"events": []}),
]


def _send(world, method: str, path: str, data: bytes):
    client = world.app.test_client()
    return getattr(client, method)(path.format(installation=world.installation_id),
                                   headers={**world.lacking("no-such-scope"),
                                            "Content-Type": "application/json"}, data=data)


@pytest.mark.parametrize("method,path,valid", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_unknown_fields_are_refused_naming_the_field_and_the_allowed_ones(world, method, path,
                                                                          valid):
    body = jsonio.dumps({**valid, "expires_at": "2027-01-01"}).encode()
    answer = _send(world, method, path, body)
    error = answer.get_json()
    assert answer.status_code == 400 and error["error"] == "unknown_field", error
    assert '"expires_at"' in error["message"] and all(k in error["message"] for k in valid)
    assert error["details"][0]["where"] == "body.expires_at"


@pytest.mark.parametrize("method,path,valid", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_key_given_twice_is_refused_naming_it(world, method, path, valid):
    key = next(iter(valid))
    text = jsonio.dumps(valid)
    doubled = text[:-1] + "," + jsonio.dumps({key: valid[key]})[1:]
    answer = _send(world, method, path, doubled.encode())
    error = answer.get_json()
    assert answer.status_code == 400 and error["error"] == "invalid_json", error
    assert f"the key '{key}' appears twice" in error["message"]


@pytest.mark.parametrize("method,path,valid", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_trailing_nul_byte_is_refused(world, method, path, valid):
    answer = _send(world, method, path, jsonio.dumps(valid).encode() + b"\x00")
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_json"


def test_duplicate_keys_are_refused_at_any_depth_and_plain_objects_still_parse():
    assert jsonio.loads(b'{"a": {"b": 1, "c": [{"b": 2}]}, "b": 3}') == \
        {"a": {"b": 1, "c": [{"b": 2}]}, "b": 3}
    with pytest.raises(jsonio.JSONRefused, match="the key 'x' appears twice"):
        jsonio.loads(b'[{"a": {"x": 1, "y": 2, "x": 1}}]', "body")


@pytest.mark.parametrize("path,body", [
    ("/api/v1/modules/toy-echo/1.0.0/yank", {"reason": "x" * 100_000}),
    ("/api/v1/reviews/toy-echo/1.1.0", {"decision": "reject", "reason": "x" * 1001}),
])
def test_free_text_longer_than_1000_characters_is_refused_and_nothing_changes(world, path, body):
    answer = _send(world, "post", path, jsonio.dumps(body).encode())
    error = answer.get_json()
    assert answer.status_code == 400 and error["error"] == "too_long", error
    assert error["details"][0]["where"] == "body.reason" and "1,000" in error["message"]
    module = world.app.test_client().get("/api/v1/modules/toy-echo").get_json()
    assert "x" * 1001 not in str(module)


def test_a_reason_of_1000_characters_is_accepted(world):
    answer = _send(world, "post", "/api/v1/modules/toy-echo/1.0.0/yank",
                   jsonio.dumps({"reason": "y" * 1000}).encode())
    assert answer.status_code == 200 and answer.get_json()["yank_reason"] == "y" * 1000


@pytest.mark.parametrize("path", ["/api/v1/usage?format=xml", "/api/v1/statements/{period}?format=xml",
                                  "/api/v1/usage?format=CSV"])
def test_an_unknown_format_is_refused_naming_the_allowed_ones(world, path):
    answer = world.app.test_client().get(path.format(period=world.period),
                                         headers=world.headers("adopter"))
    error = answer.get_json()
    assert answer.status_code == 400 and error["error"] == "invalid_format", error
    assert "json, csv" in error["message"]


@pytest.mark.parametrize("fmt,mimetype", [("json", "application/json"), ("csv", "text/csv")])
def test_the_offered_formats_still_answer(world, fmt, mimetype):
    answer = world.app.test_client().get(f"/api/v1/usage?format={fmt}",
                                         headers=world.headers("adopter"))
    assert answer.status_code == 200 and answer.mimetype == mimetype


def test_a_reversed_usage_range_is_refused(world):
    client = world.app.test_client()
    answer = client.get("/api/v1/usage?from=2026-12-02&to=2026-12-01", headers=world.headers("adopter"))
    error = answer.get_json()
    assert answer.status_code == 400 and error["error"] == "invalid_range", error
    assert client.get("/api/v1/usage?from=2026-12-01&to=2026-12-01",
                      headers=world.headers("adopter")).status_code == 200
