"""Authorization matrix: every route of the app × every kind of caller → the exact status.

The table below is the specification. ``test_every_route_is_in_the_table`` enumerates
``app.url_map`` and fails when a rule (or one of its methods) has no row, so a new
route cannot ship without someone deciding who may call it.

API callers: ``anon`` (no token), ``publisher`` 440000, ``adopter`` 440300, ``admin``
110000 (each token with all scopes of its role), ``lacking`` (an admin token with
every scope except the one the route needs), ``other_publisher`` 330000 and
``other_adopter`` 330100. Page callers log in through the form; ``bearer`` sends an
API token without a session (tokens never open console pages).
Callers run in the order of the columns, so a route that changes state is seen by
the owner last.
"""
from __future__ import annotations

import io
from typing import Callable

import pytest

API_CALLERS = ("anon", "lacking", "other_adopter", "other_publisher", "publisher", "admin",
               "adopter")
PAGE_CALLERS = ("anon", "bearer", "other_adopter", "other_publisher", "publisher", "admin",
                "adopter")
LOGIN = "login"     # expected value: 302 to the login page


def _events(world) -> dict:
    from marketplace.clock import now

    return {"events": [{"id": "matrix-1", "module": "toy-echo", "operation": "echo", "units": 1,
                        "occurred_at": now().isoformat()}]}


def _bundle(world) -> dict:
    return {"bundle": (io.BytesIO(world.new_bundle), "toy-echo-1.2.0.zip")}


# (method, rule, path template, body builder or None, kind, {caller: status})
# kind: "json" body, "form" (multipart/form data), or None
I = "{iid}"
API: list[tuple] = [
    ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, None, dict.fromkeys(API_CALLERS, 200)),
    ("GET", "/api/v1/jurisdictions", "/api/v1/jurisdictions", None, None, dict.fromkeys(API_CALLERS, 200)),
    ("GET", "/api/v1/me", "/api/v1/me", None, None, {}),
    ("GET", "/api/v1/tokens", "/api/v1/tokens", None, None, {}),
    ("POST", "/api/v1/tokens", "/api/v1/tokens", lambda w: {"scopes": ["read"]}, "json", {}),
    ("DELETE", "/api/v1/tokens/<int:token_id>", "/api/v1/tokens/{tid}", None, None, {}),
    ("GET", "/api/v1/modules", "/api/v1/modules", None, None, dict.fromkeys(API_CALLERS, 200)),
    ("POST", "/api/v1/modules", "/api/v1/modules", _bundle, "form", {}),
    ("GET", "/api/v1/modules/<name>", "/api/v1/modules/toy-echo", None, None, dict.fromkeys(API_CALLERS, 200)),
    ("GET", "/api/v1/modules/<name>/<version>/bundle", "/api/v1/modules/toy-echo/1.0.0/bundle", None,
     None, dict.fromkeys(API_CALLERS, 200)),
    ("POST", "/api/v1/modules/<name>/<version>/yank", "/api/v1/modules/toy-echo/1.0.0/yank",
     lambda w: {"reason": "withdrawn"}, "json", {}),
    ("GET", "/api/v1/reviews", "/api/v1/reviews", None, None, {}),
    ("POST", "/api/v1/reviews/<name>/<version>", "/api/v1/reviews/toy-echo/1.1.0",
     lambda w: {"decision": "approve"}, "json", {}),
    ("GET", "/api/v1/installations", "/api/v1/installations", None, None, {}),
    ("POST", "/api/v1/installations", "/api/v1/installations",
     lambda w: {"module": "toy-echo", "accept_terms": True}, "json", {}),
    ("GET", "/api/v1/installations/<int:installation_id>", f"/api/v1/installations/{I}", None, None, {}),
    ("PATCH", "/api/v1/installations/<int:installation_id>", f"/api/v1/installations/{I}",
     lambda w: {"version": "1.0.0"}, "json", {}),
    ("DELETE", "/api/v1/installations/<int:installation_id>", f"/api/v1/installations/{I}", None, None, {}),
    ("GET", "/api/v1/installations/<int:installation_id>/health", f"/api/v1/installations/{I}/health",
     None, None, {}),
    ("POST", "/api/v1/invoke/<module>/<operation>", "/api/v1/invoke/toy-echo/echo",
     lambda w: {"text": "hi"}, "json", {}),
    ("POST", "/api/v1/invoke/interface/<interface>/<operation>", "/api/v1/invoke/interface/gov.toy/echo",
     lambda w: {"text": "hi"}, "json", {}),
    ("POST", "/api/v1/usage", "/api/v1/usage", _events, "json", {}),
    ("GET", "/api/v1/usage", "/api/v1/usage", None, None, {}),
    ("POST", "/api/v1/settlements", "/api/v1/settlements", lambda w: {"period": w.period}, "json", {}),
    ("GET", "/api/v1/settlements/<period>", "/api/v1/settlements/{period}", None, None, {}),
    ("GET", "/api/v1/statements/<period>", "/api/v1/statements/{period}", None, None, {}),
    ("GET", "/api/v1/ledger/balances", "/api/v1/ledger/balances", None, None, {}),
    ("POST", "/api/v1/ledger/payments", "/api/v1/ledger/payments",
     lambda w: {"jurisdiction": "440300", "amount": "1.00", "period": w.period,
                "direction": "in", "reference": "matrix"}, "json", {}),
    ("POST", "/api/v1/webhooks/stripe", "/api/v1/webhooks/stripe", lambda w: {"id": "evt_1"}, "json",
     dict.fromkeys(API_CALLERS, 400)),
]

PAGES: list[tuple] = [
    ("GET", "/", "/", None, None, {}),
    ("GET", "/modules/<name>", "/modules/toy-echo", None, None, {}),
    ("GET", "/login", "/login", None, None, {}),
    ("POST", "/login", "/login", lambda w: {"email": "nobody@gov.example.cn", "password": "x"}, "form", {}),
    ("POST", "/logout", "/logout", None, None, {}),
    ("GET", "/publisher/", "/publisher/", None, None, {}),
    ("POST", "/publisher/upload", "/publisher/upload", _bundle, "form", {}),
    ("GET", "/publisher/modules/<name>", "/publisher/modules/toy-echo", None, None, {}),
    ("POST", "/publisher/modules/<name>/<version>/yank", "/publisher/modules/toy-echo/1.0.0/yank",
     lambda w: {"reason": "withdrawn"}, "form", {}),
    ("GET", "/publisher/usage", "/publisher/usage", None, None, {}),
    ("GET", "/publisher/earnings", "/publisher/earnings", None, None, {}),
    ("GET", "/adopter/", "/adopter/", None, None, {}),
    ("GET", "/adopter/install/<name>", "/adopter/install/toy-echo", None, None, {}),
    ("POST", "/adopter/install/<name>", "/adopter/install/toy-echo",
     lambda w: {"version": "1.0.0", "accept_terms": "y"}, "form", {}),
    ("POST", "/adopter/installations/<int:installation_id>/upgrade", f"/adopter/installations/{I}/upgrade",
     lambda w: {"version": "1.0.0"}, "form", {}),
    ("POST", "/adopter/installations/<int:installation_id>/switch", f"/adopter/installations/{I}/switch",
     lambda w: {"module": "toy-echo"}, "form", {}),
    ("POST", "/adopter/installations/<int:installation_id>/uninstall",
     f"/adopter/installations/{I}/uninstall", None, "form", {}),
    ("GET", "/adopter/tokens", "/adopter/tokens", None, None, {}),
    ("POST", "/adopter/tokens", "/adopter/tokens", lambda w: {"name": "m", "scopes": "read"}, "form", {}),
    ("POST", "/adopter/tokens/<int:token_id>/revoke", "/adopter/tokens/{tid}/revoke", None, "form", {}),
    ("GET", "/adopter/usage", "/adopter/usage", None, None, {}),
    ("GET", "/adopter/statements", "/adopter/statements", None, None, {}),
    ("GET", "/adopter/statements/<period>.csv", "/adopter/statements/{period}.csv", None, None, {}),
    ("GET", "/admin/", "/admin/", None, None, {}),
    ("GET", "/admin/reviews", "/admin/reviews", None, None, {}),
    ("POST", "/admin/reviews/<name>/<version>", "/admin/reviews/toy-echo/1.1.0",
     lambda w: {"decision": "approve", "reason": ""}, "form", {}),
    ("GET", "/admin/jurisdictions", "/admin/jurisdictions", None, None, {}),
    ("POST", "/admin/jurisdictions", "/admin/jurisdictions", lambda w: {}, "form", {}),
    ("GET", "/admin/audit", "/admin/audit", None, None, {}),
    ("GET", "/admin/periods", "/admin/periods", None, None, {}),
    ("POST", "/admin/periods/settle", "/admin/periods/settle", lambda w: {"period": w.period}, "form", {}),
]
EXCLUDED = {"static"}


def _path(template: str, world) -> str:
    return template.format(iid=world.installation_id, tid=world.adopter_token_id, period=world.period)


def _send(client, method: str, path: str, body, kind, headers: dict):
    kwargs = {"headers": headers}
    if kind == "json":
        kwargs["json"] = body
    elif kind == "form":
        kwargs["data"] = body or {}
        kwargs["content_type"] = "multipart/form-data"
    return client.open(path, method=method, **kwargs)


def _required_scope(app, rule: str, method: str) -> str | None:
    for item in app.url_map.iter_rules():
        if item.rule == rule and method in item.methods:
            return getattr(app.view_functions[item.endpoint], "required_scope", None)
    raise AssertionError(f"no route {method} {rule}")


def api_codes(world, method, rule, template, body: Callable | None, kind) -> dict:
    """Observed status of each API caller, in column order."""
    client = world.app.test_client()
    scope = _required_scope(world.app, rule, method)
    seen = {}
    for who in API_CALLERS:
        headers = world.lacking(scope) if who == "lacking" else world.headers(who)
        answer = _send(client, method, _path(template, world), body(world) if body else None,
                       kind, headers)
        assert answer.mimetype in ("application/json", "application/zip", "text/csv"), (who, answer)
        seen[who] = answer.status_code
    return seen


def page_codes(world, method, rule, template, body: Callable | None, kind) -> dict:
    """Observed status of each page caller; a redirect to the login page reads ``login``."""
    seen = {}
    for who in PAGE_CALLERS:
        client = world.logged_in(who)
        headers = world.headers("admin") if who == "bearer" else {}
        answer = _send(client, method, _path(template, world), body(world) if body else None,
                       kind, headers)
        status = answer.status_code
        if status == 302 and "/login" in answer.headers["Location"] and rule != "/logout":
            status = LOGIN
        seen[who] = status
    return seen
