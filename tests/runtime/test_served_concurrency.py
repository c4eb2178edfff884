"""Exactly once and fair share under real concurrency: threads against 2 gunicorn workers.

Counts are exact, not bounds: module runs are usage events (every run writes
one), grants are ``ok`` events and the quota counter.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from marketplace import db
from marketplace.runtime.models import Installation
from tests.runtime.conftest import usage_rows
from tests.support.concurrency import hammer, invoke, live_server  # noqa: F401 - fixture

FIXED_NOW = "2026-11-10T10:00:30+08:00"        # the served clock: no minute turns mid-test


def _toy(catalog, adopter) -> int:
    catalog.toy()
    return adopter.install("toy-echo").json["id"]


def test_ten_concurrent_requests_with_one_key_run_the_module_once(app, catalog, shenzhen,
                                                                  live_server):
    installed = _toy(catalog, shenzhen)
    server = live_server(2)
    headers = {**shenzhen.headers, "Idempotency-Key": "transfer-2026-11-0042"}
    answers = hammer(10, invoke(server, headers, "toy-echo", "hang", {"seconds": 1}))
    assert [a.status_code for a in answers] == [200] * 10
    assert len({a.headers["X-Usage-Event"] for a in answers}) == 1
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("ok", 1)]


def test_parallel_calls_get_exactly_the_quota(app, catalog, shenzhen, live_server):
    installed = _toy(catalog, shenzhen)
    with app.app_context():
        db.session().get(Installation, installed).quota_per_minute = 10
        db.session().commit()
    server = live_server(2, MARKETPLACE_NOW=FIXED_NOW)
    answers = hammer(40, invoke(server, shenzhen.headers, "toy-echo", "echo", {"text": "x"}))
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 30 and {a.json()["error"] for a in refused} == {"quota_exceeded"}
    # The 10 grants ran the module: answered 200 (or 502 had the module failed: still counted).
    statuses = [e.status for e in usage_rows(app, installed)]
    assert statuses.count("rejected") == 30 and len(statuses) == 40
    assert [a.status_code == 200 for a in answers].count(True) == statuses.count("ok")


def test_one_tenants_slow_calls_never_starve_another_tenant(app, catalog, shenzhen, hangzhou,
                                                            live_server):
    slow = _toy(catalog, shenzhen)
    assert hangzhou.install("toy-echo").status_code == 201
    server = live_server(2)
    flood = invoke(server, shenzhen.headers, "toy-echo", "hang", {"seconds": 4})
    with ThreadPoolExecutor(12) as pool, requests.Session() as other:
        flooding = [pool.submit(flood, requests, n) for n in range(12)]
        time.sleep(1.0)                          # Shenzhen's slow calls hold their threads
        started = time.monotonic()
        served = other.post(f"{server.url}/api/v1/invoke/toy-echo/echo", json={"text": "hi"},
                            headers=hangzhou.headers, timeout=30)
        waited = time.monotonic() - started
        answers = [f.result() for f in flooding]
    assert served.status_code == 200 and served.json()["tenant"] == "330100"
    assert waited < 1.5, f"another tenant waited {waited:.1f} s behind Shenzhen's slow calls"
    refused = [a for a in answers if a.status_code == 429]
    assert refused and {a.json()["error"] for a in refused} == {"too_many_concurrent_calls"}
    assert all(a.headers["Retry-After"] for a in refused)
    assert len(usage_rows(app, slow)) == len(answers) - len(refused)   # refused: not metered
