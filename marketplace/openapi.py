"""``GET /api/v1/openapi.json``: the public API described as OpenAPI 3.1."""
from __future__ import annotations

from flask import Blueprint, jsonify

from marketplace import __version__

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

ERROR = {"$ref": "#/components/schemas/Error"}
PERIOD = {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$", "example": "2026-10"}
ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}   # a larger id matches no route
NAME = {"type": "string", "pattern": r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$"}


def _resp(description: str, schema: dict | None = None, *errors: int) -> dict:
    """A responses object: the success plus the listed JSON errors."""
    ok = {"description": description}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    out = {"200": ok}
    for code in errors:
        out[str(code)] = {"description": "error",
                          "content": {"application/json": {"schema": ERROR}}}
    return out


def _op(summary: str, scope: str | tuple[str, ...] | None, responses: dict, *,
        params: list | None = None, body: dict | None = None, multipart: bool = False,
        created: bool = False) -> dict:
    """One operation object; ``scope`` is the scope (or the tuple of scopes, any one of
    which) the route's ``require`` accepts."""
    op: dict = {"summary": summary, "responses": responses}
    if created and "200" in responses:
        responses["201"] = responses.pop("200")
    if scope:
        op["security"], op["description"] = _security(scope)
    if params:
        op["parameters"] = params
    if body is not None:
        kind = "multipart/form-data" if multipart else "application/json"
        op["requestBody"] = {"required": True, "content": {kind: {"schema": body}}}
    return op


def _security(scope: str | tuple[str, ...]) -> tuple[list, str]:
    """Security requirements (alternatives: any one scope passes) and the sentence saying so.

    A scope implied by another (``admin`` implies ``read``) is listed as an alternative too.
    """
    from marketplace.accounts.auth import IMPLIED_SCOPES

    accepted = (scope,) if isinstance(scope, str) else tuple(scope)
    implying = [held for held, implied in IMPLIED_SCOPES.items()
                if implied & set(accepted) and held not in accepted]
    words = " or ".join(f"`{s}`" for s in accepted)
    text = f"Needs a token with scope {words}" + "".join(
        f" (`{held}` counts as `{'`, `'.join(sorted(IMPLIED_SCOPES[held] & set(accepted)))}`)"
        for held in implying) + "; otherwise 403 `missing_scope`."
    return [{"token": [s]} for s in (*accepted, *implying)], text


def _path(name: str, schema: dict) -> dict:
    """A path parameter."""
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict) -> dict:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema}


#: Free text a route stores (web.api.MAX_REASON): longer is a 400 ``too_long``.
REASON = {"type": "string", "maxLength": 1000}

GATEWAY_STATUSES = (
    " 400 `invalid_json`: the body is not JSON we accept (deeper than 64 levels, NaN/Infinity,"
    " a lone UTF-16 surrogate, not UTF-8; no usage event), or `invalid_idempotency_key`."
    " An `Idempotency-Key` is bound to the exact request bytes: a retry must send the very"
    " same body (a body differing only in JSON whitespace or key order is another request)."
    " 409 `idempotency_key_reused` (the key was used for another request in the last 24 h) or"
    " `idempotency_in_progress` (a request with this key is still running: retry after"
    " `Retry-After` to get its answer; concurrent requests with one key run the module once)."
    " 429 `quota_exceeded` (the installation's calls of this minute are used up; event"
    " `rejected`) or `too_many_concurrent_calls` (this jurisdiction already fills its share of"
    " the server's threads; not run, no event: checked before the key, so it ran nothing and"
    " may be retried with the same key); both with `Retry-After`, neither billed."
    " 402 `budget_exhausted`: the call's units would take the installation's period above its"
    " budget (DESIGN §15; `budget`, `spent`, `period` say where it stands): not run, event"
    " `rejected`, not billed."
    " 502 `module_error`: the module raised (a `ModuleError` gives its `reason`, `message`"
    " and, for a composite's step, `where`), failed, or answered output that breaks its schema"
    " or is not JSON (NaN, Infinity, lone surrogates): event `error`, not billed (DESIGN §5)."
    " 503 `database_unavailable`. 504 time limit (not billed). A composite that lets a failed"
    " sub-call (DESIGN §14) through is a 502"
    " `module_error` whose `reason` is the step's error (`undeclared_dependency`,"
    " `not_installed`, `invalid_input`, `quota_exceeded`, `timeout`, the target's own reason)"
    " and `where` the step (`module/operation`); each step is its own usage event.")


def _dry_run(op: dict) -> dict:
    """An install that may also answer 200 with its plan (``dry_run``)."""
    op["responses"]["200"] = {"description": "dry_run: the plan, nothing installed", "content": {
        "application/json": {"schema": {"type": "object"}}}}
    return op


def _gateway(op: dict) -> dict:
    """A gateway operation: its statuses explained."""
    op["description"] += GATEWAY_STATUSES
    return op


PROPOSAL = {"type": "object", "required": ["id", "module", "kind", "state", "approvals", "needed"],
            "properties": {"id": ID, "module": {"type": "string"},
                           "kind": {"enum": ["owners", "terms"]},
                           "state": {"enum": ["open", "accepted", "rejected", "expired"]},
                           "approvals": {"type": "array", "items": {"type": "string"}},
                           "needed": {"type": "array", "items": {"type": "string"}},
                           "released_version": {"type": ["string", "null"]}}}
PROPOSAL_ID = _path("proposal_id", ID)

#: GET /api/v1/usage/events/{event_id}: one node of the call tree, its sub-calls in ``steps``
EVENT_NODE = {"$ref": "#/components/schemas/UsageEventNode"}
USAGE_EVENT_NODE = {
    "type": "object",
    "required": ["id", "event_id", "installation", "parent_event", "module", "operation",
                 "status", "units", "occurred_at", "terms_kind", "currency", "price", "steps"],
    "properties": {
        "id": {"type": "string"}, "event_id": {"type": "string"},
        "installation": {"type": "integer"},
        "parent_event": {"type": ["string", "null"],
                         "description": "the composite call's event id (DESIGN §14); null for "
                                        "a call made directly"},
        "module": {"type": "string"}, "operation": {"type": "string"},
        "status": {"enum": ["ok", "error", "rejected"]},
        "units": {"type": "integer", "minimum": 0}, "occurred_at": {"type": "string"},
        "terms_kind": {"type": "string"}, "currency": {"type": "string"},
        "price": {"type": ["string", "null"]},
        "steps": {"type": "array", "items": EVENT_NODE}}}

#: 409 of GET /api/v1/usage/events/{event_id}: the id names events of several installations
AMBIGUOUS_EVENT = {"description": "ambiguous_event: add ?installation= with one of these",
                   "content": {"application/json": {"schema": {
                       "allOf": [ERROR, {"type": "object", "required": ["installations"],
                                         "properties": {"installations": {
                                             "type": "array", "minItems": 2,
                                             "items": {"type": "integer"}}}}]}}}}

CARD_OWNERS = {"type": "array", "items": {
    "type": "object", "required": ["code", "name", "share_bps"],
    "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                   "share_bps": {"type": "integer", "minimum": 1, "maximum": 10_000}}}}
#: GET /api/v1/modules/{name}: the module card (the keys a caller relies on; others may appear)
MODULE_CARD = {
    "type": "object",
    "required": ["name", "version", "state", "terms", "operations", "versions", "adopters",
                 "adopter_count", "requires", "owners", "build_cost"],
    "properties": {
        "name": {"type": "string"}, "version": {"type": "string"}, "state": {"type": "string"},
        "terms": {"type": "object"},
        "operations": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "versions": {"type": "array", "items": {"type": "object", "required": ["version", "state"]}},
        "adopters": {"type": "object", "required": ["count", "jurisdictions"], "properties": {
            "count": {"type": "integer", "minimum": 0}, "jurisdictions": {"type": "array"}}},
        "adopter_count": {"type": "integer", "minimum": 0},
        "requires": {"type": "array", "items": {
            "type": "object", "required": ["operations"],
            "properties": {"module": {"type": "string"}, "interface": {"type": "string"},
                           "operations": {"type": "array", "items": {"type": "string"}}},
            "oneOf": [{"required": ["module"]}, {"required": ["interface"]}]}},
        "owners": CARD_OWNERS, "build_cost": {"type": "string"},
        "next_owners": CARD_OWNERS, "next_build_cost": {"type": "string"},
        "owners_effective_period": PERIOD}}
VOTE_STATUSES = (" 404 `unknown_proposal` also when the caller is no party (as for a missing id,"
                 " naming no party). 403 `missing_scope` (token), or `not_a_party`: a caller who"
                 " sees it but is no publisher of a party (administrators see proposals but never"
                 " vote). 409 `already_voted` (each"
                 " jurisdiction votes once; proposing is not voting) or `not_open` (accepted,"
                 " rejected or expired: open proposals expire 30 days after they were made).")


def _proposal_paths() -> dict:
    """Joint decisions (DESIGN §13): propose, list the caller's pending decisions, show, vote."""
    owner = {"type": "object", "required": ["code", "share_bps"], "additionalProperties": False,
             "properties": {"code": {"type": "string", "pattern": "^[1-9][0-9]{5}$"},
                            "share_bps": {"type": "integer", "minimum": 1, "maximum": 10000}}}
    propose = _op(
        "Propose new owners (every old and new owner must approve; in force from the next period)"
        " or the terms of the next version (owners holding > 50 % of the shares must approve)",
        "publish", _resp("the open proposal", PROPOSAL, 400, 401, 403, 404, 409), created=True,
        params=[_path("name", {"type": "string"})],
        body={"type": "object", "required": ["kind"], "properties": {
            "kind": {"enum": ["owners", "terms"]},
            "owners": {"type": "array", "minItems": 1, "maxItems": 100, "items": owner},
            "build_cost": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"},
            "terms": {"type": "object"}, "note": {"type": "string", "maxLength": 1000}}})
    propose["description"] += (" Only a publisher of a current owner proposes (403 `not_a_party`);"
                               " one open proposal of each kind per module (409 `proposal_open`);"
                               " owners: codes that exist, each once, basis points summing to"
                               " 10,000; build_cost in yuan with at most 2 decimals; terms checked"
                               " as a manifest's [terms] table (400 `invalid_terms`).")
    vote = {verb: _op(f"{verb.capitalize()} a proposal for the caller's jurisdiction", "publish",
                      _resp("the proposal", PROPOSAL, 400, 401, 403, 404, 409),
                      params=[PROPOSAL_ID]) for verb in ("approve", "reject")}
    for op in vote.values():
        op["description"] += VOTE_STATUSES
    return {
        "/api/v1/modules/{name}/proposals": {"post": propose},
        "/api/v1/proposals": {"get": _op(
            "The caller's pending decisions (state=open, the default; admins: every open"
            " proposal) or the proposals its jurisdiction is party to in another state",
            ("read", "publish"), _resp("list", {"type": "object", "required": ["items", "total"]},
                          400, 401, 403, 404),
            params=[_query("state", {"enum": ["open", "accepted", "rejected", "expired", "all"]}),
                    _query("module", {"type": "string"})])},
        "/api/v1/proposals/{proposal_id}": {"get": _op(
            "One proposal: who approved, who rejected, who must still decide (parties and"
            " administrators only: to anyone else 404 `unknown_proposal`, as for a missing id;"
            " 403 only `missing_scope`)", ("read", "publish"),
            _resp("the proposal", PROPOSAL, 401, 403, 404), params=[PROPOSAL_ID])},
        "/api/v1/proposals/{proposal_id}/approve": {"post": vote["approve"]},
        "/api/v1/proposals/{proposal_id}/reject": {"post": vote["reject"]},
    }


def spec() -> dict:
    """The whole document."""
    obj = {"type": "object"}
    usage_event = {"type": "object", "required": ["id", "module", "operation", "units", "occurred_at"],
                   "properties": {"id": {"type": "string"}, "module": NAME,
                                  "operation": {"type": "string"},
                                  "units": {"type": "integer", "minimum": 0},
                                  "occurred_at": {"type": "string", "format": "date-time"},
                                  "status": {"enum": ["ok", "error", "rejected"]},
                                  "duration_ms": {"type": "integer", "minimum": 0}},
                   # any other field refuses the event (rejected, reason invalid, field named)
                   "additionalProperties": False}
    paths = {
        "/api/v1/me": {"get": _op("The caller", "read", _resp("user and jurisdiction", obj, 401, 403))},
        "/api/v1/jurisdictions": {"get": _op("Registered jurisdictions", None, _resp("list", obj))},
        "/api/v1/tokens": {
            "get": _op("The caller's tokens", "read", _resp("list", obj, 401, 403)),
            "post": _op("Issue a token within the calling token's scopes (secret shown once)", "admin",
                        _resp("token", obj, 400, 401, 403),
                        body={"type": "object", "required": ["scopes"], "properties": {
                            "name": {"type": "string", "maxLength": 100},
                            "scopes": {"type": "array", "minItems": 1, "items": {"enum": [
                                "read", "publish", "install", "invoke", "usage", "admin"]}}}},
                        created=True)},
        "/api/v1/tokens/{token_id}": {"delete": _op(
            "Revoke a token", "admin", _resp("revoked", obj, 401, 403, 404),
            params=[_path("token_id", ID)])},
        "/api/v1/modules": {
            "get": _op("Search the catalogue", None, _resp("page of modules", {
                "type": "object", "required": ["items", "total", "facets"]}, 400, 422), params=[
                _query("q", {"type": "string"}), _query("category", {"type": "string"}),
                _query("terms", {"type": "string"}), _query("publisher", {"type": "string"}),
                _query("implements", {"type": "string"}), _query("tag", {"type": "string"}),
                _query("sort", {"enum": ["relevance", "adopters", "newest", "price"]}),
                _query("page", {"type": "integer", "minimum": 1}),
                _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100})]),
            "post": _op("Publish a bundle (503 publish_busy with Retry-After: the server's "
                        "publish checks are all taken)", "publish",
                        _resp("the version", obj, 400, 401, 403, 409, 413, 503),
                        body={"type": "object", "required": ["bundle"], "properties": {
                            "bundle": {"type": "string", "format": "binary"}}},
                        multipart=True, created=True)},
        "/api/v1/modules/{name}": {"get": _op(
            "A module: versions, operations, terms, adopters (`adopter_count`), `requires` (a "
            "composite's [[requires]]: module or interface, operations), owners in force "
            "([{code, name, share_bps}]) and build_cost in force now; when an accepted owners "
            "proposal takes effect later, also next_owners, next_build_cost and "
            "owners_effective_period", None, _resp("module", MODULE_CARD, 404),
            params=[_path("name", {"type": "string"})])},
        "/api/v1/modules/{name}/{version}/bundle": {"get": {
            "summary": "Download a version's bundle (sha256 verified)",
            "parameters": [_path("name", {"type": "string"}), _path("version", {"type": "string"})],
            "responses": {"200": {"description": "zip",
                                  "content": {"application/zip": {"schema": {"type": "string",
                                                                             "format": "binary"}}}},
                          "404": {"description": "error",
                                  "content": {"application/json": {"schema": ERROR}}}}}},
        "/api/v1/modules/{name}/{version}/yank": {"post": _op(
            "Yank a version (no new installs; its publisher or an admin)", ("publish", "admin"), _resp("yanked", obj, 400, 401, 403, 404, 409),
            params=[_path("name", {"type": "string"}), _path("version", {"type": "string"})],
            body={"type": "object", "properties": {"reason": REASON}})},
        **_proposal_paths(),
        "/api/v1/reviews": {"get": _op("Review queue", "admin", _resp("pending versions", obj, 401, 403))},
        "/api/v1/reviews/{name}/{version}": {"post": _op(
            "Approve or reject a pending version", "admin", _resp("decided", obj, 400, 401, 403, 404, 409),
            params=[_path("name", {"type": "string"}), _path("version", {"type": "string"})],
            body={"type": "object", "required": ["decision"], "properties": {
                "decision": {"enum": ["approve", "reject"]}, "reason": REASON}})},
        "/api/v1/installations": {
            "get": _op("The caller's installations", ("read", "install"), _resp("list", obj, 401, 403)),
            "post": _dry_run(_op(
                "Accept terms and install. A composite (DESIGN §14) without active installations"
                " of what it calls is a 409 `missing_dependencies` (`missing`: each requirement,"
                " the module and terms that would serve it); `install_dependencies: true`"
                " installs them with it in one transaction, each its own agreement (`dependencies`"
                " in the answer); `choose` names the module for an interface with several"
                " implementations (409 `choice_needed` with `choices` otherwise); `dry_run: true`"
                " answers 200 with the plan (what would be installed, each one's terms)",
                "install", _resp("installation", obj, 400, 401, 403, 404, 409), created=True,
                body={"type": "object", "required": ["module"], "properties": {
                    "module": {"type": "string"}, "version": {"type": "string"},
                    "accept_terms": {"type": "boolean"},
                    "install_dependencies": {"type": "boolean"}, "dry_run": {"type": "boolean"},
                    "choose": {"type": "object", "additionalProperties": {"type": "string"}}}}))},
        "/api/v1/installations/plan": {"get": _op(
            "What installing a module would install for the caller (a composite's missing"
            " dependencies first), each with its terms; `choices_needed` for interfaces with"
            " several implementations; `choose=INTERFACE:MODULE` (repeatable) picks one",
            ("read", "install"), _resp("the plan", obj, 400, 401, 403, 404, 409),
            params=[{**_query("module", {"type": "string"}), "required": True},
                    _query("version", {"type": "string"}),
                    _query("choose", {"type": "string"})])},
        "/api/v1/installations/{installation_id}": {
            "get": _op("One installation", ("read", "install"), _resp("installation", obj, 401, 403, 404),
                       params=[_path("installation_id", ID)]),
            "patch": _op("Change version, or (alone) set the per-period budget of a pay-per-use"
                         " installation: `{\"budget\": \"500.00\"}` in its terms' currency, `null`"
                         " clears it (400 `invalid_budget`, 409 `budget_not_applicable` for terms"
                         " that charge no usage)", "install",
                         _resp("installation", obj, 400, 401, 403, 404, 409),
                         params=[_path("installation_id", ID)],
                         body={"type": "object", "properties": {
                             "module": {"type": "string"}, "version": {"type": "string"},
                             "accept_terms": {"type": "boolean"},
                             "budget": {"type": ["string", "null"]}}}),
            "delete": _op("Uninstall (409 `required_by` while an active composite of the caller"
                          " still calls it)", "install", _resp("ended", obj, 401, 403, 404, 409),
                          params=[_path("installation_id", ID)])},
        "/api/v1/installations/{installation_id}/health": {"get": _op(
            "The module's health for this installation (module_health)", ("read", "install"),
            _resp("health", obj, 401, 403, 404, 409, 429, 502, 504),
            params=[_path("installation_id", ID)])},
        "/api/v1/ledger/balances": {"get": _op(
            "Ledger balances (admin: all or ?jurisdiction=; others their own). 400 "
            "`empty_field`/`duplicate_field` for an empty or repeated query parameter, "
            "`unknown_field` for one not listed", "read",
            _resp("balances", obj, 400, 401, 403, 404),
            params=[_query("jurisdiction", {"type": "string"})])},
        "/api/v1/ledger/payments": {"post": _op(
            "Record a payment in the built-in ledger; answers the jurisdiction's balance, with "
            "booked false when the reference was booked before", "admin",
            _resp("booked", obj, 400, 401, 403, 404, 409, 422), created=True,
            body={"type": "object", "required": ["jurisdiction", "amount", "period"], "properties": {
                "jurisdiction": {"type": "string"}, "amount": {"type": "string"},
                "period": PERIOD, "direction": {"enum": ["in", "out"]},
                "reference": {"type": "string"}}})},
        "/api/v1/webhooks": {
            "put": _op("Set the jurisdiction's webhook endpoint (budget warnings, DESIGN §15): an"
                       " http(s) URL of at most 2000 characters resolving to public addresses"
                       " (400 `invalid_url`, `private_address`). Answers a new signing secret,"
                       " shown only here: each POST carries `Marketplace-Signature: t=…,v1=…`,"
                       " the hex HMAC-SHA256 of `t.body`", "install",
                       _resp("the endpoint with its secret", obj, 400, 401, 403),
                       body={"type": "object", "required": ["url"],
                             "properties": {"url": {"type": "string", "maxLength": 2000}}}),
            "get": _op("The webhook endpoint (never its secret); 404 `webhook_not_configured`",
                       ("read", "install"), _resp("the endpoint", obj, 401, 403, 404)),
            "delete": _op("Remove the webhook endpoint; queued events are dropped", "install",
                          _resp("removed", obj, 401, 403, 404))},
        "/api/v1/webhooks/deliveries": {"get": _op(
            "The newest 50 webhook deliveries with every attempt (status code or error), state"
            " (`pending`, `delivered`, `failed`) and next attempt (retried with backoff)",
            ("read", "install"),
            _resp("the delivery log", obj, 401, 403))},
        "/api/v1/invoke/{module}/{operation}": {"post": _gateway(_op(
            "Call an operation through the metered gateway", "invoke",
            _resp("the operation output", obj, 400, 401, 402, 403, 404, 409, 422, 429, 502, 503,
                  504),
            params=[_path("module", {"type": "string"}), _path("operation", {"type": "string"})],
            body=obj))},
        "/api/v1/invoke/interface/{interface}/{operation}": {"post": _gateway(_op(
            "Call an operation of a shared interface through the one module installed here that"
            " implements it (409 `ambiguous_interface` when there are several: call one by name"
            " or uninstall the others).", "invoke",
            _resp("the operation output", obj, 400, 401, 402, 403, 404, 409, 422, 429, 502, 503,
                  504),
            params=[_path("interface", {"type": "string"}), _path("operation", {"type": "string"})],
            body=obj))},
        "/api/v1/usage/events/{event_id}": {"get": _op(
            "One of the caller's usage events and its sub-call tree (a composite's steps, nested):"
            " each with id (= event_id), installation, parent_event (the composite call's event;"
            " null for a direct call), status, units, terms kind and price (null where a call has"
            " no price of its own: cost share). Another jurisdiction's event is a 404 like a"
            " missing one. Event ids are unique per installation: `installation` (one of the"
            " caller's; another's is the same 404) says whose event it is; an id held by events"
            " of two or more of the caller's installations without it is 409 `ambiguous_event`"
            " with `installations` (their ids). 422 `invalid_query`: `installation` is not an id",
            ("read", "usage", "invoke"), {**_resp("the event", EVENT_NODE, 401, 403, 404, 422),
                                          "409": AMBIGUOUS_EVENT},
            params=[_path("event_id", {"type": "string", "minLength": 1, "maxLength": 200}),
                    _query("installation", {"type": "integer", "minimum": 1,
                                            "maximum": 2**63 - 1})])},
        "/api/v1/usage": {
            "post": _op("Report self-hosted usage (≤ 1,000 events)", "usage",
                        _resp("accepted/duplicates/rejected", obj, 400, 401, 403, 413),
                        body={"type": "object", "required": ["events"], "properties": {
                            "events": {"type": "array", "maxItems": 1000, "items": usage_event}}}),
            "get": _op("Usage series", ("read", "usage"), _resp("series", obj, 400, 401, 403), params=[
                _query("module", {"type": "string"}), _query("operation", {"type": "string"}),
                _query("from", {"type": "string", "format": "date"}),
                _query("to", {"type": "string", "format": "date"}),
                _query("granularity", {"enum": ["day", "month"]}),
                _query("format", {"enum": ["json", "csv"]})])},
        "/api/v1/monitoring": {"get": _op(
            "Operational monitoring: calls, error rate, p50/p95 latency per day", "read",
            _resp("per installation and per module, by day", obj, 400, 401, 403), params=[
                _query("module", {"type": "string"}),
                _query("from", {"type": "string", "format": "date"}),
                _query("to", {"type": "string", "format": "date"})])},
        "/api/v1/settlements": {"post": _op(
            "Settle a period (idempotent); 409 `period_open` before it ends, `grace_period` "
            "during MARKETPLACE_GRACE_DAYS after", "admin",
            _resp("settlement", obj, 400, 401, 403, 409, 422),
            body={"type": "object", "required": ["period"], "properties": {"period": PERIOD}})},
        "/api/v1/settlements/{period}": {"get": _op(
            "A settlement's totals", "admin", _resp("settlement", obj, 400, 401, 403, 404),
            params=[_path("period", PERIOD)])},
        "/api/v1/reports/reuse": {"get": _op(
            "The reuse report (DESIGN §13, public): per jurisdiction modules owned (count and by "
            "share), other jurisdictions adopting them, earnings and charges; per module adopters, "
            "build cost, recovered (the owners' earnings) and construction avoided (build cost × "
            "adopters that are not owners), from the year's settled months, in CNY; owners and "
            "build cost as in force in `owners_as_of`. 400 `invalid_year` (not 2000–2999) or "
            "`invalid_format`", None, _resp("report", obj, 400),
            params=[_query("year", {"type": "string", "pattern": "^2[0-9]{3}$", "example": "2026"}),
                    _query("format", {"enum": ["json", "csv"]})])},
        "/api/v1/statements/{period}": {"get": _op(
            "The caller's statement (admin: ?jurisdiction=): `state` `final` once the period is "
            "settled, else a `draft` computed from usage so far by the same pricing. A "
            "registered jurisdiction with no lines in the period gets an empty statement "
            "(`charges`/`earnings` [], totals 0.00; `provider` null when final). 404 "
            "`period_not_started` for a period that has not begun, `unknown_jurisdiction` "
            "for an unregistered ?jurisdiction=; 400 `empty_field` for an empty "
            "?jurisdiction=, `duplicate_field` for a repeated parameter, `unknown_field` for one "
            "not listed, `invalid_format` for a format but json or csv", "read",
            _resp("statement", obj, 400, 401, 403, 404),
            params=[_path("period", PERIOD), _query("jurisdiction", {"type": "string"}),
                    _query("format", {"enum": ["json", "csv"]})])},
        **_corrections(obj),
    }
    _json_limits(paths)
    _closed_bodies(paths)
    _csv_answers(paths)
    _links(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gov Module Marketplace API", "version": __version__,
                 "description": "Publish, adopt, meter and settle government-service modules. "
                                "Every error is JSON {error, message}. A method a route does "
                                "not list (OPTIONS included: there is no CORS) answers 405 "
                                "`method_not_allowed` with an `Allow` header. JSON bodies "
                                "holding a key twice are 400 `invalid_json`; fields a route "
                                "does not list are 400 `unknown_field`."},
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {
                "type": "http", "scheme": "bearer",
                "description": "An API token (`gm_…`). Each operation lists the scopes it accepts,"
                               " any one of which will do; `admin` also counts as `read`."}},
            "schemas": {"UsageEventNode": USAGE_EVENT_NODE,
                        "Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"},
                "details": {"type": "array"}, "reason": {"type": "string"},
                "where": {"type": "string"}}}},
        },
    }


SIGNED_AMOUNT = {"type": "string", "maxLength": 41, "example": "-12.34"}
DISPUTE_ID = [_path("dispute_id", ID)]


def _corrections(obj: dict) -> dict:
    """Adjustments and disputes (DESIGN §15, ``marketplace.settlement.api_corrections``)."""
    fields = {"period": PERIOD, "module": {"type": "string", "minLength": 1, "maxLength": 64},
              "reason": REASON}
    paths = {
        "/api/v1/adjustments": {
            "post": _op("Adjust a closed period (booked into the next settlement of the "
                        "installation's adopter and owners). 400 invalid_amount / reason_required; "
                        "404 no_charge_line; 409 not_settled (only closed periods), "
                        "credit_exceeds_charge (a credit beyond what was charged net of earlier "
                        "adjustments)", "admin", _resp("the adjustment", obj, 400, 401, 403, 404, 409),
                        body={"type": "object", "required": ["period", "installation", "amount", "reason"],
                              "properties": {"period": PERIOD, "installation": ID,
                                             "amount": SIGNED_AMOUNT, "reason": REASON}},
                        created=True, params=[{
                            "name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,100}$"}}]),
            "get": _op("Adjustments, newest first", "admin", _resp("list", obj, 400, 401, 403),
                       params=[_query("period", PERIOD)])},
        "/api/v1/disputes": {
            "post": _op("Open a dispute of a closed period's usage of a module, with evidence ids "
                        "(JSON; an empty list says none of the platform's calls were made), a "
                        "CSV of records (multipart: one file, field `records` or any other name; "
                        "400 invalid_evidence for none or two; or a text/csv body with "
                        "?period=&module=&reason=; a header naming `id` and optionally "
                        "`occurred_at`, `units`, other columns ignored, e.g. "
                        "id,module,operation,units,occurred_at; at most 100,000 rows and 4 MiB). "
                        "Answers the reconciliation with the platform's billable events, per day "
                        "with the day's digest and `sealed` (false: computed now by the sealing "
                        "rule, equal to what sealing writes). 404 not_installed; 409 "
                        "not_settled, dispute_window_closed (MARKETPLACE_DISPUTE_DAYS after the "
                        "close), dispute_exists; 413 too_large; 415 another content type. "
                        "400 invalid_body for a multipart body that cannot be read, "
                        "duplicate_field for a form field or query parameter given twice, "
                        "missing_field for period, module or reason missing from the form "
                        "(multipart) or the query string (text/csv)",
                        ("usage", "read"), {**_resp("the dispute", obj, 400, 401, 403, 404, 409, 413, 415)},
                        body={"type": "object", "required": ["period", "module", "reason",
                                                             "evidence_ids"],
                              "properties": {**fields, "evidence_ids": {
                                  "type": "array", "minItems": 0, "maxItems": 100_000,
                                  "items": {"type": "string", "minLength": 1, "maxLength": 100}}}},
                        created=True),
            "get": _op("The disputes the caller is a party to (admins: all)",
                       ("read", "publish", "usage"),
                       _resp("list", obj, 400, 401, 403),
                       params=[_query("state", {"enum": ["open", "answered", "resolved"]})])},
        "/api/v1/disputes/{dispute_id}": {"get": _op(
            "A dispute (404 unless the caller is its adopter, an owner of its module or an "
            "admin); `answered_by` is the answering owner's jurisdiction. 400 for any query "
            "parameter (`invalid_format` for a format but json)",
            ("read", "publish", "usage"), _resp("the dispute", obj, 400, 401, 403, 404),
            params=DISPUTE_ID)},
        "/api/v1/disputes/{dispute_id}/answer": {"post": _op(
            "The owners' answer (open → answered; 403 owners_only for anyone but an owner's "
            "user, an administrator included; 409 wrong_state)",
            ("publish", "read"),
            _resp("the dispute", obj, 400, 401, 403, 404, 409), params=DISPUTE_ID,
            body={"type": "object", "required": ["answer"], "properties": {"answer": REASON}})},
        "/api/v1/disputes/{dispute_id}/resolve": {"post": _op(
            "An admin's decision (answered → resolved; adjust books an adjustment of `amount`). "
            "An open (unanswered) dispute is resolved only once MARKETPLACE_DISPUTE_ANSWER_DAYS "
            "(default 14) have passed since it was opened; before that, and for a resolved one, "
            "409 wrong_state; 409 credit_exceeds_charge", "admin",
            _resp("the dispute", obj, 400, 401, 403, 404, 409), params=DISPUTE_ID,
            body={"type": "object", "required": ["decision"], "properties": {
                "decision": {"enum": ["uphold", "adjust"]}, "amount": SIGNED_AMOUNT,
                "reason": REASON}})},
    }
    adjusted = paths["/api/v1/adjustments"]["post"]["responses"]
    adjusted["200"] = {"description": "a retry with the same Idempotency-Key: the adjustment made "
                                      "first (409 idempotency_key_reused for another one)",
                       "content": adjusted["201"]["content"]}
    content = paths["/api/v1/disputes"]["post"]["requestBody"]["content"]
    content["multipart/form-data"] = {"schema": {
        "type": "object", "required": ["period", "module", "reason", "records"],
        "properties": {**fields, "records": {"type": "string", "format": "binary"}}}}
    content["text/csv"] = {"schema": {"type": "string", "maxLength": 4 * 1024 * 1024}}
    return paths


def _json_limits(paths: dict) -> None:
    """Every JSON body but the gateway's may be refused 413 ``too_large`` (web.api.MAX_JSON_BYTES)."""
    for path, item in paths.items():
        for op in item.values():
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" in body and not path.startswith("/api/v1/invoke/"):
                op["responses"].setdefault("413", {"description": "error", "content": {
                    "application/json": {"schema": ERROR}}})


def _closed_bodies(paths: dict) -> None:
    """JSON bodies but the gateway's accept only their listed fields (web.api.json_body): others
    are a 400 ``unknown_field``; the same key twice in an object is a 400 ``invalid_json``."""
    for path, item in paths.items():
        for op in item.values():
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" in schema and not path.startswith("/api/v1/invoke/"):
                schema["schema"] = {**schema["schema"], "additionalProperties": False}


def _csv_answers(paths: dict) -> None:
    """Operations taking ``format=csv`` answer text/csv too."""
    for item in paths.values():
        for op in item.values():
            if any(p["name"] == "format" for p in op.get("parameters", ())):
                op["responses"]["200"].setdefault("content", {})["text/csv"] = {
                    "schema": {"type": "string"}}


def _ref(path: str, method: str) -> str:
    """An ``operationRef`` (JSON pointer) to one operation of this document."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


# (source path, method, status) → {link name: (target path, method, {parameter: expression})}:
# the OpenAPI links that let a stateful client use what a write created
LINKS = {
    ("/api/v1/installations", "post", "201"): {
        f"{verb.capitalize()}Installation": ("/api/v1/installations/{installation_id}", verb,
                                             {"installation_id": "$response.body#/id"})
        for verb in ("get", "patch", "delete")},
    ("/api/v1/tokens", "post", "201"): {
        "RevokeToken": ("/api/v1/tokens/{token_id}", "delete", {"token_id": "$response.body#/id"})},
    ("/api/v1/modules/{name}/proposals", "post", "201"): {
        "GetProposal": ("/api/v1/proposals/{proposal_id}", "get", {"proposal_id": "$response.body#/id"}),
        "ApproveProposal": ("/api/v1/proposals/{proposal_id}/approve", "post",
                            {"proposal_id": "$response.body#/id"}),
        "RejectProposal": ("/api/v1/proposals/{proposal_id}/reject", "post",
                           {"proposal_id": "$response.body#/id"})},
    ("/api/v1/settlements", "post", "200"): {
        "GetSettlement": ("/api/v1/settlements/{period}", "get", {"period": "$response.body#/period"}),
        "GetStatement": ("/api/v1/statements/{period}", "get", {"period": "$response.body#/period"})},
}


def _links(paths: dict) -> None:
    """Add LINKS to the responses they start from."""
    for (path, method, status), links in LINKS.items():
        response = paths[path][method]["responses"][status]
        response["links"] = {name: {"operationRef": _ref(target, verb), "parameters": parameters}
                             for name, (target, verb, parameters) in links.items()}


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document."""
    return jsonify(spec())
