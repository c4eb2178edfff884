"""Chinese first, English on request; money and time formatting for templates."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, request, session
from flask_babel import Babel

from marketplace.clock import local

LANGUAGES = ("zh", "en")


def select_locale() -> str:
    """``?lang=`` switches and is remembered in the session; Chinese by default."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted
        return wanted
    return session.get("lang", "zh")


def money(minor: int | None, currency: str = "CNY") -> str:
    """Minor units as ``¥1,234.50`` (negative: ``-¥12.00``)."""
    from marketplace.money import format_display

    return format_display(int(minor or 0), currency)


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored instant shown in the platform time zone."""
    return "" if value is None else local(value).strftime(fmt)


def init_i18n(app: Flask) -> None:
    """Flask-Babel with our locale selector, and the formatting filters."""
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["localtime"] = localtime

    @app.context_processor
    def language():
        return {"lang": select_locale(), "languages": LANGUAGES}
