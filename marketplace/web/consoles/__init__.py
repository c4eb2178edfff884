"""The three consoles: publisher (province bureaus), adopter (city bureaus), operator (admin).

Views only translate HTTP to the areas' service functions; shared helpers live here.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import wraps
from typing import Callable

from flask import abort, current_app
from flask_babel import get_locale
from flask_login import current_user, login_required

from marketplace.clock import local, now, period_bounds, period_of


def role_required(*roles: str) -> Callable:
    """Logged-in users of one of ``roles`` only: others get 403, strangers the login page."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403, description=f"this page is for the {' / '.join(roles)} role")
            return view(*args, **kwargs)
        return wrapped
    return decorate


def language() -> str:
    """``zh`` or ``en`` for the current request."""
    return str(get_locale() or "zh")[:2]


def current_period() -> str:
    """The open period by the platform clock."""
    return period_of(now())


def chosen_period(text: str | None) -> str:
    """A ``YYYY-MM`` from the query string, or the current period."""
    try:
        period_bounds(text or "")
        return text  # type: ignore[return-value]
    except ValueError:
        return current_period()


def whole_number(text: str | None, high: int) -> int | None:
    """A query argument of ASCII digits from 0 to ``high``, or None (ignored) for anything else."""
    if not text or len(text) > len(str(high)) or not (text.isascii() and text.isdigit()):
        return None
    return int(text) if int(text) <= high else None


def days_of(period: str) -> list[date]:
    """Every calendar day of a period up to today (platform zone)."""
    start, end = period_bounds(period)
    first, last = local(start).date(), local(end).date() - timedelta(days=1)
    last = min(last, local(now()).date())
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


ROLLING = "30d"


def usage_window(text: str | None) -> tuple[str, list[date]]:
    """The usage pages' window and its days: a ``YYYY-MM`` asked for, else the last 30 days.

    A month just begun has a day or two of points; the rolling 30 days always show a
    month of history, today included.
    """
    if text and text != ROLLING and chosen_period(text) == text and (days := days_of(text)):
        return text, days
    today = local(now()).date()
    return ROLLING, [today - timedelta(days=29 - i) for i in range(30)]


def recent_periods(count: int = 6) -> list[str]:
    """The current period and the ``count - 1`` before it, newest first."""
    from marketplace.clock import previous_period

    periods = [current_period()]
    while len(periods) < count:
        periods.append(previous_period(periods[-1]))
    return periods


def config(key: str, default=None):
    """An app config value (services take it as an argument)."""
    return current_app.config.get(key, default)
