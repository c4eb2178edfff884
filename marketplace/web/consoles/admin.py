"""Operator console: review queue, jurisdictions and users, periods and settlement, ledger,
audit journal."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace import db
from marketplace.accounts import service as accounts
from marketplace.accounts.models import ROLES, AuditEntry, Jurisdiction, User
from marketplace.catalog import service as catalog
from marketplace.errors import MarketplaceError
from marketplace.money import format_display
from marketplace.plugins import get_ledger, provider_name
from marketplace.settlement import service as settlement
from marketplace.web.consoles import config, recent_periods, role_required
from marketplace.web.i18n import LABELS
from marketplace.web.forms import PaymentForm, ReviewForm, SettleForm, UserForm, options

bp = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_PAGE = 100


@bp.get("/")
@role_required("admin")
def home():
    """Start page: the review queue."""
    return redirect(url_for("admin.reviews"))


@bp.get("/reviews")
@role_required("admin")
def reviews():
    """Pending versions with their validation report, and a decision form each."""
    session = db.session()
    queue = catalog.pending_reviews(session)
    codes = {v.module.publisher_code for v in queue}
    places = dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name)
                                  .where(Jurisdiction.code.in_(codes))).all()) if codes else {}
    return render_template("admin/reviews.html", queue=queue, form=ReviewForm(), places=places)


@bp.post("/reviews/<name>/<version>")
@role_required("admin")
def review(name: str, version: str):
    """Approve or reject one version through the catalog service."""
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请重试。"), "error")
        return redirect(url_for("admin.reviews"))
    session = db.session()
    try:
        item = catalog.review(session, name, version, form.decision.data, form.reason.data or "",
                              current_user)
        session.commit()
        flash(_("%(name)s %(version)s 已%(what)s。", name=name, version=version,
                what=_("通过") if item.state == "published" else _("驳回")), "info")
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("admin.reviews"))


@bp.route("/jurisdictions", methods=["GET", "POST"])
@role_required("admin")
def jurisdictions():
    """Jurisdictions with users, and the add-user form."""
    session = db.session()
    form = UserForm()
    form.role.choices = options(ROLES, LABELS["role"])   # the roles in words, not code
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.add_user(session, form.email.data, form.password.data,
                                     form.jurisdiction.data, form.role.data, form.name.data or "")
            accounts.audit(session, current_user, "user.add", user.email, role=user.role,
                           jurisdiction=user.jurisdiction_code)
            session.commit()
            flash(_("已添加用户 %(email)s。", email=user.email), "info")
            return redirect(url_for("admin.jurisdictions"))
        except MarketplaceError as exc:
            session.rollback()
            field = form.password if exc.reason == "weak_password" else form.email
            field.errors = [*field.errors, exc.message]
            status = exc.status
    elif form.is_submitted():
        status = 400
    users = list(session.scalars(sa.select(User).order_by(User.jurisdiction_code, User.email)))
    with_users = {u.jurisdiction_code for u in users}
    places = list(session.scalars(
        sa.select(Jurisdiction).order_by(Jurisdiction.code)))
    return render_template("admin/jurisdictions.html", form=form, users=users,
                           places=places, with_users=with_users), status


@bp.get("/audit")
@role_required("admin")
def audit():
    """The audit journal, newest first, filterable by action prefix."""
    action = request.args.get("action", "").strip()
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    entries = list(db.session().scalars(query))
    return render_template("admin/audit.html", entries=entries, action=action)


@bp.get("/periods")
@role_required("admin")
def periods():
    """Recent periods: state, totals, positions per jurisdiction, provider status, settle button."""
    from marketplace.web.consoles import settlement_view

    return settlement_view.periods_page(recent_periods(6), SettleForm(), config)


@bp.post("/periods/settle")
@role_required("admin")
def settle():
    """Settle an ended period through the settlement service; the result is shown on return."""
    from marketplace.web.consoles import settlement_view

    form = SettleForm()
    if not form.validate_on_submit():
        flash(_("请选择要结算的账期。"), "error")
    else:
        settlement_view.settle(form.period.data, current_user)
    return redirect(url_for("admin.periods", period=form.period.data))


@bp.route("/ledger", methods=["GET", "POST"])
@role_required("admin")
def ledger():
    """The built-in ledger: balances, trial balance, latest payments, and booking a payment."""
    from marketplace.clock import previous_period

    book = get_ledger(current_app.config)
    session = db.session()
    balances = book.balance_sums(session, settlement.HOME_CURRENCY)   # the page shows this one
    taking_part = sa.select(User.jurisdiction_code).union(     # with users or with a balance
        sa.select(Jurisdiction.code).where(Jurisdiction.code.in_(list(balances))))
    places = {p.code: p.name for p in session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.code.in_(taking_part))
        .order_by(Jurisdiction.code))}
    form = PaymentForm()
    form.jurisdiction.choices = options(places, {code: f"{code} {name}"
                                                 for code, name in places.items()})
    if not form.is_submitted():
        form.period.data = previous_period(recent_periods(1)[0])   # usually last period's bill
    status = 200
    provider = provider_name(current_app.config)
    if form.is_submitted() and provider != "ledger":
        flash(_("结算渠道为 %(provider)s，不在内置账本记账。", provider=provider), "error")
        status = 409
    elif form.validate_on_submit():
        amount = form.amount_minor()
        code, reference = form.jurisdiction.data, form.reference.data.strip()
        try:
            result = settlement.book_payment(session, current_user, current_app.config, code,
                                             amount, form.period.data, form.direction.data,
                                             reference)
            session.commit()
        except MarketplaceError as exc:
            session.rollback()
            form.amount.errors = [*form.amount.errors, exc.message]
            status = exc.status
        except sa.exc.IntegrityError:
            session.rollback()
            if not reference or not book.booked_before(session, code, form.period.data,
                                                       reference):
                raise
            result = {"booked": False}              # the same reference, by a racing post
        if status == 200:
            if result["booked"]:
                flash(_("已记账：%(code)s %(name)s %(amount)s（%(period)s）。", code=code,
                        name=places[code], amount=format_display(amount, "CNY"),
                        period=form.period.data), "info")
            else:
                flash(_("流水号 %(ref)s 已记过账，本次未重复记账。", ref=reference), "error")
            return redirect(url_for("admin.ledger"))
    elif form.is_submitted():
        status = 400
    debit, credit = book.trial_balance(session, settlement.HOME_CURRENCY)
    return render_template(
        "admin/ledger.html", form=form, places=places, balances=balances,
        payments=book.recent_payments(session), debit=debit, credit=credit,
        provider=provider), status
