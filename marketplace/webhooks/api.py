"""JSON API of a jurisdiction's webhook endpoint and its delivery log.

Who: the people who manage the jurisdiction's installations and budgets (scope
``install``) set and remove the endpoint; anyone of the jurisdiction with
``read`` sees it (never the secret) and the delivery log.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from marketplace import db
from marketplace.accounts.auth import require
from marketplace.web.api import json_body
from marketplace.webhooks import service

bp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1/webhooks")


@bp.put("")
@require("install")
def put_webhook():
    """Set the endpoint ``{"url"}``; answers a new signing secret, shown this once."""
    body = json_body(("url",))
    session = db.session()
    item, secret = service.configure(session, g.principal, body.get("url"))
    session.commit()
    return jsonify(service.endpoint_json(item, secret))


@bp.get("")
@require("read", "install")
def get_webhook():
    """The endpoint (without its secret)."""
    return jsonify(service.endpoint_json(service.endpoint(db.session(),
                                                          g.principal.jurisdiction_code)))


@bp.delete("")
@require("install")
def delete_webhook():
    """Remove the endpoint (queued events are dropped)."""
    session = db.session()
    service.remove(session, g.principal)
    session.commit()
    return jsonify({"removed": True})


@bp.get("/deliveries")
@require("read", "install")
def list_deliveries():
    """The newest 50 deliveries with every attempt: state, status codes, next attempt."""
    return jsonify({"items": service.deliveries(db.session(), g.principal.jurisdiction_code)})
