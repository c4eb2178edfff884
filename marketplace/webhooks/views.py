"""Console page of the jurisdiction's webhook: the URL, its secret once, the delivery log."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from marketplace import db
from marketplace.errors import MarketplaceError
from marketplace.web.consoles import role_required
from marketplace.webhooks import service
from marketplace.webhooks.models import WebhookEndpoint

bp = Blueprint("webhooks", __name__, url_prefix="/adopter")


class WebhookForm(FlaskForm):
    """Where budget warnings are POSTed."""

    url = StringField(_l("接收地址（https://…）"),
                      validators=[DataRequired(), Length(max=service.MAX_URL)])


@bp.route("/webhooks", methods=["GET", "POST"])
@role_required("adopter")
def page():
    """Set the webhook URL (a new secret, shown once) and read the delivery log."""
    session = db.session()
    code = current_user.jurisdiction_code
    form, secret, status, problem = WebhookForm(), None, 200, None
    if form.validate_on_submit():
        try:
            _item, secret = service.configure(session, current_user, form.url.data.strip())
            session.commit()
        except MarketplaceError as exc:
            session.rollback()
            problem, status = exc.message, exc.status
    elif form.is_submitted():
        status = 400
    endpoint = session.get(WebhookEndpoint, code)
    if endpoint is not None and not form.url.data:
        form.url.data = endpoint.url
    return render_template("adopter/webhooks.html", form=form, secret=secret, endpoint=endpoint,
                           problem=problem, deliveries=service.deliveries(session, code),
                           title=_("预算提醒推送")), status
