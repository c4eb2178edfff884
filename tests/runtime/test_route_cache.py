"""Cached gateway routes: a change to an installation, made anywhere, is seen on the next call."""
from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from marketplace import create_app, db
from marketplace.runtime.models import Installation, RouteGeneration
from tests.runtime.conftest import usage_rows


def _generation(app) -> int:
    with app.app_context():
        return db.session().scalar(sa.select(RouteGeneration.n).where(RouteGeneration.id == 1))


def _call(client, adopter, operation="echo"):
    return client.post(f"/api/v1/invoke/toy-echo/{operation}", json={"text": "x"},
                       headers=adopter.headers)


def test_calls_reuse_the_route_and_leave_the_generation_alone(app, catalog, shenzhen):
    catalog.toy()
    installed = shenzhen.install("toy-echo").json["id"]
    before = _generation(app)
    for _ in range(3):
        assert _call(shenzhen.client, shenzhen).status_code == 200
    assert _generation(app) == before                # usage and counters are not route changes
    assert len(app.extensions["gateway_routes"]._routes) == 1
    assert len(usage_rows(app, installed)) == 3


def test_uninstall_through_another_worker_ends_calls_at_once(app, catalog, shenzhen):
    catalog.toy()
    installed = shenzhen.install("toy-echo").json["id"]
    other = create_app(dict(app.config))
    try:
        worker_b = other.test_client()
        assert _call(worker_b, shenzhen).status_code == 200          # B caches the route
        assert shenzhen.client.delete(f"/api/v1/installations/{installed}",
                                      headers=shenzhen.headers).status_code == 200
        gone = _call(worker_b, shenzhen)
        assert (gone.status_code, gone.json["error"]) == (404, "not_installed")
        assert shenzhen.install("toy-echo").status_code == 201       # a new agreement
        assert _call(worker_b, shenzhen).json["installation"] != installed
    finally:
        other.extensions["db"].engine.dispose()


def test_quota_and_config_changed_in_the_database_reach_a_cached_route(app, catalog, shenzhen):
    catalog.toy()
    installed = shenzhen.install("toy-echo").json["id"]
    app.config["QUOTA_PER_MINUTE"] = 10 ** 6
    assert _call(shenzhen.client, shenzhen).status_code == 200       # cached now
    with app.app_context():                     # as an operator's script would, through the ORM
        item = db.session().get(Installation, installed)
        item.quota_per_minute, item.config = 1, {"greeting": "您好"}
        db.session().commit()
    refused = _call(shenzhen.client, shenzhen)
    assert (refused.status_code, refused.json["error"]) == (429, "quota_exceeded")


def test_uninstall_from_the_command_line_reaches_a_serving_worker(app, catalog, factory,
                                                                   shenzhen, tmp_path):
    catalog.toy()
    installed = shenzhen.install("toy-echo").json["id"]
    assert _call(shenzhen.client, shenzhen).status_code == 200
    email = factory.user("adopter", "440300")
    done = subprocess.run([sys.executable, "-m", "marketplace", "uninstall", str(installed),
                           "--as", email], capture_output=True, text=True,
                          env={**os.environ, "MARKETPLACE_INSTANCE": str(tmp_path / "cli"),
                               "MARKETPLACE_DATABASE_URL": app.config["DATABASE_URL"],
                               "MARKETPLACE_ARTIFACT_DIR": app.config["ARTIFACT_DIR"]},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    gone = _call(shenzhen.client, shenzhen)
    assert (gone.status_code, gone.json["error"]) == (404, "not_installed")
