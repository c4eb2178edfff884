"""JSON API of corrections (DESIGN §15): adjustments and disputes."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from marketplace import db
from marketplace.accounts.auth import require, require_admin
from marketplace.accounts.models import User
from marketplace.errors import MarketplaceError
from marketplace.settlement import adjustments, disputes, evidence
from marketplace.settlement.correction_models import DISPUTE_STATES
from marketplace.web.api import json_body, only_fields, text_field

bp = Blueprint("corrections_api", __name__, url_prefix="/api/v1")


def _actor() -> User | None:
    return db.session().get(User, g.principal.user_id)


def answer_days() -> int:
    """The owners' days to answer a dispute (``MARKETPLACE_DISPUTE_ANSWER_DAYS``)."""
    value = current_app.config.get("DISPUTE_ANSWER_DAYS")
    return disputes.ANSWER_DAYS if value is None else int(value)


def _party() -> str | None:
    """The caller as a dispute party: its jurisdiction, or None for an administrator."""
    return None if g.principal.is_admin else g.principal.jurisdiction_code


@bp.post("/adjustments")
@require("admin")
def create_adjustment():
    """Adjust a closed period: ``{"period","installation","amount":"-12.34","reason"}`` → 201.

    With an ``Idempotency-Key`` header a retry answers the adjustment made first (200).
    """
    require_admin(g.principal)
    body = json_body(("period", "installation", "amount", "reason"))
    session = db.session()
    item, created = adjustments.create_once(
        session, _actor(), request.headers.get("Idempotency-Key"), body.get("period"),
        body.get("installation"), adjustments.parse_signed(body.get("amount")),
        text_field(body, "reason"))
    session.commit()
    return jsonify(adjustments.adjustment_json(item)), 201 if created else 200


@bp.get("/adjustments")
@require("admin")
def list_adjustments():
    """Adjustments, newest first (``?period=`` the adjusted period)."""
    require_admin(g.principal)
    items = adjustments.list_adjustments(db.session(), request.args.get("period"))
    return jsonify({"items": [adjustments.adjustment_json(a) for a in items]})


@bp.post("/disputes")
@require("usage", "read")
def open_dispute():
    """Open a dispute: JSON ``{"period","module","reason","evidence_ids"}`` or a CSV of records.

    The CSV comes as ``multipart/form-data`` (fields period, module, reason; one file,
    by custom ``records``, under any field name) or as ``text/csv`` with
    ``?period=&module=&reason=``. ``evidence_ids`` may be empty (no calls made).
    """
    fields, records = _dispute_request()
    session = db.session()
    item = disputes.open_dispute(session, _actor(), g.principal.jurisdiction_code,
                                 fields["period"], fields["module"], fields["reason"], records,
                                 int(current_app.config.get("DISPUTE_DAYS") or 30))
    session.commit()
    return jsonify(disputes.dispute_json(session, item)), 201


def _dispute_request() -> tuple[dict, list]:
    """(period, module, reason) and the evidence records of an open-dispute request."""
    kind = request.mimetype
    if kind == "application/json":
        body = json_body(("period", "module", "reason", "evidence_ids"))
        return _fields(body), evidence.from_ids(body.get("evidence_ids"))
    if kind == "multipart/form-data":
        if (request.content_length or 0) > evidence.MAX_CSV_BYTES + 64 * 1024:
            raise MarketplaceError("too_large", "a records CSV holds at most "
                                   f"{evidence.MAX_CSV_BYTES:,} bytes; split it", status=413)
        form = only_fields(dict(request.form), ("period", "module", "reason"), "form")
        return _fields(form), evidence.from_csv(_one_upload().read(evidence.MAX_CSV_BYTES + 1))
    if kind == "text/csv":
        args = only_fields(dict(request.args), ("period", "module", "reason"), "query")
        if (request.content_length or 0) > evidence.MAX_CSV_BYTES:
            raise MarketplaceError("too_large", "a records CSV holds at most "
                                   f"{evidence.MAX_CSV_BYTES:,} bytes; split it", status=413)
        return _fields(args), evidence.from_csv(request.stream.read(evidence.MAX_CSV_BYTES + 1))
    raise MarketplaceError("invalid_json", "send JSON, multipart/form-data with a 'records' CSV, "
                                           "or text/csv", status=415)


def _one_upload():
    """The one file of a multipart request, whatever its field name (``records`` by custom)."""
    uploads = list(request.files.items(multi=True))
    if len(uploads) != 1:
        names = ", ".join(sorted({name[:40] for name, _ in uploads}))
        raise MarketplaceError("invalid_evidence", (
            "attach your records as one CSV file (any field name, e.g. 'records'; header "
            "id[,occurred_at,units], other columns ignored)") if not uploads else (
            f"attach one CSV file of records, not {len(uploads)} (file fields: {names}); "
            "put all your records in one file"))
    return uploads[0][1]


def _fields(body: dict) -> dict:
    """period, module and reason of a dispute, type- and length-checked."""
    module = body.get("module")
    if not isinstance(module, str) or not 0 < len(module) <= 64:
        raise MarketplaceError("invalid_module", "module must be a module name (1 to 64 characters)")
    period = body.get("period")
    if not isinstance(period, str):
        raise MarketplaceError("invalid_period", "period must be a month like 2026-10")
    return {"period": period, "module": module, "reason": text_field(body, "reason")}


@bp.get("/disputes")
@require("read", "publish", "usage")
def list_disputes():
    """The disputes the caller is a party to (admins: all); ``?state=open|answered|resolved``."""
    state = request.args.get("state")
    if state is not None and state not in DISPUTE_STATES:
        raise MarketplaceError("invalid_state", f"state must be one of {', '.join(DISPUTE_STATES)}")
    session = db.session()
    return jsonify({"items": [disputes.dispute_json(session, d)
                              for d in disputes.list_for(session, _party(), state)]})


@bp.get("/disputes/<int:dispute_id>")
@require("read", "publish", "usage")
def show_dispute(dispute_id: int):
    """One dispute (404 unless the caller is a party)."""
    session = db.session()
    return jsonify(disputes.dispute_json(session, disputes.get(session, dispute_id, _party())))


@bp.post("/disputes/<int:dispute_id>/answer")
@require("publish", "read")
def answer_dispute(dispute_id: int):
    """The owners' answer: ``{"answer": "…"}`` (open → answered)."""
    body = json_body(("answer",))
    session = db.session()
    item = disputes.answer(session, _actor(), dispute_id, _party(), text_field(body, "answer"))
    session.commit()
    return jsonify(disputes.dispute_json(session, item))


@bp.post("/disputes/<int:dispute_id>/resolve")
@require("admin")
def resolve_dispute(dispute_id: int):
    """An administrator's decision: ``{"decision":"uphold"|"adjust","amount":"-12.34","reason"}``."""
    require_admin(g.principal)
    body = json_body(("decision", "amount", "reason"))
    amount = body.get("amount")
    session = db.session()
    item = disputes.resolve(session, _actor(), dispute_id, body.get("decision"),
                            None if amount is None else adjustments.parse_signed(amount),
                            text_field(body, "reason"), answer_days())
    session.commit()
    return jsonify(disputes.dispute_json(session, item))
