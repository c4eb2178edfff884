"""Log in and out of the web console."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from marketplace import db
from marketplace.accounts import service
from marketplace.clock import now
from marketplace.errors import NotFound

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """E-mail and password, CSRF protected."""

    email = EmailField("email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("password", validators=[DataRequired()])


def _safe_next(target: str | None) -> str:
    """Only same-site relative redirects after login."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the form; on success start a fresh session (no fixation) and go on."""
    form = LoginForm()
    if form.validate_on_submit():
        dbs = db.session()
        try:
            user = service.find_user(dbs, form.email.data)
        except NotFound:
            user = None
        if user is not None and user.active and service.verify_password(user, form.password.data):
            lang = session.get("lang")
            session.clear()  # new session on login: a planted session id is worthless
            if lang:
                session["lang"] = lang
            login_user(user)
            user.last_login_at = now()
            dbs.commit()
            return redirect(_safe_next(request.args.get("next")))
        flash(_("邮箱或密码不正确。"), "error")
    status = 200
    if form.is_submitted():
        status = 400 if form.errors else 401
    return render_template("login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """End the session."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
