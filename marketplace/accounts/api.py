"""JSON API of the accounts area: who am I, jurisdictions, tokens."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, g, jsonify

from marketplace import db
from marketplace.web.api import json_body
from marketplace.accounts import service
from marketplace.accounts.auth import forget_cached_tokens, require
from marketplace.accounts.models import ApiToken, Jurisdiction, User
from marketplace.errors import MarketplaceError

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
    rows = db.session().scalars(sa.select(ApiToken).where(ApiToken.user_id == g.principal.user_id)
                                .order_by(ApiToken.id))
    return jsonify({"items": [token_json(t) for t in rows]})


@bp.post("/tokens")
@require("read")
def create_token():
    """Issue a token for the caller; the secret is in this response only."""
    body = json_body()
    session = db.session()
    user = session.get(User, g.principal.user_id)
    scopes = body.get("scopes") or []
    if not isinstance(scopes, (list, str)):
        raise MarketplaceError("invalid_scope", "scopes must be a list like [\"read\", \"invoke\"]")
    token, secret = service.issue_token(session, user, scopes, name=str(body.get("name", "")))
    session.commit()
    return jsonify({**token_json(token), "token": secret}), 201


@bp.delete("/tokens/<int:token_id>")
@require("read")
def revoke_token(token_id: int):
    """Revoke one of the caller's tokens (admins: any token)."""
    session = db.session()
    user = session.get(User, g.principal.user_id)
    token = service.revoke_token(session, token_id, by=user)
    session.commit()
    forget_cached_tokens()
    return jsonify(token_json(token))
