"""Console pages of corrections (DESIGN §15) for the three roles.

Adopter: the month-to-date bill (the current period's draft statement), its
disputes and a form to open one. Publisher: disputes of its modules to answer.
Operator: disputes to resolve and adjustments. A dispute's page is shown to its
parties only (404 to anyone else). Pages call the settlement services only.
"""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace import db
from marketplace.accounts.models import User
from marketplace.clock import now, period_of
from marketplace.errors import MarketplaceError, NotFound
from marketplace.money import to_minor
from marketplace.settlement import adjustments, disputes, drafts, evidence
from marketplace.web.consoles import role_required
from marketplace.web.forms import ActionForm

bp = Blueprint("corrections", __name__)


def _states() -> dict[str, str]:
    """Dispute states and decisions in the page's language."""
    return {"open": _("待答复"), "answered": _("已答复"), "resolved": _("已裁决"),
            "uphold": _("维持原账单"), "adjust": _("调整账单"), "pending": _("待入账"),
            "booked": _("已入账")}


def _party() -> str | None:
    """The logged-in user as a dispute party (None: an operator)."""
    return None if current_user.role == "admin" else current_user.jurisdiction_code


def _actor() -> User:
    return db.session().get(User, current_user.id)


def _minor(body: dict, key: str) -> int:
    """A statement amount (text like "-12.34") in minor units, for the money filter."""
    return to_minor(Decimal(body[key]), body["currency"])


@bp.get("/adopter/bill")
@role_required("adopter")
def adopter_bill():
    """This month so far (the draft statement), my disputes, and opening one."""
    session = db.session()
    code = current_user.jurisdiction_code
    bill = drafts.month_to_date(session, code, int(current_app.config.get("PLATFORM_FEE_BPS") or 0))
    lines = [] if bill is None else [
        {**line, "minor": to_minor(Decimal(line["amount"]), bill["currency"])} for line in bill["charges"]]
    total = None if bill is None else _minor(bill, "total_charges")
    return render_template("corrections/adopter_bill.html", bill=bill, lines=lines, total=total,
                           period=period_of(now()), as_of=now(), disputes=disputes.list_for(session, code),
                           states=_states(), form=ActionForm(),
                           window=int(current_app.config.get("DISPUTE_DAYS") or 30))


@bp.post("/adopter/disputes")
@role_required("adopter")
def open_dispute():
    """Open a dispute from the form: period, module, reason and a CSV of records (or ids)."""
    if not ActionForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and send it again")
    form = request.form
    session = db.session()
    try:
        upload = request.files.get("records")
        if upload is not None and upload.filename:
            records = evidence.from_csv(upload.read(evidence.MAX_CSV_BYTES + 1))
        else:
            records = evidence.from_ids([i.strip() for i in (form.get("ids") or "").splitlines()
                                         if i.strip()])
        reason = (form.get("reason") or "")[:1001]
        if len(reason) > 1000:
            raise MarketplaceError("too_long", _("理由最多 1000 个字符"))
        item = disputes.open_dispute(session, _actor(), current_user.jurisdiction_code,
                                     form.get("period") or "", (form.get("module") or "")[:64],
                                     reason, records,
                                     int(current_app.config.get("DISPUTE_DAYS") or 30))
        session.commit()
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("corrections.adopter_bill"))
    flash(_("已提出异议 %(id)s", id=item.id), "ok")
    return redirect(url_for("corrections.dispute", dispute_id=item.id))


@bp.get("/disputes/<int:dispute_id>")
@login_required
def dispute(dispute_id: int):
    """One dispute, for its parties: reconciliation per day, answer, decision."""
    session = db.session()
    try:
        item = disputes.get(session, dispute_id, _party())
    except NotFound:
        abort(404)
    owners = disputes.owners(session, item)
    body = disputes.dispute_json(session, item)
    if body["adjustment"]:
        body["adjustment"]["minor"] = to_minor(Decimal(body["adjustment"]["amount"]), "CNY")
    return render_template("corrections/dispute.html", d=body,
                           states=_states(), form=ActionForm(),
                           can_answer=item.state == "open" and current_user.jurisdiction_code in owners
                           and current_user.role == "publisher",
                           can_resolve=item.state != "resolved" and current_user.role == "admin")


@bp.post("/disputes/<int:dispute_id>/answer")
@role_required("publisher")
def answer(dispute_id: int):
    """The owners' answer."""
    return _act(dispute_id, lambda session: disputes.answer(
        session, _actor(), dispute_id, current_user.jurisdiction_code,
        (request.form.get("answer") or "")[:1000]), _("已答复"))


@bp.post("/disputes/<int:dispute_id>/resolve")
@role_required("admin")
def resolve(dispute_id: int):
    """The operator's decision (uphold, or adjust by an amount)."""
    decision = request.form.get("decision") or ""
    raw = (request.form.get("amount") or "").strip()

    def run(session):
        amount = adjustments.parse_signed(raw) if decision == "adjust" else None
        return disputes.resolve(session, _actor(), dispute_id, decision, amount,
                                answer_days=int(current_app.config.get(
                                    "DISPUTE_ANSWER_DAYS", disputes.ANSWER_DAYS)))
    return _act(dispute_id, run, _("已裁决"))


def _act(dispute_id: int, run, done: str):
    """Run a dispute step from a form; flash its outcome; back to the dispute."""
    if not ActionForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and send it again")
    session = db.session()
    try:
        run(session)
        session.commit()
        flash(done, "ok")
    except NotFound:
        abort(404)
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("corrections.dispute", dispute_id=dispute_id))


@bp.get("/publisher/disputes")
@role_required("publisher")
def publisher_disputes():
    """Disputes of the modules we own: those to answer first."""
    items = disputes.list_for(db.session(), current_user.jurisdiction_code)
    mine = [d for d in items if d.adopter_code != current_user.jurisdiction_code]
    return render_template("corrections/disputes.html", disputes=mine, states=_states(),
                           title=_("用量异议"))


@bp.get("/admin/corrections")
@role_required("admin")
def admin_corrections():
    """Disputes to resolve and adjustments, with a form to adjust a closed period."""
    session = db.session()
    return render_template("corrections/admin.html", disputes=disputes.list_for(session, None),
                           adjustments=[{**adjustments.adjustment_json(a), "minor": a.amount_minor}
                                        for a in adjustments.list_adjustments(session)],
                           states=_states(), form=ActionForm())


@bp.post("/admin/adjustments")
@role_required("admin")
def create_adjustment():
    """Adjust a closed period from the operator's form."""
    if not ActionForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and send it again")
    form = request.form
    session = db.session()
    try:
        raw = (form.get("installation") or "").strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
            raise MarketplaceError("invalid_installation", _("安装编号应为正整数"))
        item = adjustments.create(session, _actor(), form.get("period") or "", int(raw),
                                  adjustments.parse_signed((form.get("amount") or "").strip()),
                                  (form.get("reason") or "")[:1000])
        session.commit()
        flash(_("已登记调整 %(id)s，将计入下一次结算", id=item.id), "ok")
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("corrections.admin_corrections"))
