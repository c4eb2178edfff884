"""JSON API of settlement: settle a period, statements, ledger, provider webhooks."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from marketplace import db
from marketplace.accounts.models import Jurisdiction, User
from marketplace.web.api import answer_format, json_body, query_args
from marketplace.accounts.auth import require, require_admin
from marketplace.errors import Forbidden, MarketplaceError, NotFound
from marketplace.money import parse_money
from marketplace.plugins import get_ledger, get_provider
from marketplace.settlement import service

bp = Blueprint("settlement_api", __name__, url_prefix="/api/v1")


@bp.post("/settlements")
@require("admin")
def settle():
    """Settle a period (idempotent): ``{"period": "2026-10"}``."""
    require_admin(g.principal)
    period = json_body(("period",)).get("period")
    provider = get_provider(current_app.config)
    result = service.settle(db.session(), service.check_period(period), provider,
                            actor=g.principal.email,
                            fee_bps=int(current_app.config.get("PLATFORM_FEE_BPS") or 0),
                            grace_days=int(current_app.config.get("GRACE_DAYS") or 0))
    return jsonify(result)


@bp.get("/settlements/<period>")
@require("admin")
def settlement(period: str):
    """The result of a settled period: totals and every statement's provider state."""
    require_admin(g.principal)
    query_args()
    return jsonify(service.settlement_json(db.session(), period))


@bp.get("/statements/<period>")
@require("read")
def statement(period: str):
    """The caller's statement (admins: ``?jurisdiction=CODE``); ``?format=csv`` for CSV.

    A period not settled yet answers its draft (``"state":"draft"``, DESIGN §15).
    """
    from marketplace.settlement import drafts

    code = _jurisdiction_param(query_args(("jurisdiction", "format")))
    session = db.session()
    fee_bps = int(current_app.config.get("PLATFORM_FEE_BPS") or 0)
    if answer_format() == "csv":
        text, state = drafts.statement_csv(session, period, code, fee_bps)
        name = f"statement-{code}-{period}{'-draft' if state == 'draft' else ''}.csv"
        return Response(text, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Statement-State": state})
    return jsonify(drafts.statement(session, period, code, fee_bps))


def _jurisdiction_param(args: dict) -> str:
    """The jurisdiction asked about (``args`` from :func:`query_args`, so given at most once and
    not empty): the caller's own unless an admin names another."""
    asked = args.get("jurisdiction") or g.principal.jurisdiction_code
    if asked != g.principal.jurisdiction_code and not g.principal.is_admin:
        raise Forbidden("admin_only", "only an administrator may read another jurisdiction's "
                                      "statement or balance")
    if asked != g.principal.jurisdiction_code and db.session().get(Jurisdiction, asked) is None:
        raise NotFound("unknown_jurisdiction", f"jurisdiction {asked} is not registered")
    return asked


@bp.post("/ledger/payments")
@require("admin")
def record_payment():
    """Book a payment: ``{"jurisdiction","amount":"100.00","period","direction":"in"|"out","reference"}``."""
    require_admin(g.principal)
    body = json_body(("jurisdiction", "amount", "period", "direction", "reference"))
    try:
        amount = parse_money(body.get("amount"), "CNY")
    except ValueError as exc:
        raise MarketplaceError("invalid_amount", f'{exc}; send the amount as a string like "100.00"')
    session = db.session()
    from marketplace.accounts.service import get_jurisdiction

    code = get_jurisdiction(session, str(body.get("jurisdiction") or "")).code
    balance = service.book_payment(
        session, session.get(User, g.principal.user_id), current_app.config, code, amount,
        body.get("period"), body.get("direction", "in"), body.get("reference") or "")
    session.commit()
    return jsonify(balance), 201


@bp.get("/ledger/balances")
@require("read")
def balances():
    """Ledger balances: all jurisdictions for an admin (or ``?jurisdiction=``), else the caller's own."""
    ledger = get_ledger(current_app.config)
    p = g.principal
    args = query_args(("jurisdiction",))
    if p.is_admin and "jurisdiction" not in args:
        return jsonify({"items": ledger.balances(db.session())})
    return jsonify({"items": ledger.balances(db.session(), _jurisdiction_param(args))})


@bp.post("/webhooks/stripe")
def stripe_webhook():
    """Stripe events, verified by the Stripe-Signature header (no token)."""
    provider = get_provider(current_app.config, "stripe")
    session = db.session()
    result = provider.handle_webhook(session, request.get_data(), request.headers)
    session.commit()
    return jsonify(result)
