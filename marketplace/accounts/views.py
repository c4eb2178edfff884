"""Log in and out of the web console."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from marketplace import db
from marketplace.accounts import service
from marketplace.accounts.models import AuditEntry
from marketplace.clock import now
from marketplace.errors import NotFound

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_MAX_FAILURES = 5

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


def _subject(email: str) -> str:
    """Audit subject for login attempts on an account."""
    return f"login {(email or '').strip().lower()[:240]}"


def _too_many_failures(dbs, email: str) -> bool:
    """Five failed logins for one account in 15 minutes lock it out (shared by all workers)."""
    since = now() - LOGIN_WINDOW
    failures = dbs.scalar(sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.action == "login.failed", AuditEntry.subject == _subject(email),
        AuditEntry.at >= since))
    return failures >= LOGIN_MAX_FAILURES


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the form; on success start a fresh session (no fixation) and go on."""
    form = LoginForm()
    if form.validate_on_submit():
        dbs = db.session()
        if _too_many_failures(dbs, form.email.data):
            flash(_("登录失败次数过多，请15分钟后再试。"), "error")
            return render_template("login.html", form=form), 429
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
        service.audit(dbs, None, "login.failed", _subject(form.email.data),
                      ip=request.remote_addr or "")
        dbs.commit()
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
