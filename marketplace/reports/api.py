"""JSON (and CSV) API of reports: ``GET /api/v1/reports/reuse?year=2026`` (public)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from marketplace import db
from marketplace.reports import reuse
from marketplace.web.api import answer_format

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1")


@bp.get("/reports/reuse")
def reuse_report():
    """The reuse report of ``?year=`` (default: this year); ``?format=csv`` for CSV. Public."""
    year = reuse.check_year(request.args.get("year"))
    fmt = answer_format()
    report = reuse.reuse_report(db.session(), year)
    if fmt == "csv":
        return Response(reuse.reuse_csv(report), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="reuse-{year}.csv"'})
    return jsonify(report)
