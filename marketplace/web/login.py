"""flask-login wiring: users come back from the session by id and password fingerprint."""
from __future__ import annotations

from flask import Flask
from flask_login import LoginManager

from marketplace import db
from marketplace.accounts.models import User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Resolve ``"id:fingerprint"``; a changed password invalidates old sessions."""
    user_id, _, fingerprint = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session().get(User, int(user_id))
    if user is None or not user.active or user.password_hash[-12:] != fingerprint:
        return None
    return user


def init_login(app: Flask) -> None:
    """Attach the login manager to the app."""
    login_manager.init_app(app)
