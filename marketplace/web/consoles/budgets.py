"""Budgets on the adopter console: this month's spending against the budget, warnings, the form."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from marketplace import db
from marketplace.errors import MarketplaceError
from marketplace.settlement import budget_service

bp = Blueprint("budgets", __name__, url_prefix="/adopter")


class BudgetForm(FlaskForm):
    """A monthly budget in the terms' currency; empty clears it."""

    budget = StringField(_l("每月预算（元，留空表示不设）"), validators=[Length(max=40)])


def _alerts() -> list[dict]:
    """This period's warned budgets of the signed-in adopter's jurisdiction (the banner)."""
    if not getattr(current_user, "is_authenticated", False) or current_user.role != "adopter":
        return []
    return budget_service.alerts(db.session(), current_user.jurisdiction_code)


def _status(item) -> dict | None:
    return budget_service.status(db.session(), item)


def _form(item) -> BudgetForm:
    form = BudgetForm(prefix=f"b{item.id}")
    form.budget.data = form.budget.data or budget_service.budget_text(item) or ""
    return form


@bp.app_context_processor
def budget_helpers() -> dict:
    """Template helpers: ``budget_alerts()``, ``budget_status(item)``, ``budget_form(item)``."""
    return {"budget_alerts": _alerts, "budget_status": _status, "budget_form": _form}


@bp.post("/installations/<int:installation_id>/budget")
def set_budget(installation_id: int):
    """Set or clear an installation's monthly budget from the console."""
    from marketplace.web.consoles import role_required

    return role_required("adopter")(_set_budget)(installation_id)


def _set_budget(installation_id: int):
    form = BudgetForm(prefix=f"b{installation_id}")
    session = db.session()
    if not form.validate_on_submit():
        flash(_("预算未保存：请重新提交表单。"), "error")
        return redirect(url_for("adopter.home"))
    value = (form.budget.data or "").strip() or None
    try:
        item = budget_service.set_budget(session, current_user, installation_id, value)
        session.commit()
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("已设置 %(name)s 的每月预算。", name=item.module.name) if value else
              _("已取消 %(name)s 的每月预算。", name=item.module.name), "info")
    return redirect(url_for("adopter.home") + f"#installation-{installation_id}")
