"""Publisher pages of joint decisions: "待我决定" (awaiting my decision) and one proposal."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from marketplace import db
from marketplace.errors import MarketplaceError
from marketplace.governance import proposals as service
from marketplace.governance.proposal_input import body_from_form, parse_proposal
from marketplace.settlement.pricing import describe_terms
from marketplace.web.consoles import language, role_required
from marketplace.web.forms import ActionForm

bp = Blueprint("governance", __name__, url_prefix="/publisher/proposals")

# the proposal words of these pages (not web.i18n.LABELS: "owners", "terms" and "accepted"
# are also keys of audit details, which must stay readable as they are)
WORDS = {"open": _l("待决定"), "accepted": _l("已通过"), "rejected": _l("已否决"),
         "expired": _l("已过期"), "owners": _l("共有方与份额"), "terms": _l("下一版本条款"),
         "approve": _l("同意"), "reject": _l("反对")}


@bp.app_template_filter("proposal_word")
def proposal_word(value: str) -> str:
    """A proposal's state, kind or decision in the reader's language."""
    return str(WORDS.get(value, value))


@bp.get("/")
@role_required("publisher")
def awaiting():
    """Open proposals my jurisdiction must still decide, the recent ones it is party to,
    and the form to propose on a module it owns."""
    return _awaiting()


def _awaiting(problems: list | None = None, status: int = 200):
    session = db.session()
    pending = service.listing(session, current_user, "open")
    recent = service.listing(session, current_user, "all")[:50]
    session.commit()                # expiries found while reading are kept
    names = service.module_names(session, pending + recent)
    return render_template("governance/awaiting.html", pending=pending, recent=recent,
                           names=names, owned=service.proposable_modules(session, current_user),
                           form=ActionForm(), problems=problems or [], asked=request.form), status


@bp.post("/new")
@role_required("publisher")
def propose():
    """Make a proposal from the form; its problems are shown next to it."""
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请重试。"), "error")
        return redirect(url_for("governance.awaiting"))
    session = db.session()
    try:
        body = body_from_form(request.form)
        item = service.propose(session, request.form.get("module", ""),
                               parse_proposal(session, body), current_user)
        session.commit()
    except MarketplaceError as exc:
        session.rollback()
        return _awaiting(exc.details or [{"where": exc.reason, "message": exc.message}],
                         exc.status)
    flash(_("提案 #%(id)s 已提出，等待各方表决。", id=item.id), "info")
    return redirect(url_for("governance.proposal", proposal_id=item.id))


@bp.get("/<int:proposal_id>")
@role_required("publisher", "admin")
def proposal(proposal_id: int):
    """What a proposal asks, who voted what, who still must; vote buttons for my jurisdiction."""
    session = db.session()
    item = service.show(session, proposal_id, current_user)
    session.commit()
    codes = {v.jurisdiction_code for v in item.votes} | {item.proposer_code}
    if item.kind == "owners":
        codes |= {o["code"] for o in item.payload["owners"]}
    mine = next((v for v in item.votes if v.jurisdiction_code == current_user.jurisdiction_code),
                None)
    may_vote = item.state == "open" and current_user.role == "publisher" and mine is not None \
        and mine.decision is None
    terms_text = describe_terms(item.payload["terms"], language()) if item.kind == "terms" else ""
    return render_template("governance/proposal.html", item=item, may_vote=may_vote,
                           module_name=service.module_names(session, [item])[item.module_id],
                           places=service.jurisdiction_names(session, codes),
                           terms_text=terms_text, form=ActionForm())


def _vote(proposal_id: int, decision: str):
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请重试。"), "error")
        return redirect(url_for("governance.proposal", proposal_id=proposal_id))
    session = db.session()
    try:
        item = service.vote(session, proposal_id, current_user, decision,
                            require_review=bool(current_app.config.get("REQUIRE_REVIEW", True)))
        session.commit()
        flash(_("已记录本地区的决定。提案状态：%(state)s。", state=_label(item.state)), "info")
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("governance.proposal", proposal_id=proposal_id))


def _label(state: str) -> str:
    return proposal_word(state)


@bp.post("/<int:proposal_id>/approve")
@role_required("publisher")
def approve(proposal_id: int):
    """Approve for my jurisdiction."""
    return _vote(proposal_id, "approve")


@bp.post("/<int:proposal_id>/reject")
@role_required("publisher")
def reject(proposal_id: int):
    """Reject for my jurisdiction."""
    return _vote(proposal_id, "reject")
