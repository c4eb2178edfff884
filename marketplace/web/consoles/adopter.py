"""Adopter console (city bureaus): install under terms, manage installations, tokens, usage, bills."""
from __future__ import annotations

import sqlalchemy as sa
from marketplace.accounts.auth import forget_cached_tokens
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace import db
from marketplace.accounts import service as accounts
from marketplace.accounts.models import ROLE_SCOPES, ROLES, SCOPES, ApiToken, Jurisdiction
from marketplace.catalog.models import Module
from marketplace.catalog.store import store_for
from marketplace.errors import MarketplaceError
from marketplace.runtime import service as runtime
from marketplace.metering.service import MAX_UNITS
from marketplace.web.consoles import (estimate, install_plan, language, recent_periods,
                                      role_required, usage_window, whole_number)
from marketplace.web.consoles.settlement_view import names_for
from marketplace.web.i18n import SCOPE_NAMES
from marketplace.web.forms import (ActionForm, InstallForm, SwitchForm, TokenForm, UpgradeForm,
                                   options)

bp = Blueprint("adopter", __name__, url_prefix="/adopter")


def _announce(item, hook: str) -> None:
    """Fire a lifecycle hook after commit (never fatal)."""
    runtime.announce(db.session(), store_for(current_app.config), item, hook,
                     current_app.config.get("INVOKE_TIMEOUT", 5.0))


def _choices(session, item) -> tuple[list, list]:
    """Installable versions of the same module, and modules sharing its interface."""
    versions = options(v.version for v in sorted(item.module.versions, key=lambda v: v.sort_key,
                                                 reverse=True)
                       if v.state == "published" and not v.yanked and v.id != item.version_id)
    others = []
    if item.module.implements:
        names = list(session.scalars(sa.select(Module.name).where(
            Module.implements == item.module.implements, Module.id != item.module_id)))
        others = options(names, names_for(session, set(), set(names))["titles"])
    return versions, others


@bp.get("/")
@role_required("adopter")
def home():
    """My installations with upgrade, switch and uninstall actions."""
    session = db.session()
    items = runtime.list_installations(session, current_user.jurisdiction_code, include_ended=True)
    rows = []
    for item in items:
        versions, others = _choices(session, item)
        upgrade, switch = UpgradeForm(prefix=f"u{item.id}"), SwitchForm(prefix=f"s{item.id}")
        upgrade.version.choices, switch.module.choices = versions, others
        rows.append({"item": item, "upgrade": upgrade if versions else None,
                     "switch": switch if others else None,
                     "terms": estimate.describe(item.terms, language())})
    return render_template("adopter/home.html", rows=rows, action=ActionForm())


@bp.route("/install/<name>", methods=["GET", "POST"])
@role_required("adopter")
def install(name: str):
    """The "accept terms and install" step: terms in words, what it will cost, then install."""
    session = db.session()
    module = runtime.find_module(session, name)
    live = sorted((v for v in module.versions if v.state == "published" and not v.yanked),
                  key=lambda v: v.sort_key, reverse=True)
    form = InstallForm()
    form.version.choices = options(v.version for v in live)
    chosen = next((v for v in live if v.version == (form.version.data or request.args.get("version"))),
                  live[0] if live else None)
    status = 200
    choose = install_plan.chosen(request.values)
    plan = install_plan.composite_plan(session, current_user.jurisdiction_code, chosen, choose)
    if form.validate_on_submit() and chosen is not None:
        try:
            if plan is None:
                item, made = runtime.install(session, current_user, name, chosen.version,
                                             accept_terms=True), []
            else:   # a composite: what it calls is installed with it, as listed on the page
                item, made = runtime.install_with_dependencies(
                    session, current_user, name, chosen.version, accept_terms=True, choose=choose)
            session.commit()
        except MarketplaceError as exc:
            session.rollback()
            flash(exc.message, "error")
            status = exc.status
        else:
            for each in [*made, item]:
                _announce(each, "module_installed")
            flash(_("已安装 %(name)s %(version)s。", name=name, version=chosen.version), "info")
            return redirect(url_for("adopter.home"))
    elif form.is_submitted():
        status = 400
    units = whole_number(request.args.get("units"), MAX_UNITS)
    cost = estimate.estimate(session, module, chosen.terms, units) if chosen else None
    terms_text = estimate.describe(chosen.terms, language()) if chosen else ""
    place = session.get(Jurisdiction, module.publisher_code)
    return render_template("adopter/install.html", module=module, version=chosen, form=form,
                           cost=cost, terms_text=terms_text, units=units, plan=plan,
                           publisher_name=place.name if place else module.publisher_code), status


def _change(action) -> Response:
    """Run an installation change, commit, flash the outcome and go back home."""
    session = db.session()
    try:
        message, hooks = action(session)
        session.commit()
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        for item, hook in hooks:
            _announce(item, hook)
        flash(message, "info")
    return redirect(url_for("adopter.home"))


@bp.post("/installations/<int:installation_id>/upgrade")
@role_required("adopter")
def upgrade(installation_id: int):
    """Change the installed version (new terms must be accepted)."""
    form = UpgradeForm(prefix=f"u{installation_id}")
    form.version.choices = options([form.version.data])
    if not form.validate_on_submit():
        flash(_("表单已过期，请重试。"), "error")
        return redirect(url_for("adopter.home"))
    return _change(lambda s: (
        _("已改为 %(v)s 版本。", v=runtime.change_version(
            s, current_user, installation_id, form.version.data, form.accept_terms.data).version.version),
        []))


@bp.post("/installations/<int:installation_id>/switch")
@role_required("adopter")
def switch(installation_id: int):
    """Replace by another module implementing the same interface."""
    form = SwitchForm(prefix=f"s{installation_id}")
    form.module.choices = options([form.module.data])
    if not form.validate_on_submit():
        flash(_("切换前须接受新模块条款。"), "error")
        return redirect(url_for("adopter.home"))

    def action(session):
        old, new = runtime.switch_implementation(session, current_user, installation_id,
                                                 form.module.data, accept_terms=True)
        return (_("已切换为 %(m)s。", m=form.module.data),
                [(old, "module_uninstalled"), (new, "module_installed")])
    return _change(action)


@bp.post("/installations/<int:installation_id>/uninstall")
@role_required("adopter")
def uninstall(installation_id: int):
    """End an installation (usage so far stays billable)."""
    if not ActionForm().validate_on_submit():
        flash(_("表单已过期，请重试。"), "error")
        return redirect(url_for("adopter.home"))
    return _change(lambda s: (_("已卸载。"), [(runtime.uninstall(s, current_user, installation_id),
                                             "module_uninstalled")]))


@bp.route("/tokens", methods=["GET", "POST"])
@role_required(*ROLES)
def tokens():
    """My API tokens (every role: publishers publish with theirs): create with scopes within
    the role (the secret is shown once), list, revoke."""
    session = db.session()
    form = TokenForm()
    allowed = [s for s in SCOPES if s in ROLE_SCOPES[current_user.role]]
    form.scopes.choices = options(allowed, SCOPE_NAMES)
    secret, status = None, 200
    if form.validate_on_submit():
        try:
            _token, secret = accounts.issue_token(session, current_user, form.scopes.data,
                                                  form.name.data)
            session.commit()
        except MarketplaceError as exc:
            session.rollback()
            form.scopes.errors = [*form.scopes.errors, exc.message]
            status = exc.status
    elif form.is_submitted():
        status = 400
    items = list(session.scalars(sa.select(ApiToken).where(ApiToken.user_id == current_user.id)
                                 .order_by(ApiToken.id.desc())))
    response = render_template("adopter/tokens.html", form=form, tokens=items, secret=secret,
                               action=ActionForm())
    headers = {"Cache-Control": "no-store"} if secret else {}
    return response, status, headers


@bp.post("/tokens/<int:token_id>/revoke")
@role_required(*ROLES)
def revoke(token_id: int):
    """Revoke one of my tokens."""
    if ActionForm().validate_on_submit():
        session = db.session()
        try:
            accounts.revoke_token(session, token_id, by=current_user)
            session.commit()
            forget_cached_tokens()
            flash(_("令牌已吊销。"), "info")
        except MarketplaceError as exc:
            session.rollback()
            flash(exc.message, "error")
    return redirect(url_for("adopter.tokens"))


@bp.get("/usage")
@role_required("adopter")
def usage():
    """My usage by module per day, with each installation's quota."""
    from marketplace.web.consoles import usage_view

    period, days = usage_window(request.args.get("period"))
    session = db.session()
    data = usage_view.adopter_usage(session, current_user, days)
    items = runtime.list_installations(session, current_user.jurisdiction_code)
    default_quota = current_app.config.get("QUOTA_PER_MINUTE", 600)
    quotas = [(i.version.title, i.quota_per_minute or default_quota) for i in items]
    return render_template("adopter/usage.html", period=period, periods=recent_periods(),
                           days=days, quotas=quotas, **data)


@bp.get("/statements")
@role_required("adopter")
def statements():
    """My statements per period, and one period's line detail."""
    from marketplace.web.consoles import settlement_view

    return render_template("adopter/statements.html", **settlement_view.statements(
        db.session(), current_user, request.args.get("period")))


@bp.get("/statements/<period>.csv")
@role_required("adopter")
def statement_csv(period: str):
    """One statement's lines as CSV."""
    from marketplace.web.consoles import settlement_view

    body = settlement_view.statement_csv(db.session(), current_user, period)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=statement-{current_user.jurisdiction_code}-{period}.csv"})
