"""JSON API of installations (agreements): install, list, read, change version, switch, uninstall.

A jurisdiction sees and touches only its own installations: another tenant's
installation id answers 404, exactly like a missing one.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from marketplace import db
from marketplace.web.api import json_body
from marketplace.accounts.auth import require
from marketplace.catalog.store import store_for
from marketplace.errors import MarketplaceError
from marketplace.runtime import dependencies, gateway, service
from marketplace.runtime.models import Installation
from marketplace.settlement import budget_service

bp = Blueprint("runtime_api", __name__, url_prefix="/api/v1")


def _text(body: dict, key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise MarketplaceError("invalid_request", f"{key!r} must be a non-empty string")
    return value


def installation_json(item: Installation) -> dict:
    """Public view of an installation (agreement)."""
    return {"id": item.id, "module": item.module.name, "version": item.version.version,
            "implements": item.module.implements, "jurisdiction": item.jurisdiction_code,
            "terms": item.terms, "state": item.state, "config": item.config,
            "quota_per_minute": item.quota_per_minute, "budget": budget_service.budget_text(item),
            "created_at": item.created_at.isoformat(), "accepted_at": item.accepted_at.isoformat(),
            "ended_at": item.ended_at.isoformat() if item.ended_at else None}


def _announce(item: Installation, hook: str) -> None:
    service.announce(db.session(), store_for(current_app.config), item, hook,
                     current_app.config["INVOKE_TIMEOUT"])


@bp.post("/installations")
@require("install")
def create_installation():
    """Accept a module version's terms and install it for the caller's jurisdiction.

    A composite: ``"install_dependencies": true`` (and ``"choose"``) installs what it
    calls with it, in one transaction; ``"dry_run": true`` answers the plan only.
    """
    body = json_body(("module", "version", "accept_terms", "install_dependencies", "choose",
                      "dry_run"))
    for key in ("install_dependencies", "dry_run"):
        if not isinstance(body.get(key, False), bool):
            raise MarketplaceError("invalid_request", f"{key!r} must be true or false")
    session = db.session()
    module, version = _text(body, "module", required=True), _text(body, "version")
    choose = dependencies.check_choose(body.get("choose"))
    if body.get("dry_run"):
        return jsonify(_plan(module, version, choose))
    if body.get("install_dependencies"):
        item, made = service.install_with_dependencies(
            session, g.principal, module, version, body.get("accept_terms", False),
            choose=choose)
    else:
        item, made = service.install(session, g.principal, module, version,
                                     body.get("accept_terms", False)), []
    session.commit()
    for each in made + [item]:
        _announce(each, "module_installed")
    answer = installation_json(item)
    if made:
        answer["dependencies"] = [installation_json(each) for each in made]
    return jsonify(answer), 201


def _plan(module: str, version: str | None, choose: dict[str, str]) -> dict:
    """What installing ``module`` would install for the caller, with each one's terms."""
    session = db.session()
    chosen = service.pick_version(session, service.find_module(session, module), version)
    found = dependencies.plan(session, g.principal.jurisdiction_code, chosen, choose)
    return {"module": module, "version": chosen.version, **found.to_dict()}


@bp.get("/installations/plan")
@require("read", "install")
def installation_plan():
    """The dry run of an install: ``?module=&version=&choose=INTERFACE:MODULE`` (repeatable)."""
    args = request.args
    module = args.get("module", "")
    if not module:
        raise MarketplaceError("invalid_request", "name the module: ?module=NAME")
    pairs = [c.split(":", 1) for c in args.getlist("choose")]
    if any(len(p) != 2 for p in pairs):
        raise MarketplaceError("invalid_request", "choose is INTERFACE:MODULE, e.g. "
                               "choose=gov.e-license-lookup:e-license-guangdong")
    return jsonify(_plan(module, args.get("version") or None,
                         dependencies.check_choose(dict(pairs))))


@bp.get("/installations")
@require("read", "install")
def list_installations():
    """The caller's jurisdiction's installations (``?state=all`` includes ended ones)."""
    items = service.list_installations(db.session(), g.principal.jurisdiction_code,
                                       include_ended=request.args.get("state") == "all")
    return jsonify({"items": [installation_json(i) for i in items]})


@bp.get("/installations/<int:installation_id>")
@require("read", "install")
def get_installation(installation_id: int):
    """One installation of the caller's jurisdiction."""
    item = service.get_installation(db.session(), g.principal.jurisdiction_code, installation_id)
    return jsonify(installation_json(item))


@bp.patch("/installations/<int:installation_id>")
@require("install")
def change_installation(installation_id: int):
    """``{"version"}`` changes version; ``{"module"}`` switches to another implementation.

    ``{"budget": "500.00"}`` (alone) sets the per-period budget; ``null`` clears it.
    """
    body = json_body(("module", "version", "accept_terms", "budget"))
    session = db.session()
    if "budget" in body:
        if len(body) > 1:
            raise MarketplaceError("invalid_request", 'send the budget alone, e.g. {"budget": '
                                   '"500.00"} (null clears it); change the version separately')
        item = budget_service.set_budget(session, g.principal, installation_id, body["budget"])
        session.commit()
        return jsonify(installation_json(item))
    accept = body.get("accept_terms", False)
    current = service.get_installation(session, g.principal.jurisdiction_code, installation_id)
    module = _text(body, "module")
    if module and module != current.module.name:
        old, new = service.switch_implementation(session, g.principal, installation_id, module,
                                                 _text(body, "version"), accept)
        session.commit()
        _announce(old, "module_uninstalled")
        _announce(new, "module_installed")
        return jsonify({**installation_json(new), "replaced": installation_json(old)}), 201
    item = service.change_version(session, g.principal, installation_id,
                                  _text(body, "version", required=True), accept)
    session.commit()
    return jsonify(installation_json(item))


@bp.delete("/installations/<int:installation_id>")
@require("install")
def delete_installation(installation_id: int):
    """End the agreement; usage so far stays billable."""
    session = db.session()
    item = service.uninstall(session, g.principal, installation_id)
    session.commit()
    _announce(item, "module_uninstalled")
    return jsonify(installation_json(item))


@bp.get("/installations/<int:installation_id>/health")
@require("read", "install")
def installation_health(installation_id: int):
    """The module's own health answer (``module_health``): metered and under the quota."""
    code = g.principal.jurisdiction_code
    slots = gateway.tenant_slots()
    if not slots.enter(code):                   # it runs module code: the gateway's fair share
        return gateway.too_many_concurrent_calls(code, slots.busy(code))
    try:
        answer = service.health(db.session(), store_for(current_app.config), g.principal,
                                installation_id, current_app.config["INVOKE_TIMEOUT"],
                                current_app.config["QUOTA_PER_MINUTE"])
    except service.QuotaExceeded as exc:
        return jsonify(exc.to_dict()), exc.status, {"Retry-After": str(exc.extra["retry_after"])}
    finally:
        slots.leave(code)
    return jsonify({"installation": installation_id, **answer})
