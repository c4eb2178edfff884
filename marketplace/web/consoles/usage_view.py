"""Usage pages: the metering area's series turned into per-day charts and tables."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from marketplace.metering.series import Viewer, usage_series
from marketplace.web import charts


def _by(points: list[dict], key: str) -> dict[str, dict[date, int]]:
    """Units per ``key`` (adopter or module) per day."""
    grouped: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for point in points:
        grouped[point[key]][date.fromisoformat(point["day"])] += point["units"]
    return grouped


def _chart(days: list[date], points: list[dict], key: str, labels: dict[str, str],
           title: str) -> dict[str, Any]:
    """Chart (one line per ``key``, named by ``labels``), its legend and the totals table rows."""
    unit = _("计费单位")
    grouped = _by(points, key)
    series = {labels.get(name, name): charts.fill_days(days, counts)
              for name, counts in sorted(grouped.items())}
    rows = []
    for name, counts in sorted(grouped.items()):
        events = sum(p["events"] for p in points if p[key] == name)
        rows.append({"key": name, "label": labels.get(name, name), "units": sum(counts.values()),
                     "events": events})
    total = charts.fill_days(days, {d: sum(c.get(d, 0) for c in grouped.values()) for d in days})
    return {"chart": charts.line_chart(days, series, title, unit) if series
            else charts.bar_chart(days, total, title, unit),
            "legend": charts.legend(series, unit) if series else "",
            "total_chart": charts.bar_chart(days, total, title, unit),
            "rows": rows, "total_units": sum(total)}


def publisher_usage(session: Session, user: Any, days: list[date], module: str | None,
                    names: dict[str, str] | None = None) -> dict[str, Any]:
    """Usage of the publisher's own modules by adopter (named), per day of ``days``."""
    from marketplace.web.consoles.settlement_view import names_for

    points = usage_series(session, Viewer("publisher", user.jurisdiction_code), module=module,
                          start=days[0], end=days[-1], granularity="day")
    owned = _owned_modules(session, user.jurisdiction_code)
    points = [p for p in points if p["module"] in owned]
    if names is None:
        names = names_for(session, {p["adopter"] for p in points}, set())["places"]
    return _chart(days, points, "adopter", names, _("每日计费单位（按采用地区）"))


def adopter_usage(session: Session, user: Any, days: list[date]) -> dict[str, Any]:
    """The adopter's own usage by module (by title), per day of ``days``."""
    from marketplace.web.consoles.settlement_view import names_for

    points = usage_series(session, Viewer("adopter", user.jurisdiction_code),
                          start=days[0], end=days[-1], granularity="day",
                          adopter=user.jurisdiction_code)
    titles = names_for(session, set(), {p["module"] for p in points})["titles"]
    return _chart(days, points, "module", titles, _("每日计费单位（按模块）"))


def _owned_modules(session: Session, code: str) -> set[str]:
    """Names of modules a jurisdiction publishes."""
    import sqlalchemy as sa

    from marketplace.catalog.models import Module

    return set(session.scalars(sa.select(Module.name).where(Module.publisher_code == code)))
