"""Gov Module Marketplace: publish, adopt, meter and settle government-service modules."""
from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from flask import Flask

__version__ = "0.1.0"

# (module path, attribute) of every blueprint, registered in this order.
BLUEPRINTS = [
    ("marketplace.metering.api", "bp"),
    ("marketplace.accounts.api", "bp"),
    ("marketplace.accounts.views", "bp"),
    ("marketplace.openapi", "bp"),
    ("marketplace.catalog.api", "bp"),
    ("marketplace.runtime.api", "bp"),
    ("marketplace.runtime.gateway", "bp"),
    ("marketplace.web.consoles.publisher", "bp"),
    ("marketplace.web.consoles.adopter", "bp"),
    ("marketplace.web.consoles.budgets", "bp"),
    ("marketplace.webhooks.api", "bp"),
    ("marketplace.webhooks.views", "bp"),
    ("marketplace.web.consoles.matters", "bp"),
    ("marketplace.web.consoles.admin", "bp"),
    ("marketplace.settlement.api", "bp"),
    ("marketplace.settlement.api_corrections", "bp"),
    ("marketplace.web.consoles.corrections", "bp"),
    ("marketplace.catalog.discovery", "bp"),
    ("marketplace.reports.api", "bp"),
    ("marketplace.reports.views", "bp"),
    ("marketplace.catalog.views", "bp"),
    ("marketplace.governance.api", "bp"),
    ("marketplace.governance.views", "bp"),
]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: config from the environment, or ``test_config`` when testing."""
    app = Flask(__name__, instance_path=os.path.abspath(
        os.environ.get("MARKETPLACE_INSTANCE") or "instance"))
    from marketplace.config import from_environment

    app.config.from_mapping(from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
    from marketplace.confine import protect_platform_files

    protect_platform_files(app.instance_path, str(app.config.get("DATABASE_URL", "")))
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from marketplace.clock import clock

    clock.configure(app.config["NOW"], app.config["TIMEZONE"])

    from marketplace import db, web
    from marketplace.models import Base  # noqa: F401  (whole schema known)

    database = db.Database()
    database.init_app(app)
    web.init_app(app)
    for module_path, attr in BLUEPRINTS:
        blueprint = getattr(import_module(module_path), attr)
        if (blueprint.url_prefix or "").startswith("/api/"):
            web.csrf.exempt(blueprint)  # API calls carry bearer tokens, not cookies
        app.register_blueprint(blueprint)
    from marketplace import ops

    ops.init_app(app)
    from marketplace.webhooks import delivery

    delivery.init_app(app)
    return app
