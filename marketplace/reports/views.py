"""The operator's reuse report page (复用成效): tables and a chart of what reuse saved."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from marketplace import db
from marketplace.errors import MarketplaceError
from marketplace.money import format_display
from marketplace.reports import reuse
from marketplace.reports.chart import reuse_chart
from marketplace.web.consoles import language, role_required

bp = Blueprint("reports", __name__)


def chart_rows(report: dict) -> list[tuple[str, int, int]]:
    """(module, avoided, recovered) in minor units for modules with either, largest avoided first."""
    rows = [(m["module"], m["construction_avoided"], m["recovered"]) for m in report["modules"]]
    return sorted((r for r in rows if r[1] or r[2]), key=lambda r: (-r[1], -r[2], r[0]))


@bp.get("/admin/reuse")
@role_required("admin")
def reuse_page():
    """The reuse report of ``?year=`` as a page (an unreadable year shows this year)."""
    try:
        year = reuse.check_year(request.args.get("year"))
    except MarketplaceError:
        year = reuse.check_year(None)
    report = reuse.compute(db.session(), year)
    zh = language() == "zh"
    chart = reuse_chart(chart_rows(report), report["currency"],
                        "避免重复建设与已回收" if zh else "Construction avoided and recovered",
                        ("避免重复建设", "已回收") if zh else ("avoided", "recovered"))
    return render_template("reports/reuse.html", report=report, chart=chart,
                           show=lambda minor: format_display(minor, report["currency"]))
