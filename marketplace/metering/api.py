"""JSON API of metering: reported usage in, usage series out (DESIGN §7)."""
from __future__ import annotations

import re

from flask import Blueprint, Response, g, jsonify, request

from marketplace import db
from marketplace.accounts.auth import require
from marketplace.errors import Invalid, MarketplaceError, NotFound
from marketplace.metering import series, service, step_costs
from marketplace.web.api import answer_format, json_value, only_fields

bp = Blueprint("metering_api", __name__, url_prefix="/api/v1")


@bp.post("/usage")
@require("usage")
def report_usage():
    """Accept up to 1,000 self-reported usage events for the caller's installations."""
    body = json_value(surrogates=True)   # an id with a lone surrogate refuses its event only
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise MarketplaceError("invalid_json",
                               'send {"events": [{"id", "module", "operation", "units", '
                               '"occurred_at"}, …]} with Content-Type: application/json')
    only_fields(body, ("events",), "body")
    result = service.ingest(db.session(), g.principal.jurisdiction_code, body["events"])
    return jsonify(result.to_dict())


@bp.get("/usage/events/<event_id>")
@require("read", "usage", "invoke")
def usage_event(event_id: str):
    """One of the caller's usage events with its sub-call tree (a composite's steps, DESIGN §14).

    Another jurisdiction's event answers 404 exactly like a missing one. Event ids are
    unique per installation: ``?installation=ID`` (one of the caller's) says whose event it
    is; an id held in two or more of the caller's installations without it is a 409
    ``ambiguous_event`` listing them.
    """
    installation = _installation_arg(request.args.getlist("installation"))
    found = step_costs.event_tree(db.session(), g.principal.jurisdiction_code, event_id,
                                  installation)
    if found is None:
        where = "" if installation is None else f" in installation {installation}"
        raise NotFound("unknown_event", f"no usage event {event_id[:100]!r} of "
                       f"{g.principal.jurisdiction_code}{where}")
    return jsonify(found)


_ROW_ID = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
MAX_ROW_ID = 2**63 - 1                                 # every database compares it


def _installation_arg(given: list[str]) -> int | None:
    """``?installation=``: an installation id (a positive whole number), or None if absent;
    given twice or empty, it is refused, never silently ignored."""
    if not given:
        return None
    raw = given[0]
    if len(given) > 1 or not _ROW_ID.fullmatch(raw) or int(raw) > MAX_ROW_ID:
        raise Invalid("invalid_query", "installation must be an installation id, a whole "
                      f"number from 1 to {MAX_ROW_ID}, given once, e.g. ?installation=15")
    return int(raw)


@bp.get("/usage")
@require("read", "usage")
def usage_series():
    """Usage by day or month per module, operation and adopter; ``format=csv`` for a file."""
    args = request.args
    granularity = args.get("granularity", "day")
    viewer = series.Viewer(g.principal.role, g.principal.jurisdiction_code)
    points = series.usage_series(
        db.session(), viewer, module=args.get("module"), operation=args.get("operation"),
        start=series.parse_day(args.get("from")), end=series.parse_day(args.get("to"), end=True),
        granularity=granularity, adopter=args.get("jurisdiction") or args.get("adopter"))
    if answer_format() == "csv":
        return Response(series.series_csv(points, granularity), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=usage.csv"})
    return jsonify({"granularity": granularity, "series": points})
