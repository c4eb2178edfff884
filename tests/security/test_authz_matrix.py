"""Authorization matrix: every route of the app × every kind of caller → the exact status.

The table below is the specification. ``test_every_route_is_in_the_table`` enumerates
``app.url_map`` and fails when a rule (or one of its methods) has no row, so a new
route cannot ship without someone deciding who may call it.

API callers: ``anon`` (no token), ``publisher`` 440000, ``adopter`` 440300, ``admin``
110000 (each token with all scopes of its role), ``lacking`` (an admin token with
every scope except those that pass the route's check: each scope it accepts, and ``admin``
where it accepts ``read``), ``other_publisher`` 330000 and
``other_adopter`` 330100. Page callers log in through the form; ``bearer`` sends an
API token without a session (tokens never open console pages).
Callers run in the order of the columns, so a route that changes state is seen by
the owner last.
"""
from __future__ import annotations

import io
from datetime import datetime, timezone
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


# expected statuses in caller order (see API_CALLERS / PAGE_CALLERS)
ALL = (200,) * 7


def codes(callers, *statuses) -> dict:
    """Column statuses → {caller: status}."""
    assert len(statuses) == len(callers)
    return dict(zip(callers, statuses))


def api(*statuses):
    return codes(API_CALLERS, *statuses)


def page(*statuses):
    return codes(PAGE_CALLERS, *statuses)


I = "{iid}"
#   anon lacking other_adopter other_publisher publisher admin adopter
READ_ANY = api(401, 403, 200, 200, 200, 200, 200)
OWNER_ONLY = api(401, 403, 404, 404, 404, 404, 200)
ADMIN_ONLY = api(401, 403, 403, 403, 403, 200, 403)
# (method, rule, path template, body builder, body kind, expected, settle the period first)
API: list[tuple] = [
    ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, None, api(*ALL), False),
    ("GET", "/api/v1/jurisdictions", "/api/v1/jurisdictions", None, None, api(*ALL), False),
    ("GET", "/api/v1/me", "/api/v1/me", None, None, READ_ANY, False),
    ("GET", "/api/v1/tokens", "/api/v1/tokens", None, None, READ_ANY, False),
    # managing tokens needs the admin scope (people use the console); never wider than the caller
    ("POST", "/api/v1/tokens", "/api/v1/tokens", lambda w: {"scopes": ["read"]}, "json",
     api(401, 403, 403, 403, 403, 201, 403), False),
    # admins may revoke any token; the adopter's own token is then refused
    ("DELETE", "/api/v1/tokens/<int:token_id>", "/api/v1/tokens/{tid}", None, None,
     api(401, 403, 403, 403, 403, 200, 401), False),
    ("GET", "/api/v1/modules", "/api/v1/modules", None, None, api(*ALL), False),
    ("GET", "/api/v1/reports/reuse", "/api/v1/reports/reuse", None, None, api(*ALL), False),
    # only the owning jurisdiction publishes new versions of a module
    ("POST", "/api/v1/modules", "/api/v1/modules", _bundle, "form",
     api(401, 403, 403, 403, 201, 403, 403), False),
    ("GET", "/api/v1/modules/<name>", "/api/v1/modules/toy-echo", None, None, api(*ALL), False),
    ("GET", "/api/v1/modules/<name>/<version>/bundle", "/api/v1/modules/toy-echo/1.0.0/bundle", None,
     None, api(*ALL), False),
    ("GET", "/api/v1/modules/<name>/<version>/bundle", "/api/v1/modules/toy-echo/1.1.0/bundle", None,
     None, api(404, 200, 404, 404, 200, 200, 404), False),      # pending: publisher and admins only
    # yank: the publisher's jurisdiction, or an admin (scope publish or admin)
    ("POST", "/api/v1/modules/<name>/<version>/yank", "/api/v1/modules/toy-echo/1.0.0/yank",
     lambda w: {"reason": "withdrawn"}, "json", api(401, 403, 403, 403, 200, 200, 403), False),
    ("GET", "/api/v1/reviews", "/api/v1/reviews", None, None, ADMIN_ONLY, False),
    ("POST", "/api/v1/reviews/<name>/<version>", "/api/v1/reviews/toy-echo/1.1.0",
     lambda w: {"decision": "approve"}, "json", ADMIN_ONLY, False),
    ("GET", "/api/v1/installations", "/api/v1/installations", None, None, READ_ANY, False),
    ("POST", "/api/v1/installations", "/api/v1/installations",
     lambda w: {"module": "toy-echo", "accept_terms": True}, "json",
     api(401, 403, 201, 201, 201, 201, 409), False),
    ("GET", "/api/v1/installations/plan", "/api/v1/installations/plan?module=toy-echo", None, None,
     READ_ANY, False),
    ("GET", "/api/v1/installations/<int:installation_id>", f"/api/v1/installations/{I}", None, None,
     OWNER_ONLY, False),
    ("PATCH", "/api/v1/installations/<int:installation_id>", f"/api/v1/installations/{I}",
     lambda w: {"version": "1.0.0"}, "json", OWNER_ONLY, False),
    ("DELETE", "/api/v1/installations/<int:installation_id>", f"/api/v1/installations/{I}", None, None,
     OWNER_ONLY, False),
    ("GET", "/api/v1/installations/<int:installation_id>/health", f"/api/v1/installations/{I}/health",
     None, None, OWNER_ONLY, False),
    # webhooks (DESIGN §15): each jurisdiction sets, reads and removes its own endpoint (none
    # is set here: 404 webhook_not_configured to every reader)
    ("PUT", "/api/v1/webhooks", "/api/v1/webhooks", lambda w: {"url": "https://1.1.1.1/hooks"},
     "json", api(401, 403, 200, 200, 200, 200, 200), False),
    ("GET", "/api/v1/webhooks", "/api/v1/webhooks", None, None,
     api(401, 403, 404, 404, 404, 404, 404), False),
    ("GET", "/api/v1/webhooks/deliveries", "/api/v1/webhooks/deliveries", None, None, READ_ANY,
     False),
    ("DELETE", "/api/v1/webhooks", "/api/v1/webhooks", None, None,
     api(401, 403, 404, 404, 404, 404, 404), False),
    # the tenant is the token's jurisdiction: nobody calls another city's installation
    ("POST", "/api/v1/invoke/<module>/<operation>", "/api/v1/invoke/toy-echo/echo",
     lambda w: {"text": "hi"}, "json", OWNER_ONLY, False),
    ("POST", "/api/v1/invoke/interface/<interface>/<operation>", "/api/v1/invoke/interface/gov.toy/echo",
     lambda w: {"text": "hi"}, "json", OWNER_ONLY, False),
    ("POST", "/api/v1/usage", "/api/v1/usage", _events, "json", READ_ANY, False),
    ("GET", "/api/v1/monitoring", "/api/v1/monitoring", None, None, READ_ANY, False),
    ("GET", "/api/v1/usage", "/api/v1/usage", None, None, READ_ANY, False),
    # one's own events only, another's is 404 like a missing one (tests/runtime/test_compose_events)
    ("GET", "/api/v1/usage/events/<event_id>", "/api/v1/usage/events/matrix-none", None, None,
     api(401, 403, 404, 404, 404, 404, 404), False),
    ("POST", "/api/v1/settlements", "/api/v1/settlements", lambda w: {"period": w.period}, "json",
     ADMIN_ONLY, False),
    ("GET", "/api/v1/settlements/<period>", "/api/v1/settlements/{period}", None, None, ADMIN_ONLY, True),
    # lines exist for the adopter (440300) and the publisher (440000) only; every other
    # registered jurisdiction reads its empty statement
    ("GET", "/api/v1/statements/<period>", "/api/v1/statements/{period}", None, None,
     api(401, 403, 200, 200, 200, 200, 200), True),
    ("GET", "/api/v1/statements/<period>", "/api/v1/statements/{period}?jurisdiction=440300", None, None,
     api(401, 403, 403, 403, 403, 200, 200), True),
    ("GET", "/api/v1/ledger/balances", "/api/v1/ledger/balances", None, None, READ_ANY, False),
    ("GET", "/api/v1/ledger/balances", "/api/v1/ledger/balances?jurisdiction=440300", None, None,
     api(401, 403, 403, 403, 403, 200, 200), False),
    ("POST", "/api/v1/ledger/payments", "/api/v1/ledger/payments",
     lambda w: {"jurisdiction": "440300", "amount": "1.00", "period": w.period,
                "direction": "in", "reference": "matrix"}, "json",
     api(401, 403, 403, 403, 403, 409, 403), False),   # admin passes; the period is not settled
    # joint decisions (DESIGN §13): only a publisher of a current owner proposes (toy-echo: 440000);
    # proposal 1 does not exist, so every caller with the scope learns nothing but 404
    ("POST", "/api/v1/modules/<name>/proposals", "/api/v1/modules/toy-echo/proposals",
     lambda w: {"kind": "terms", "terms": {"kind": "free"}}, "json",
     api(401, 403, 403, 403, 201, 403, 403), False),
    ("GET", "/api/v1/proposals", "/api/v1/proposals", None, None, READ_ANY, False),
    ("GET", "/api/v1/proposals/<int:proposal_id>", "/api/v1/proposals/1", None, None,
     api(401, 403, 404, 404, 404, 404, 404), False),
    ("POST", "/api/v1/proposals/<int:proposal_id>/approve", "/api/v1/proposals/1/approve", None,
     None, api(401, 403, 403, 404, 404, 404, 403), False),     # adopters lack scope publish
    ("POST", "/api/v1/proposals/<int:proposal_id>/reject", "/api/v1/proposals/1/reject", None,
     None, api(401, 403, 403, 404, 404, 404, 403), False),     # adopters lack scope publish
    # corrections (DESIGN §15): adjustments are the operator's; a dispute is opened by the adopter
    # of a billed installation (others had none: 404) and seen by its parties only (no dispute 1
    # here: 404 for everyone; tests/settlement/test_disputes.py checks the parties)
    ("GET", "/api/v1/adjustments", "/api/v1/adjustments", None, None, ADMIN_ONLY, False),
    ("POST", "/api/v1/adjustments", "/api/v1/adjustments",
     lambda w: {"period": w.period, "installation": w.installation_id, "amount": "1.00",
                "reason": "matrix"}, "json", api(401, 403, 403, 403, 403, 201, 403), True),
    ("GET", "/api/v1/disputes", "/api/v1/disputes", None, None, READ_ANY, False),
    ("POST", "/api/v1/disputes", "/api/v1/disputes",
     lambda w: {"period": w.period, "module": "toy-echo", "reason": "matrix",
                "evidence_ids": ["matrix-1"]}, "json", api(401, 403, 404, 404, 404, 404, 201), True),
    ("GET", "/api/v1/disputes/<int:dispute_id>", "/api/v1/disputes/1", None, None,
     api(401, 403, 404, 404, 404, 404, 404), False),
    ("POST", "/api/v1/disputes/<int:dispute_id>/answer", "/api/v1/disputes/1/answer",
     lambda w: {"answer": "matrix"}, "json", api(401, 403, 404, 404, 404, 404, 404), False),
    ("POST", "/api/v1/disputes/<int:dispute_id>/resolve", "/api/v1/disputes/1/resolve",
     lambda w: {"decision": "uphold"}, "json", api(401, 403, 403, 403, 403, 404, 403), False),
    # no token: the Stripe signature is the credential; unsigned → 400 for everyone
    ("POST", "/api/v1/webhooks/stripe", "/api/v1/webhooks/stripe", lambda w: {"id": "evt_1"}, "json",
     api(*(400,) * 7), False),
]

L = LOGIN
#   anon bearer other_adopter other_publisher publisher admin adopter
PUBLIC_PAGE = page(*ALL)
PUBLISHER_PAGE = page(L, L, 403, 200, 200, 403, 403)
ADOPTER_PAGE = page(L, L, 200, 403, 403, 403, 200)
ADMIN_PAGE = page(L, L, 403, 403, 403, 200, 403)
USER_PAGE = page(L, L, 200, 200, 200, 200, 200)
# actions answer with a redirect and a flashed outcome; test_isolation checks that
# another jurisdiction's attempt changed nothing
ADOPTER_ACTION = page(L, L, 302, 403, 403, 403, 302)
ADMIN_ACTION = page(L, L, 403, 403, 403, 302, 403)
USER_ACTION = page(L, L, 302, 302, 302, 302, 302)
PAGES: list[tuple] = [
    ("GET", "/", "/", None, None, PUBLIC_PAGE, False),
    ("GET", "/modules/<name>", "/modules/toy-echo", None, None, PUBLIC_PAGE, False),
    ("GET", "/login", "/login", None, None, PUBLIC_PAGE, False),
    # five failed logins for one e-mail in 15 minutes lock it out
    ("POST", "/login", "/login", lambda w: {"email": "nobody@gov.example.cn", "password": "x"}, "form",
     page(401, 401, 401, 401, 401, 429, 429), False),
    ("POST", "/logout", "/logout", None, None, page(*(302,) * 7), False),
    ("GET", "/publisher/", "/publisher/", None, None, PUBLISHER_PAGE, False),
    ("POST", "/publisher/upload", "/publisher/upload", _bundle, "form",   # 330000 does not own it
     page(L, L, 403, 403, 302, 403, 403), False),
    ("GET", "/publisher/modules/<name>", "/publisher/modules/toy-echo", None, None,
     page(L, L, 403, 404, 200, 403, 403), False),
    ("POST", "/publisher/modules/<name>/<version>/yank", "/publisher/modules/toy-echo/1.0.0/yank",
     lambda w: {"reason": "withdrawn"}, "form", page(L, L, 403, 302, 302, 403, 403), False),
    ("GET", "/publisher/usage", "/publisher/usage", None, None, PUBLISHER_PAGE, False),
    ("GET", "/publisher/earnings", "/publisher/earnings", None, None, PUBLISHER_PAGE, False),
    ("GET", "/publisher/proposals/", "/publisher/proposals/", None, None, PUBLISHER_PAGE, False),
    ("GET", "/publisher/proposals/<int:proposal_id>", "/publisher/proposals/1", None, None,
     page(L, L, 403, 404, 404, 404, 403), False),
    # an empty proposal form is refused in place (400) for a publisher; other roles 403
    ("POST", "/publisher/proposals/new", "/publisher/proposals/new", None, "form",
     page(L, L, 403, 400, 400, 403, 403), False),
    ("POST", "/publisher/proposals/<int:proposal_id>/approve", "/publisher/proposals/1/approve",
     None, "form", page(L, L, 403, 302, 302, 403, 403), False),    # flashed: no proposal 1
    ("POST", "/publisher/proposals/<int:proposal_id>/reject", "/publisher/proposals/1/reject",
     None, "form", page(L, L, 403, 302, 302, 403, 403), False),
    ("GET", "/adopter/", "/adopter/", None, None, ADOPTER_PAGE, False),
    ("GET", "/adopter/install/<name>", "/adopter/install/toy-echo", None, None, ADOPTER_PAGE, False),
    ("POST", "/adopter/install/<name>", "/adopter/install/toy-echo",
     lambda w: {"version": "1.0.0"}, "form", page(L, L, 400, 403, 403, 403, 400), False),
    ("POST", "/adopter/installations/<int:installation_id>/upgrade", f"/adopter/installations/{I}/upgrade",
     lambda w: {f"u{w.installation_id}-version": "1.0.0"}, "form", ADOPTER_ACTION, False),
    ("POST", "/adopter/installations/<int:installation_id>/switch", f"/adopter/installations/{I}/switch",
     lambda w: {f"s{w.installation_id}-module": "toy-echo"}, "form", ADOPTER_ACTION, False),
    ("POST", "/adopter/installations/<int:installation_id>/uninstall",
     f"/adopter/installations/{I}/uninstall", None, "form", ADOPTER_ACTION, False),
    ("POST", "/adopter/installations/<int:installation_id>/budget",
     f"/adopter/installations/{I}/budget", lambda w: {f"b{w.installation_id}-budget": "5.00"},
     "form", ADOPTER_ACTION, False),
    ("GET", "/adopter/webhooks", "/adopter/webhooks", None, None, ADOPTER_PAGE, False),
    ("POST", "/adopter/webhooks", "/adopter/webhooks", lambda w: {"url": "https://1.1.1.1/h"},
     "form", page(L, L, 200, 403, 403, 403, 200), False),
    # run a matter from its schema form: another jurisdiction's installation is 404; the
    # adopter's POST without a CSRF token runs nothing (400)
    ("GET", "/adopter/installations/<int:installation_id>/run", f"/adopter/installations/{I}/run",
     None, None, page(L, L, 404, 403, 403, 403, 200), False),
    ("POST", "/adopter/installations/<int:installation_id>/run", f"/adopter/installations/{I}/run",
     None, "form", page(L, L, 404, 403, 403, 403, 400), False),
    # every role manages its own tokens (another's revoke is refused: see test_isolation)
    ("GET", "/adopter/tokens", "/adopter/tokens", None, None, USER_PAGE, False),
    ("POST", "/adopter/tokens", "/adopter/tokens", lambda w: {"name": "m", "scopes": "read"}, "form",
     USER_PAGE, False),
    ("POST", "/adopter/tokens/<int:token_id>/revoke", "/adopter/tokens/{tid}/revoke", None, "form",
     USER_ACTION, False),
    ("GET", "/adopter/usage", "/adopter/usage", None, None, ADOPTER_PAGE, False),
    ("GET", "/adopter/statements", "/adopter/statements", None, None, ADOPTER_PAGE, False),
    ("GET", "/adopter/statements/<period>.csv", "/adopter/statements/{period}.csv", None, None,
     page(L, L, 404, 403, 403, 403, 200), True),      # 330100 has no statement: never 440300's
    ("GET", "/admin/", "/admin/", None, None, ADMIN_ACTION, False),
    ("GET", "/admin/reviews", "/admin/reviews", None, None, ADMIN_PAGE, False),
    ("POST", "/admin/reviews/<name>/<version>", "/admin/reviews/toy-echo/1.1.0",
     lambda w: {"decision": "approve", "reason": ""}, "form", ADMIN_ACTION, False),
    ("GET", "/admin/jurisdictions", "/admin/jurisdictions", None, None, ADMIN_PAGE, False),
    ("POST", "/admin/jurisdictions", "/admin/jurisdictions", lambda w: {}, "form",
     page(L, L, 403, 403, 403, 400, 403), False),
    ("GET", "/admin/audit", "/admin/audit", None, None, ADMIN_PAGE, False),
    ("GET", "/admin/ledger", "/admin/ledger", None, None, ADMIN_PAGE, False),
    ("POST", "/admin/ledger", "/admin/ledger", lambda w: {}, "form",
     page(L, L, 403, 403, 403, 400, 403), False),
    ("GET", "/admin/periods", "/admin/periods", None, None, ADMIN_PAGE, False),
    ("GET", "/admin/reuse", "/admin/reuse", None, None, ADMIN_PAGE, False),
    # corrections (DESIGN §15): month-to-date bill and disputes of the adopter, disputes to answer,
    # the operator's adjustments and decisions; dispute 1 does not exist here (404 to every party)
    ("GET", "/adopter/bill", "/adopter/bill", None, None, ADOPTER_PAGE, False),
    ("POST", "/adopter/disputes", "/adopter/disputes", lambda w: {}, "form", ADOPTER_ACTION, False),
    ("GET", "/disputes/<int:dispute_id>", "/disputes/1", None, None,
     page(L, L, 404, 404, 404, 404, 404), False),
    ("POST", "/disputes/<int:dispute_id>/answer", "/disputes/1/answer", lambda w: {"answer": "x"},
     "form", page(L, L, 403, 404, 404, 403, 403), False),
    ("POST", "/disputes/<int:dispute_id>/resolve", "/disputes/1/resolve",
     lambda w: {"decision": "uphold"}, "form", page(L, L, 403, 403, 403, 404, 403), False),
    ("GET", "/publisher/disputes", "/publisher/disputes", None, None, PUBLISHER_PAGE, False),
    ("GET", "/admin/corrections", "/admin/corrections", None, None, ADMIN_PAGE, False),
    ("POST", "/admin/adjustments", "/admin/adjustments", lambda w: {}, "form", ADMIN_ACTION, False),
    # operations: probes are public; metrics need an admin token (or an allowed address)
    ("GET", "/healthz", "/healthz", None, None, PUBLIC_PAGE, False),
    ("GET", "/readyz", "/readyz", None, None, PUBLIC_PAGE, False),
    ("GET", "/metrics", "/metrics", None, None, page(401, 200, 401, 401, 401, 401, 401), False),
    ("GET", "/monitoring", "/monitoring", None, None, page(L, L, 200, 200, 200, 200, 200), False),
    ("POST", "/admin/periods/settle", "/admin/periods/settle", lambda w: {"period": w.period}, "form",
     ADMIN_ACTION, False),
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


def _accepted_scopes(app, rule: str, method: str) -> tuple[str, ...]:
    """The scopes the route's ``require`` accepts (any one of them); () for no token check."""
    for item in app.url_map.iter_rules():
        if item.rule == rule and method in item.methods:
            return getattr(app.view_functions[item.endpoint], "accepted_scopes", ())
    raise AssertionError(f"no route {method} {rule}")


def api_codes(world, method, rule, template, body: Callable | None, kind) -> dict:
    """Observed status of each API caller, in column order."""
    client = world.app.test_client()
    scopes = _accepted_scopes(world.app, rule, method)
    seen = {}
    for who in API_CALLERS:
        headers = world.lacking(scopes) if who == "lacking" else world.headers(who)
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


@pytest.fixture
def app(app):
    """Authorization apart from CSRF (tested in test_sessions); Stripe configured for the webhook."""
    app.config.update(WTF_CSRF_ENABLED=False, STRIPE_API_KEY="sk_test_matrix",
                      STRIPE_WEBHOOK_SECRET="whsec_matrix")
    return app


def _settle(world) -> None:
    from marketplace import db
    from marketplace.plugins import get_provider
    from marketplace.runtime.models import Installation
    from marketplace.settlement import service

    with world.app.app_context():
        item = db.session().get(Installation, world.installation_id)
        item.created_at = item.accepted_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
        db.session().commit()
        service.settle(db.session(), world.period, get_provider(world.app.config), "matrix")


def _run(world, row, observe) -> None:
    method, rule, template, body, kind, expected, settled = row
    if settled:
        _settle(world)
    seen = observe(world, method, rule, template, body, kind)
    assert seen == expected, f"{method} {template}: observed {seen}"


@pytest.mark.parametrize("row", API, ids=[f"{r[0]} {r[2]}" for r in API])
def test_api_route_answers_each_caller_exactly(world, row):
    _run(world, row, api_codes)


@pytest.mark.parametrize("row", PAGES, ids=[f"{r[0]} {r[2]}" for r in PAGES])
def test_page_answers_each_caller_exactly(world, row):
    _run(world, row, page_codes)


def test_every_route_is_in_the_table(app):
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint not in EXCLUDED
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    table = {(r[0], r[1]) for r in API + PAGES}
    assert routes - table == set(), "routes missing from the authorization matrix"
    assert table - routes == set(), "table rows for routes that no longer exist"


def test_api_rows_cover_every_api_route_and_pages_the_rest(app):
    assert all(r[1].startswith("/api/") for r in API)
    assert not any(r[1].startswith("/api/") for r in PAGES)


def test_other_jurisdictions_page_actions_change_nothing(world):
    """The redirects above flash a refusal: the installation, token and version stay as they were."""
    from marketplace import db
    from marketplace.accounts.models import ApiToken
    from marketplace.catalog.models import ModuleVersion
    from marketplace.runtime.models import Installation

    iid, tid = world.installation_id, world.adopter_token_id
    stranger = world.logged_in("other_adopter")
    for path, data in ((f"/adopter/installations/{iid}/uninstall", {}),
                       (f"/adopter/installations/{iid}/upgrade", {f"u{iid}-version": "1.0.0",
                                                                   f"u{iid}-accept_terms": "y"}),
                       (f"/adopter/installations/{iid}/switch", {f"s{iid}-module": "toy-echo"}),
                       (f"/adopter/tokens/{tid}/revoke", {})):
        assert stranger.post(path, data=data).status_code == 302
    assert world.logged_in("other_publisher").post(
        "/publisher/modules/toy-echo/1.0.0/yank", data={"reason": "hostile"}).status_code == 302
    with world.app.app_context():
        session = db.session()
        assert session.get(Installation, iid).state == "active"
        assert session.get(ApiToken, tid).revoked_at is None
        assert all(v.yanked_at is None for v in session.query(ModuleVersion))
    client = world.app.test_client()
    assert client.post("/api/v1/invoke/toy-echo/echo", json={"text": "still mine"},
                       headers=world.headers("adopter")).status_code == 200


def test_usage_reported_by_another_jurisdiction_is_rejected_not_installed(world):
    answer = world.app.test_client().post("/api/v1/usage", json=_events(world),
                                          headers=world.headers("other_adopter")).get_json()
    assert answer["accepted"] == 0
    assert [r["reason"] for r in answer["rejected"]] == ["not_installed"]


def test_other_jurisdictions_see_no_usage_of_this_installation(world):
    client = world.app.test_client()
    mine = client.get("/api/v1/usage", headers=world.headers("adopter")).get_json()["series"]
    theirs = client.get("/api/v1/usage", headers=world.headers("other_adopter")).get_json()["series"]
    assert mine and theirs == []
