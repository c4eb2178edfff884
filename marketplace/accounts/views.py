"""Log in and out of the web console."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from marketplace import db
from marketplace.accounts import logins
from marketplace.errors import Unauthorized
from marketplace.web.login import SESSION_KEY

bp = Blueprint("auth", __name__)
# A local target: one "/" then printable ASCII without "\" (browsers read "\" as "/").
_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")


class LoginForm(FlaskForm):
    """E-mail and password, CSRF protected."""

    email = EmailField("email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=1024)])


def safe_next(target: object) -> str:
    """``target`` if it is a path on this site, else ``/``.

    Refused: absolute and scheme-relative URLs (``//host``, ``/\\host``), backslashes,
    whitespace and control characters (browsers drop tabs and newlines: ``/\\t/host`` is
    ``//host``), non-ASCII, and the same tricks percent-encoded once or twice.
    """
    if not isinstance(target, str) or len(target) > 2000 or not _LOCAL_PATH.fullmatch(target):
        return "/"
    layer = target
    for _round in range(3):                 # the value as sent, then decoded once and twice
        if not _local(layer):
            return "/"
        try:
            layer = unquote(layer, errors="strict")
        except UnicodeDecodeError:
            return "/"
    return target


def _local(path: str) -> bool:
    """One "/" then no backslash, whitespace, control or invisible character; no scheme or host."""
    if not path.startswith("/") or path[1:2] in ("/", "\\") or "\\" in path:
        return False
    if any(unicodedata.category(ch)[0] in "CZ" for ch in path):
        return False
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc


def client_address() -> str:
    """The caller's address as the app trusts it (``TRUSTED_PROXY_HOPS``; default the socket peer)."""
    return (request.remote_addr or "")[:64]


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the form; on success start a fresh session (no fixation) and go on."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        dbs = db.session()
        try:
            user, secret = logins.log_in(dbs, form.email.data, form.password.data, client_address())
        except logins.TooManyAttempts as exc:
            flash(_("此账户近期登录失败过多，正在冷却：请从曾成功登录过的网络登录，或15分钟后再试。")
                  if exc.cooling else _("登录失败次数过多，请15分钟后再试。"), "error")
            return render_template("login.html", form=form), 429
        except Unauthorized:
            flash(_("邮箱或密码不正确。"), "error")
            return render_template("login.html", form=form), 401
        lang = session.get("lang")
        session.clear()  # new session on login: a planted session id is worthless
        if lang:
            session["lang"] = lang
        session[SESSION_KEY] = secret
        login_user(user)
        return redirect(safe_next(request.args.get("next")))
    if form.is_submitted():
        status = 400 if form.errors else 401
    return render_template("login.html", form=form), status


@bp.post("/logout")
def logout():
    """End the session here and on the server: the old cookie opens nothing afterwards."""
    logins.log_out(db.session(), session.get(SESSION_KEY))
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
