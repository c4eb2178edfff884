"""One JSON log line per request (DESIGN §16), ``X-Request-Id`` honoured and echoed, HTTP metrics."""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request

from marketplace.ops import metrics

log = logging.getLogger("marketplace.requests")
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")   # fullmatch: no newline sneaks in
INGEST = "metering_api.report_usage"
SETTLE = "settlement_api.settle"


def request_id() -> str:
    """The caller's ``X-Request-Id`` when well formed, else a new one."""
    given = request.headers.get("X-Request-Id", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _jurisdiction() -> str | None:
    """Whose request it was: the token's jurisdiction, or the logged-in user's."""
    principal = request.environ.get("marketplace.principal")
    if principal is not None:
        return principal.jurisdiction_code
    user = g.get("_login_user")
    return getattr(user, "jurisdiction_code", None)


def _domain_metrics(endpoint: str | None, response: Response, seconds: float) -> None:
    """Counts only the answer tells: ingest outcomes, settlement durations."""
    if endpoint == INGEST and response.status_code == 200:
        body = response.get_json(silent=True) or {}
        metrics.count("ingest_events", "accepted", amount=body.get("accepted", 0))
        metrics.count("ingest_events", "duplicate", amount=body.get("duplicates", 0))
        metrics.count("ingest_events", "rejected", amount=len(body.get("rejected", ())))
    elif endpoint == SETTLE:
        metrics.observe("settlement_seconds", seconds,
                        "ok" if response.status_code < 400 else "refused")


class _Stderr(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment it emits (a stderr redirected later too)."""

    @property
    def stream(self):
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        """Never bound: StreamHandler's own set-up is ignored."""


def init_request_log(app: Flask) -> None:
    """Stamp, measure and log every request of ``app``."""
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = True        # the root logger's handlers (pytest's caplog) see it too
    logging_on = app.config.get("REQUEST_LOG", True)

    @app.before_request
    def _stamp() -> None:
        """Start the clock and fix the request id."""
        environ = request.environ
        environ["marketplace.started"] = time.perf_counter()
        environ["marketplace.request_id"] = request_id()

    @app.after_request
    def _record(response: Response) -> Response:
        """Echo the id, count the request, write its log line."""
        environ = request.environ
        started = environ.get("marketplace.started")
        rid = environ.get("marketplace.request_id") or request_id()
        response.headers["X-Request-Id"] = rid
        seconds = time.perf_counter() - started if started is not None else 0.0
        rule = request.url_rule
        route = rule.rule if rule is not None else "(unmatched)"
        try:
            metrics.observe_request(route, request.method, response.status_code, seconds)
            _domain_metrics(request.endpoint, response, seconds)
        except Exception:  # noqa: BLE001 - metrics never cost a request its answer
            logging.getLogger(__name__).warning("metrics failed", exc_info=True)
        if logging_on:
            log.info(json.dumps({
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "request_id": rid,
                "method": request.method, "route": route, "path": request.path[:200],
                "status": response.status_code, "duration": round(seconds, 6),
                "duration_ms": round(seconds * 1000, 2),
                "jurisdiction": _jurisdiction(), "remote": request.remote_addr}))
        return response
