"""JSON API of the accounts area: who am I, jurisdictions, tokens."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, g, jsonify

from marketplace import db
from marketplace.web.api import json_body
from marketplace.accounts import service
from marketplace.accounts.auth import forget_cached_tokens, require
from marketplace.accounts.models import ApiToken, Jurisdiction, User

bp = Blueprint("accounts_api", __name__, url_prefix="/api/v1")


def token_json(token: ApiToken) -> dict:
    """Public view of a token (never its secret)."""
    return {"id": token.id, "name": token.name, "prefix": token.prefix,
            "scopes": token.scopes.split(), "created_at": token.created_at.isoformat(),
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
            "revoked": token.revoked_at is not None}


@bp.get("/me")
@require("read")
def me():
    """The caller: user, role, jurisdiction and the token's scopes."""
    p = g.principal
    juris = db.session().get(Jurisdiction, p.jurisdiction_code)
    return jsonify({"email": p.email, "role": p.role, "scopes": sorted(p.scopes),
                    "jurisdiction": {"code": juris.code, "name": juris.name, "level": juris.level}})


@bp.get("/jurisdictions")
def jurisdictions():
    """All registered jurisdictions (public reference data)."""
    rows = db.session().scalars(sa.select(Jurisdiction).order_by(Jurisdiction.code))
    return jsonify({"items": [{"code": j.code, "name": j.name, "level": j.level,
                               "parent": j.parent_code} for j in rows]})


@bp.get("/tokens")
@require("read")
def list_tokens():
    """The caller's own tokens."""
    session = db.session()
    user = session.get(User, g.principal.user_id)
    return jsonify({"items": [token_json(t) for t in service.list_tokens(session, user)]})


# Managing tokens needs the admin scope (DESIGN §12): a leaked read or invoke token cannot
# mint itself a wider one or revoke its owner's others. People manage theirs in the console.
@bp.post("/tokens")
@require("admin")
def create_token():
    """Issue a token for the caller, within the calling token's scopes; the secret is shown once."""
    body = json_body(("scopes", "name"))
    session = db.session()
    user = session.get(User, g.principal.user_id)
    token, secret = service.issue_token(session, user, body.get("scopes"), name=body.get("name", ""),
                                        granted=g.principal.scopes)
    session.commit()
    return jsonify({**token_json(token), "token": secret}), 201


@bp.delete("/tokens/<int:token_id>")
@require("admin")
def revoke_token(token_id: int):
    """Revoke a token (the admin scope is held by platform administrators only)."""
    session = db.session()
    user = session.get(User, g.principal.user_id)
    token = service.revoke_token(session, token_id, by=user)
    session.commit()
    forget_cached_tokens()
    return jsonify(token_json(token))
