"""Operations over HTTP: ``/metrics``, the monitoring API and its console page."""
from __future__ import annotations

import ipaddress

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from flask_login import current_user

from marketplace import db
from marketplace.accounts.auth import load_principal, require
from marketplace.errors import MarketplaceError
from marketplace.metering.series import Viewer, parse_day
from marketplace.ops import metrics, rollup
from marketplace.web.consoles import role_required

bp = Blueprint("ops", __name__)


def _allowed(address: str | None, allow: str) -> bool:
    """Whether ``address`` is in the comma-separated allow-list of addresses and networks."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    for entry in filter(None, (e.strip() for e in allow.split(","))):
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


@bp.get("/metrics")
def prometheus():
    """Prometheus text: from an allowed address, or with an admin's token."""
    if not _allowed(request.remote_addr, current_app.config.get("METRICS_ALLOW", "")):
        try:                        # not under /api/: answer JSON errors here, not a page
            principal = load_principal()
            if principal is None:
                raise MarketplaceError("unauthorized", "metrics need an admin's API token "
                                       "('Authorization: Bearer gm_…') or a scraper address "
                                       "in MARKETPLACE_METRICS_ALLOW", status=401)
            if not principal.is_admin:
                raise MarketplaceError("admin_only", "only a platform administrator may read "
                                       "metrics", status=403)
        except MarketplaceError as exc:
            return jsonify(exc.to_dict()), exc.status
    body, content_type = metrics.exposition()
    return Response(body, 200, content_type=content_type)


def _report(viewer: Viewer) -> dict:
    """The monitoring report for ``viewer`` from the query string."""
    args = request.args
    return rollup.monitoring(db.session(), viewer, module=args.get("module") or None,
                             start=parse_day(args.get("from")),
                             end=parse_day(args.get("to"), end=True))


@bp.get("/api/v1/monitoring")
@require("read")
def monitoring_api():
    """Calls, error rate and p50/p95 latency per day, installation and module."""
    return jsonify(_report(Viewer(g.principal.role, g.principal.jurisdiction_code)))


@bp.get("/monitoring")
@role_required("publisher", "adopter", "admin")
def monitoring_page():
    """The monitoring report as a console page."""
    report = _report(Viewer(current_user.role, current_user.jurisdiction_code))
    return render_template("ops/monitoring.html", report=report)
