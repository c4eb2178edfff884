"""OPTIONS and other methods a route does not offer are one documented 405 JSON (DESIGN §12).

Flask answered ``OPTIONS`` on every route with an empty text/html 200 that
openapi.json does not list; the API has no CORS (its callers are servers and the CLI).
"""
from __future__ import annotations

import re

import pytest


def _api_rules(app) -> list[tuple[str, set[str]]]:
    """Every API path (placeholders filled) with the methods its rules offer together."""
    paths: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<int:[^>]+>", "1", rule.rule)
            path = re.sub(r"<[^>]+>", "x", path)
            paths.setdefault(path, set()).update(rule.methods - {"OPTIONS"})
    return sorted(paths.items())


def test_options_on_every_api_route_is_405_json_with_allow(app):
    client = app.test_client()
    rules = _api_rules(app)
    assert len(rules) > 20
    for path, methods in rules:
        answer = client.open(path, method="OPTIONS")
        assert answer.status_code == 405 and answer.mimetype == "application/json", path
        assert answer.get_json()["error"] == "method_not_allowed", path
        allowed = set(answer.headers["Allow"].split(", "))
        assert allowed == methods, (path, allowed, methods)
        assert "OPTIONS" not in answer.get_json()["message"].split("use ", 1)[1], path


@pytest.mark.parametrize("method,path", [("PUT", "/api/v1/modules"),
                                         ("DELETE", "/api/v1/usage")])
def test_other_methods_name_the_allowed_ones(app, method, path):
    answer = app.test_client().open(path, method=method)
    assert answer.status_code == 405 and answer.get_json()["error"] == "method_not_allowed"
    assert "OPTIONS" not in answer.headers["Allow"] and "POST" in answer.headers["Allow"]
    assert "POST" in answer.get_json()["message"]


def test_the_405_is_documented(app):
    description = app.test_client().get("/api/v1/openapi.json").get_json()["info"]["description"]
    assert "405 `method_not_allowed`" in description and "OPTIONS" in description


def test_the_gateway_states_the_idempotency_contract(app):
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    text = paths["/api/v1/invoke/{module}/{operation}"]["post"]["description"]
    assert "bound to the exact request bytes" in text
    assert "ran nothing and may be retried with the same key" in text
