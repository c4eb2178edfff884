"""Publisher console (province bureaus): modules, uploads, yanks, adopters, usage and earnings."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace import db
from marketplace.accounts.models import Jurisdiction
from marketplace.catalog import service as catalog
from marketplace.catalog.models import Module
from marketplace.catalog.store import store_for
from marketplace.errors import MarketplaceError
from marketplace.runtime.models import Installation
from marketplace.web.consoles import config, recent_periods, role_required, usage_window
from marketplace.web.consoles.settlement_view import names_for
from marketplace.web.forms import UploadForm, YankForm
from marketplace.web.i18n import label

bp = Blueprint("publisher", __name__, url_prefix="/publisher")


def _my_modules(session) -> list[Module]:
    """Modules owned by the current user's jurisdiction, by name."""
    return list(session.scalars(sa.select(Module)
                                .where(Module.publisher_code == current_user.jurisdiction_code)
                                .order_by(Module.name)))


def _adopter_counts(session, module_ids: list[int]) -> dict[int, int]:
    """Active installations per module."""
    if not module_ids:
        return {}
    rows = session.execute(sa.select(Installation.module_id, sa.func.count())
                           .where(Installation.module_id.in_(module_ids),
                                  Installation.state == "active")
                           .group_by(Installation.module_id))
    return dict(rows.all())


def _home(form: UploadForm, problems: list | None = None, status: int = 200):
    """Render the module list with the upload form (and any upload problems in place)."""
    session = db.session()
    modules = _my_modules(session)
    versions = {m.name: catalog.list_versions(session, m.name) for m in modules}
    return render_template("publisher/home.html", modules=modules, versions=versions,
                           adopters=_adopter_counts(session, [m.id for m in modules]),
                           form=form, yank_form=YankForm(), problems=problems or []), status


@bp.get("/")
@role_required("publisher")
def home():
    """My modules, their versions and review state, and the upload form."""
    return _home(UploadForm())


@bp.post("/upload")
@role_required("publisher")
def upload():
    """Publish an uploaded bundle; validation problems are shown next to the form."""
    form = UploadForm()
    if not form.validate_on_submit():
        problems = [{"where": name, "message": str(e)} for name, errs in form.errors.items()
                    for e in errs]
        return _home(form, problems, 400)
    session = db.session()
    try:
        result = catalog.publish(session, form.bundle.data.read(), current_user,
                                 store_for(current_app.config),
                                 require_review=bool(config("REQUIRE_REVIEW", True)))
        session.commit()
    except MarketplaceError as exc:
        session.rollback()
        problems = exc.details or [{"where": exc.reason, "message": exc.message}]
        return _home(form, problems, exc.status)
    version = result.version
    if result.created:
        flash(_("已上传 %(name)s %(version)s，状态：%(state)s。", name=version.module.name,
                version=version.version, state=label(version.state, "state")), "info")
    else:
        flash(_("%(name)s %(version)s 已存在（同一文件）。", name=version.module.name,
                version=version.version), "info")
    return redirect(url_for("publisher.home"))


@bp.post("/modules/<name>/<version>/yank")
@role_required("publisher")
def yank(name: str, version: str):
    """Yank a version with a reason (no new installs; running ones keep working)."""
    form = YankForm()
    if not form.validate_on_submit():
        flash(_("请填写撤回原因（至少 3 个字）。"), "error")
        return redirect(url_for("publisher.module", name=name))
    session = db.session()
    try:
        catalog.yank(session, name, version, form.reason.data, current_user)
        session.commit()
        flash(_("已撤回 %(name)s %(version)s。", name=name, version=version), "info")
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("publisher.module", name=name))


@bp.get("/modules/<name>")
@role_required("publisher")
def module(name: str):
    """One of my modules: versions (with yank forms) and its adopters."""
    session = db.session()
    item = catalog.find_module(session, name)
    if item.publisher_code != current_user.jurisdiction_code:
        abort(404)
    installs = list(session.execute(
        sa.select(Installation, Jurisdiction.name)
        .join(Jurisdiction, Jurisdiction.code == Installation.jurisdiction_code)
        .where(Installation.module_id == item.id)
        .order_by(Installation.state, Installation.jurisdiction_code)))
    return render_template("publisher/module.html", module=item,
                           versions=catalog.list_versions(session, name), installs=installs,
                           yank_form=YankForm())


@bp.get("/usage")
@role_required("publisher")
def usage():
    """Usage of my modules by adopter, a line per adopter by day."""
    from marketplace.web.consoles import usage_view

    period, days = usage_window(request.args.get("period"))
    session = db.session()
    names = [m.name for m in _my_modules(session)]
    titles = names_for(session, set(), set(names))["titles"]
    chosen = request.args.get("module") or ""
    data = usage_view.publisher_usage(session, current_user, days, chosen or None)
    return render_template("publisher/usage.html", period=period, periods=recent_periods(),
                           modules=names, titles=titles, chosen=chosen, days=days, **data)


@bp.get("/earnings")
@role_required("publisher")
def earnings():
    """Earnings per settled period: lines by module and adopter."""
    from marketplace.web.consoles import settlement_view

    return render_template("publisher/earnings.html",
                           **settlement_view.earnings(db.session(), current_user))
