"""Running at scale (DESIGN §16): health, metrics, request logs, backup, monitoring rollups."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Health and metrics routes, the monitoring API and page, one JSON log line per request."""
    from marketplace.ops.api import bp as ops_bp
    from marketplace.ops.health import bp as health_bp
    from marketplace.ops.requestlog import init_request_log

    init_request_log(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(ops_bp)
