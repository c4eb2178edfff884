"""Slow publishes never take every request thread (DESIGN §12 fair share).

A served app (gunicorn, one worker of 4 threads): six publishes of a module whose
import takes 3 s arrive at once. At most one check runs per process and at most
one more waits for it; the rest are refused at once with 503 ``publish_busy`` and a
``Retry-After``, storing nothing, so another tenant's request is answered promptly.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from tests.support.slow_bundle import slow_import_bundle

pytestmark = pytest.mark.slow

def test_slow_publishes_leave_threads_for_other_tenants(world, live_server, tmp_path):
    bundles = [slow_import_bundle(tmp_path, "slow-mod", f"2.0.{n}", 3) for n in range(6)]
    server = live_server(1)

    def publish(data: bytes) -> requests.Response:
        return requests.post(server.url + "/api/v1/modules", headers=world.headers("publisher"),
                             files={"bundle": ("slow.zip", data, "application/zip")}, timeout=60)
    with ThreadPoolExecutor(len(bundles)) as pool:
        futures = [pool.submit(publish, data) for data in bundles]
        time.sleep(0.5)                         # the publishes have reached the worker
        started = time.perf_counter()
        me = requests.get(server.url + "/api/v1/me", headers=world.headers("other_adopter"),
                          timeout=30)
        took = time.perf_counter() - started
        answers = [f.result() for f in futures]
    assert me.status_code == 200 and took < 1.5, took
    codes = [a.status_code for a in answers]
    assert set(codes) <= {201, 503} and 201 in codes and 503 in codes, codes
    for busy in (a for a in answers if a.status_code == 503):
        assert busy.json()["error"] == "publish_busy" and "retry" in busy.json()["message"]
        assert int(busy.headers["Retry-After"]) > 0
    from marketplace import db
    from marketplace.catalog.models import Module, ModuleVersion

    with world.app.app_context():
        stored = db.session().scalar(sa.select(sa.func.count()).select_from(ModuleVersion).join(
            Module).where(Module.name == "slow-mod"))
    assert stored == codes.count(201)           # a refused publish stored nothing
