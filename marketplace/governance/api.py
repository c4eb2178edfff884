"""JSON API of joint decisions (DESIGN §13): propose, list, show, approve, reject."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from marketplace import db
from marketplace.accounts.auth import require
from marketplace.accounts.models import User
from marketplace.errors import MarketplaceError
from marketplace.governance import proposals as service
from marketplace.governance.models_proposals import Proposal
from marketplace.governance.proposal_input import BUILD_CURRENCY, parse_proposal
from marketplace.money import format_amount
from marketplace.web.api import json_body

bp = Blueprint("governance_api", __name__, url_prefix="/api/v1")

#: Largest proposal body: a [terms] table and up to 100 owners fit many times over.
MAX_PROPOSAL_BYTES = 64 * 1024


def proposal_json(proposal: Proposal, module_name: str) -> dict[str, Any]:
    """A proposal as the API answers it: what it asks, who approved, rejected, is still needed."""
    votes = proposal.votes
    body: dict[str, Any] = {
        "id": proposal.id, "module": module_name, "kind": proposal.kind, "state": proposal.state,
        "note": proposal.note, "proposer": proposal.proposer_code,
        "created_at": proposal.created_at.isoformat(),
        "expires_at": proposal.expires_at.isoformat(),
        "decided_at": proposal.decided_at.isoformat() if proposal.decided_at else None,
        "parties": [{"code": v.jurisdiction_code, "share_bps": v.share_bps,
                     "decision": v.decision,
                     "voted_at": v.voted_at.isoformat() if v.voted_at else None} for v in votes],
        "approvals": [v.jurisdiction_code for v in votes if v.decision == "approve"],
        "rejections": [v.jurisdiction_code for v in votes if v.decision == "reject"],
        "needed": [v.jurisdiction_code for v in votes if v.decision is None]
        if proposal.state == "open" else [],
    }
    if proposal.kind == "owners":
        cost = proposal.payload.get("build_cost_minor")
        body["owners"] = proposal.payload["owners"]
        body["build_cost"] = None if cost is None else format_amount(cost, BUILD_CURRENCY)
        body["effective_period"] = proposal.effective_period
    else:
        body["terms"] = proposal.payload["terms"]
        # accepted terms decide one version, the first with those terms (by value)
        body["released_version"] = proposal.payload.get("released_version")
    return body


def _user() -> User:
    return db.session().get(User, g.principal.user_id)


def _body() -> dict:
    """The request's JSON object, refused 413 beyond MAX_PROPOSAL_BYTES."""
    if (request.content_length or 0) > MAX_PROPOSAL_BYTES or \
            len(request.get_data(cache=True)) > MAX_PROPOSAL_BYTES:
        raise MarketplaceError("too_large", f"a proposal holds at most {MAX_PROPOSAL_BYTES:,} "
                               "bytes of JSON; send less", status=413)
    return json_body(("kind", "owners", "build_cost", "terms", "note"))


def _answer(proposal: Proposal, status: int = 200):
    session = db.session()
    name = service.module_names(session, [proposal])[proposal.module_id]
    return jsonify(proposal_json(proposal, name)), status


@bp.post("/modules/<name>/proposals")
@require("publish")
def propose(name: str):
    """Propose new owners or new terms for module ``name`` (a publisher of a current owner)."""
    body = _body()
    session = db.session()
    proposal = service.propose(session, name, parse_proposal(session, body), _user())
    session.commit()
    return _answer(proposal, 201)


@bp.get("/proposals")
@require("read", "publish")
def listing():
    """The caller's pending decisions (``state=open``, the default) or proposals it is party to."""
    session = db.session()
    found = service.listing(session, _user(), request.args.get("state", "open"),
                            request.args.get("module") or None)
    session.commit()                # expiries found while reading are kept
    names = service.module_names(session, found)
    items = [proposal_json(p, names[p.module_id]) for p in found]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/proposals/<int:proposal_id>")
@require("read", "publish")
def show(proposal_id: int):
    """One proposal, for its parties and administrators."""
    session = db.session()
    proposal = service.show(session, proposal_id, _user())
    session.commit()
    return _answer(proposal)


def _vote(proposal_id: int, decision: str):
    if request.get_data(cache=True):
        json_body(())               # a vote takes no fields: a body may only be {}
    session = db.session()
    proposal = service.vote(session, proposal_id, _user(), decision,
                            require_review=bool(current_app.config.get("REQUIRE_REVIEW", True)))
    session.commit()
    return _answer(proposal)


@bp.post("/proposals/<int:proposal_id>/approve")
@require("publish")
def approve(proposal_id: int):
    """Approve for the caller's jurisdiction (a party that has not voted yet)."""
    return _vote(proposal_id, "approve")


@bp.post("/proposals/<int:proposal_id>/reject")
@require("publish")
def reject(proposal_id: int):
    """Reject for the caller's jurisdiction (a party that has not voted yet)."""
    return _vote(proposal_id, "reject")
