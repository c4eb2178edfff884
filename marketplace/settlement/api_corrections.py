"""JSON API of corrections (DESIGN §15): adjustments and disputes."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from marketplace import db
from marketplace.accounts.auth import require, require_admin
from marketplace.accounts.models import User
from marketplace.errors import MarketplaceError
from marketplace.jsonio import shown
from marketplace.settlement import adjustments, disputes, evidence
from marketplace.settlement.correction_models import DISPUTE_STATES
from marketplace.web.api import json_body, query_args, text_field

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
    items = adjustments.list_adjustments(db.session(), query_args(("period",)).get("period"))
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


FIELDS = ("period", "module", "reason")
#: Where a dispute's fields go, by request body, for the messages that say what to send.
WHERE = {
    "multipart/form-data": "multipart/form-data takes text fields period, module, reason and one "
                           "CSV file part (curl -F period=2026-10 -F module=NAME -F reason=TEXT "
                           "-F records=@records.csv)",
    "text/csv": "a text/csv body of records takes period, module and reason in the query string "
                "(POST /api/v1/disputes?period=2026-10&module=NAME&reason=TEXT)",
}


def _dispute_request() -> tuple[dict, list]:
    """(period, module, reason) and the evidence records of an open-dispute request."""
    kind = request.mimetype
    if kind == "application/json":
        body = json_body(("period", "module", "reason", "evidence_ids"))
        return _fields(body), evidence.from_ids(body.get("evidence_ids"))
    if kind == "multipart/form-data":
        if (request.content_length or 0) > evidence.MAX_CSV_BYTES + 64 * 1024:
            raise evidence.too_large()
        return _fields(_form_fields(), kind), evidence.from_csv(
            _one_upload().read(evidence.MAX_CSV_BYTES + 1))
    if kind == "text/csv":
        args = query_args(FIELDS)
        if (request.content_length or 0) > evidence.MAX_CSV_BYTES:
            raise evidence.too_large()
        return _fields(args, kind), evidence.from_csv(
            request.stream.read(evidence.MAX_CSV_BYTES + 1))
    raise MarketplaceError("invalid_json", "send JSON, multipart/form-data with a 'records' CSV, "
                                           "or text/csv", status=415)


def _form_fields() -> dict:
    """The text fields of a multipart request, each once, or a 400 that says what to send:
    a body that could not be read as multipart, a field given twice, the records sent as a
    text field instead of a file part, or a field the route does not take."""
    if "boundary" not in request.mimetype_params or not (request.form or request.files):
        raise MarketplaceError("invalid_body", "the multipart/form-data body could not be read "
                               "(no boundary, or no parts); " + WHERE["multipart/form-data"],
                               details=[{"where": "body", "message": "unreadable multipart"}])
    fields = {}
    for key, values in request.form.lists():
        if key not in FIELDS:
            hint = (f"field {shown(key, 40)} is a text field: attach the records as a file part "
                    f"(-F {key[:40]}=@records.csv, not -F {key[:40]}=<records.csv); "
                    if key == "records" or not request.files else "")
            raise MarketplaceError("unknown_field", f"form: field {shown(key, 80)} is not accepted "
                                   f"here; {hint}send only the text fields period, module, reason "
                                   "and one CSV file part",
                                   details=[{"where": f"form.{key[:80]}", "message": "unknown field"}])
        if len(values) > 1:
            raise MarketplaceError("duplicate_field", f"form: field {shown(key, 80)} is given "
                                   f"{len(values)} times; give it once",
                                   details=[{"where": f"form.{key[:80]}", "message": "repeated"}])
        fields[key] = values[0]
    return fields


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


def _fields(body: dict, kind: str = "application/json") -> dict:
    """period, module and reason of a dispute, type- and length-checked; a field missing from
    a CSV request is a 400 ``missing_field`` saying where the fields go for that body."""
    missing = [name for name in FIELDS if name not in body]
    if missing and kind in WHERE:
        raise MarketplaceError("missing_field", f"{', '.join(missing)} missing: {WHERE[kind]}",
                               details=[{"where": f"{'form' if kind != 'text/csv' else 'query'}"
                                                  f".{name}", "message": "missing"}
                                        for name in missing])
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
    state = query_args(("state",)).get("state")
    if state is not None and state not in DISPUTE_STATES:
        raise MarketplaceError("invalid_state", f"state must be one of {', '.join(DISPUTE_STATES)}")
    session = db.session()
    return jsonify({"items": [disputes.dispute_json(session, d)
                              for d in disputes.list_for(session, _party(), state)]})


@bp.get("/disputes/<int:dispute_id>")
@require("read", "publish", "usage")
def show_dispute(dispute_id: int):
    """One dispute (404 unless the caller is a party)."""
    query_args()
    session = db.session()
    return jsonify(disputes.dispute_json(session, disputes.get(session, dispute_id, _party())))


@bp.post("/disputes/<int:dispute_id>/answer")
@require("publish", "read")
def answer_dispute(dispute_id: int):
    """The owners' answer: ``{"answer": "…"}`` (open → answered).

    Only an owner's user answers: an administrator sees every dispute but is no owner
    (403 ``owners_only`` unless its own jurisdiction owns the module), DESIGN §15.
    """
    body = json_body(("answer",))
    session = db.session()
    item = disputes.answer(session, _actor(), dispute_id, g.principal.jurisdiction_code,
                           text_field(body, "answer"), sees_all=g.principal.is_admin)
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
