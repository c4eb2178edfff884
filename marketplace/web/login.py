"""flask-login wiring: a user comes back from the cookie only with a live server-side session."""
from __future__ import annotations

from flask import Flask, current_app, session
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from marketplace import db
from marketplace.accounts import logins
from marketplace.accounts.models import User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("请先登录再打开此页面。")     # flask-login's own is English only
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"
SESSION_KEY = "_sid"   # the console session's secret inside the signed cookie


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Resolve ``"id:fingerprint"`` plus the cookie's session secret.

    The session row must exist and not be revoked (logout revokes it server-side, so a
    copied cookie dies with it); a changed password invalidates old sessions too.
    """
    user_id, _, fingerprint = session_id.partition(":")
    if not user_id.isascii() or not user_id.isdigit() or int(user_id) >= 2**31:
        return None
    user = logins.session_user(db.session(), int(user_id), session.get(SESSION_KEY),
                               current_app.config["LOGIN_SESSION_HOURS"])
    if user is None or user.password_hash[-12:] != fingerprint:
        return None
    return user


def init_login(app: Flask) -> None:
    """Attach the login manager to the app."""
    login_manager.init_app(app)
